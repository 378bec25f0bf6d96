from rest_framework import serializers

from guanxi.core.api import fields
from guanxi.core.api.serializers import ModelSerializer
from guanxi.messaging.models import Channel, Consent, Message, MessageTemplate, Purpose


class TemplateSerializer(ModelSerializer):
    class Meta:
        model = MessageTemplate
        fields = [
            "id",
            "code",
            "name",
            "purpose",
            "channel",
            "language",
            "subject",
            "body",
            "provider_template_code",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class MessageSerializer(ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True, default="")
    template_name = serializers.CharField(source="template.name", read_only=True, default="")

    class Meta:
        model = Message
        fields = [
            "id",
            "customer",
            "customer_name",
            "channel",
            "purpose",
            "template_code",
            "template_name",
            "to_masked",
            "subject",
            "body",
            "segments",
            "status",
            "reason",
            "error",
            "provider",
            "provider_message_id",
            "dedupe_key",
            "batch_ref",
            "attempts",
            "next_attempt_at",
            "sent_at",
            "delivered_at",
            "resent_from",
            "created_at",
        ]
        read_only_fields = fields


class ConsentSerializer(ModelSerializer):
    class Meta:
        model = Consent
        fields = ["id", "customer", "channel", "purpose", "granted", "source", "evidence", "actor", "at"]
        read_only_fields = ["id", "actor", "at"]


class EnqueueSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    purpose = serializers.ChoiceField(choices=Purpose.choices, required=False, allow_blank=True, default="")
    template_code = serializers.SlugField(max_length=64)
    customer_ids = serializers.ListField(child=fields.IdField(), min_length=1, max_length=100_000)
    # A field named like a Field attribute: DRF's metaclass moves it to _declared_fields; the stubs cannot know.
    context = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, default=dict)  # type: ignore[assignment]
    dedupe_key = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
