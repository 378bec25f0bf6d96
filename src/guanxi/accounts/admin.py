from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from guanxi.accounts.models import Store, User


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "city", "is_active")
    search_fields = ("code", "name", "city")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "first_name", "last_name", "role", "is_active")
    list_filter = ("role", "is_active", "stores")
    filter_horizontal = ("stores", "groups", "user_permissions")
    fieldsets = (*BaseUserAdmin.fieldsets, (_("Guanxi"), {"fields": ("role", "stores", "phone")}))
    add_fieldsets = (*BaseUserAdmin.add_fieldsets, (_("Guanxi"), {"fields": ("role", "stores")}))
