from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from guanxi.accounts.models import User
from guanxi.core.api import fields
from guanxi.core.api.serializers import FieldsOnceModelSerializer, ModelSerializer
from guanxi.customers.contacts import mask_value
from guanxi.customers.models import (
    ContactPoint,
    CustomAttribute,
    Customer,
    ImportantDate,
    Note,
    Tag,
    TimelineEntry,
)
from guanxi.customers.services import PROFILE_FIELDS
from guanxi.customers.timeline import render


class ContactPointSerializer(FieldsOnceModelSerializer):
    value = serializers.SerializerMethodField(method_name="masked_value")  # get_value is DRF's own Field method

    class Meta:
        model = ContactPoint
        fields = ["id", "kind", "value", "label", "is_primary", "verified_at", "created_at"]

    @extend_schema_field(serializers.CharField())
    def masked_value(self, obj: ContactPoint) -> str:
        user = self.context["request"].user
        return obj.value if user.sees_full_contacts else mask_value(obj.kind, obj.value)


class ContactPointInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ContactPoint.Kind.choices)
    value = serializers.CharField(max_length=500)
    # A field named like a Field attribute: DRF's metaclass moves it to _declared_fields; the stubs cannot know.
    label = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")  # type: ignore[assignment]
    is_primary = serializers.BooleanField(required=False, allow_null=True, default=None)


class ImportantDateSerializer(FieldsOnceModelSerializer):
    class Meta:
        model = ImportantDate
        fields = ["id", "kind", "label", "date"]


class CustomerSerializer(FieldsOnceModelSerializer):
    """Output shape; input goes through ``CustomerInputSerializer`` and the services."""

    contact_points = serializers.SerializerMethodField()
    tags: serializers.SlugRelatedField[Tag] = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    id_number = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = [
            "id",
            *[f for f in PROFILE_FIELDS if f != "id_number"],
            "id_number",
            "custom_attributes",
            "contact_points",
            "tags",
            "first_order_at",
            "last_order_at",
            "order_count",
            "total_spent",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(ContactPointSerializer(many=True))
    def get_contact_points(self, obj: Customer):
        contacts = getattr(obj, "primary_contacts", None)
        if contacts is None:
            contacts = obj.contact_points.all()
        # One child serializer for the whole page: DRF rebuilds a serializer's fields on every instance.
        child = self.__dict__.get("_contact_child")
        if child is None:
            child = self.__dict__["_contact_child"] = ContactPointSerializer(context=self.context)
        return [child.to_representation(contact) for contact in contacts]

    @extend_schema_field(serializers.CharField())
    def get_id_number(self, obj: Customer) -> str:
        if not obj.id_number:
            return ""
        user = self.context["request"].user
        return obj.id_number if user.sees_all_stores else obj.id_number[:4] + "**********" + obj.id_number[-4:]


class CustomerDetailSerializer(CustomerSerializer):
    important_dates = ImportantDateSerializer(many=True, read_only=True)

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "important_dates"]


class CustomerInputSerializer(serializers.Serializer):
    """Shape only: the services validate values, so the API and imports refuse the same things."""

    kind = serializers.CharField(required=False)
    name = serializers.CharField(required=False, allow_blank=True)
    gender = serializers.CharField(required=False, allow_blank=True)
    birthday = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    birthday_is_lunar = serializers.BooleanField(required=False)
    occupation = serializers.CharField(required=False, allow_blank=True)
    income_band = serializers.CharField(required=False, allow_blank=True)
    education = serializers.CharField(required=False, allow_blank=True)
    family_size = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    region = serializers.CharField(required=False, allow_blank=True)
    organisation_name = serializers.CharField(required=False, allow_blank=True)
    id_number = serializers.CharField(required=False, allow_blank=True)
    interests = serializers.ListField(child=serializers.CharField(), required=False)
    preferences = serializers.DictField(required=False)
    is_key_account = serializers.BooleanField(required=False)
    owner = fields.IdField(required=False, allow_null=True)
    source = serializers.CharField(required=False, allow_blank=True)  # type: ignore[assignment]  # see ContactPointInputSerializer.label
    home_store = fields.IdField(required=False, allow_null=True)
    custom_attributes = serializers.DictField(required=False)
    contacts = ContactPointInputSerializer(many=True, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    important_dates = serializers.ListField(child=serializers.DictField(), required=False)
    force_new = serializers.BooleanField(
        required=False, default=False, help_text=_("Create even if the phone or e-mail belongs to someone.")
    )


class TagSerializer(ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "color"]


class TagAssignSerializer(serializers.Serializer):
    tag = serializers.CharField(max_length=50)


class NoteSerializer(ModelSerializer):
    author: serializers.StringRelatedField[User] = serializers.StringRelatedField()

    class Meta:
        model = Note
        fields = ["id", "body", "author", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class TimelineEntrySerializer(FieldsOnceModelSerializer):
    text = serializers.SerializerMethodField()
    actor: serializers.StringRelatedField[User] = serializers.StringRelatedField()

    class Meta:
        model = TimelineEntry
        fields = ["id", "kind", "occurred_at", "text", "data", "actor", "ref_type", "ref_id"]

    def get_text(self, obj: TimelineEntry) -> str:
        return render(obj.kind, obj.data, obj.summary)


class CustomAttributeSerializer(ModelSerializer):
    class Meta:
        model = CustomAttribute
        fields = ["id", "key", "label", "type", "choices", "required", "min_value", "max_value", "max_length"]


class MergeSerializer(serializers.Serializer):
    merged = fields.IdField(help_text=_("The customer folded into this one."))
