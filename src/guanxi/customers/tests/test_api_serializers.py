"""``FieldsOnceModelSerializer``: the model is read once per class; every serializer still gets its own fields."""

import pytest
from rest_framework import serializers

from guanxi.core.api.serializers import FieldsOnceModelSerializer
from guanxi.customers.models import Tag

pytestmark = pytest.mark.django_db


class PlainTagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "color", "created_at"]


class OnceTagSerializer(FieldsOnceModelSerializer):
    class Meta(PlainTagSerializer.Meta):
        pass


class OnceTagWithLabelSerializer(OnceTagSerializer):
    label = serializers.SerializerMethodField()

    class Meta(OnceTagSerializer.Meta):
        fields = [*OnceTagSerializer.Meta.fields, "label"]

    def get_label(self, tag):
        return f"#{tag.name}"


def test_fields_are_built_from_the_model_once_per_class(monkeypatch):
    calls = []
    original = serializers.ModelSerializer.get_fields

    def counting(self):
        calls.append(type(self).__name__)
        return original(self)

    monkeypatch.setattr(serializers.ModelSerializer, "get_fields", counting)
    for _ in range(3):
        assert list(OnceTagSerializer().fields) == ["id", "name", "color", "created_at"]
        assert "label" in OnceTagWithLabelSerializer().fields  # a subclass has its own fields, not its parent's
    assert calls == ["OnceTagSerializer", "OnceTagWithLabelSerializer"]


def test_each_serializer_gets_its_own_bound_fields_and_the_same_output():
    tags = [Tag.objects.create(name="VIP", color="gold"), Tag.objects.create(name="新客")]
    first, second = OnceTagSerializer(), OnceTagSerializer()
    assert first.fields["name"] is not second.fields["name"]
    assert first.fields["name"].parent is first
    assert second.fields["name"].parent is second
    assert OnceTagSerializer(tags, many=True).data == PlainTagSerializer(tags, many=True).data
    assert [row["label"] for row in OnceTagWithLabelSerializer(tags, many=True).data] == ["#VIP", "#新客"]
