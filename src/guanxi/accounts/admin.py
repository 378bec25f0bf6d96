import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.accounts.models import ApiToken, Store, User
from guanxi.accounts.services import api_token_create, api_token_lifetime


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "city", "is_active")
    search_fields = ("code", "name", "city")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "first_name", "last_name", "role", "is_active")
    list_filter = ("role", "is_active", "stores")
    filter_horizontal = ("stores", "groups", "user_permissions")
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), (_("Guanxi"), {"fields": ("role", "stores", "phone")}))
    add_fieldsets = (*BaseUserAdmin.add_fieldsets, (_("Guanxi"), {"fields": ("role", "stores")}))


class ApiTokenCreateForm(forms.ModelForm):
    days = forms.IntegerField(
        label=_("valid for (days)"), min_value=1, max_value=3650, initial=api_token_lifetime().days
    )

    class Meta:
        model = ApiToken
        fields = ("user", "name", "read_only")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "user", "read_only", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("read_only",)
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    readonly_fields = ("user", "prefix", "read_only", "created_at", "expires_at", "last_used_at", "revoked_at")
    fields = ("user", "name", "prefix", "read_only", "created_at", "expires_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenCreateForm
            kwargs["fields"] = ("user", "name", "read_only", "days")
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ("user", "name", "read_only", "days") if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = api_token_create(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            read_only=form.cleaned_data["read_only"],
            expires_in=dt.timedelta(days=form.cleaned_data["days"]),
        )
        for field in ApiToken._meta.concrete_fields:  # the admin logs and redirects to the token just made
            setattr(obj, field.attname, getattr(token, field.attname))
        self.message_user(
            request,
            _("The token's key is %(key)s — copy it now: it is not stored and cannot be shown again.") % {"key": key},
            messages.WARNING,
        )

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, _("%(count)d tokens revoked.") % {"count": count})
