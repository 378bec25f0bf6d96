from django.contrib import admin

from guanxi.messaging.models import Consent, DeliveryReceipt, InboundMessage, Message, MessageTemplate, Suppression


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "channel", "language", "purpose", "is_active"]
    list_filter = ["channel", "language", "purpose", "is_active"]
    search_fields = ["code", "name"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "purpose", "template_code", "to_masked", "status", "reason", "created_at"]
    list_filter = ["status", "channel", "purpose"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer", "template", "resent_from", "created_by"]
    exclude = ["to_address"]
    readonly_fields = ["dedupe_key", "provider_message_id", "attempts"]
    show_full_result_count = False


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ["customer_id", "channel", "purpose", "granted", "source", "at"]
    list_filter = ["channel", "purpose", "granted"]
    raw_id_fields = ["customer", "actor"]

    def has_change_permission(self, request, obj=None):
        return False  # the ledger is append-only

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["channel", "address_masked", "scope", "reason", "created_at"]
    list_filter = ["channel", "scope"]


@admin.register(DeliveryReceipt)
class DeliveryReceiptAdmin(admin.ModelAdmin):
    list_display = ["provider", "provider_message_id", "delivered", "code", "received_at"]
    raw_id_fields = ["message"]


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ["provider", "from_masked", "body", "is_opt_out", "received_at"]
    exclude = ["from_address"]
    raw_id_fields = ["customer"]
