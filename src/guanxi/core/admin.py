from typing import TYPE_CHECKING

from django.contrib import admin
from django.http import HttpRequest

from guanxi.core.models import AuditLog, Event

if TYPE_CHECKING:  # ModelAdmin is generic only in the stubs
    _EventAdmin = admin.ModelAdmin[Event]
    _AuditLogAdmin = admin.ModelAdmin[AuditLog]
else:
    _EventAdmin = _AuditLogAdmin = admin.ModelAdmin


@admin.register(Event)
class EventAdmin(_EventAdmin):
    list_display = ("id", "name", "customer_id", "created_at", "dispatched_at")
    list_filter = ("name",)
    readonly_fields = [f.name for f in Event._meta.fields]


@admin.register(AuditLog)
class AuditLogAdmin(_AuditLogAdmin):
    list_display = ("at", "actor", "action", "object_type", "object_id", "customer_id")
    list_filter = ("action", "object_type")
    readonly_fields = [f.name for f in AuditLog._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditLog | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditLog | None = None) -> bool:
        return False
