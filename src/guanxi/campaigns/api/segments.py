"""Segment API: thin views over ``campaigns.segments`` (writes) and ``campaigns.selectors`` (reads).

A segment another store's user made answers 404, as one that does not exist; counts and members are always
of the customers the caller may see, whoever built the segment.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from guanxi.accounts.permissions import can, signed_in
from guanxi.campaigns import selectors
from guanxi.campaigns.models import Segment
from guanxi.campaigns.segments import (
    MAX_DESCRIPTION,
    MAX_NAME,
    segment_count,
    segment_create,
    segment_delete,
    segment_freeze,
    segment_tree_clean,
    segment_update,
)
from guanxi.core.api.fields import IdField
from guanxi.core.api.pagination import KeysetPagination
from guanxi.customers.contacts import mask_value
from guanxi.customers.exports import export_response
from guanxi.customers.models import ContactPoint, Customer

_READS = ("list", "retrieve", "count", "count_tree", "members", "export")


class SegmentPermission(permissions.BasePermission):
    """Reading segments: admin, manager, marketer, analyst; building, freezing, deleting: admin, manager, marketer."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if getattr(view, "action", None) in _READS:
            return can(request.user, "campaigns.segments_view")
        return can(request.user, "campaigns.segments")


class SegmentSerializer(serializers.ModelSerializer[Segment]):
    campaign_count = serializers.IntegerField(read_only=True, help_text="campaigns that use the segment")

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "kind",
            "rules",
            "store",
            "created_by",
            "member_count",
            "counted_at",
            "frozen_at",
            "archived",
            "campaign_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RulesField(serializers.JSONField):
    """A rule tree: ``{"all" | "any": [node, …]}``, ``{"not": node}`` or ``{"field", "op", "value", …params}``."""

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Give the rules as an object (a group or a condition).")
        return value


class SegmentInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=MAX_NAME)
    description = serializers.CharField(max_length=MAX_DESCRIPTION, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=Segment.Kind.choices, required=False)
    rules = RulesField()
    store = IdField(required=False, allow_null=True, max_value=2**31 - 1)


class TreeSerializer(serializers.Serializer[Any]):
    rules = RulesField()


class CountSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()


class SampleRowSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    phone = serializers.CharField()
    store = serializers.CharField()


class PreviewSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    rows = SampleRowSerializer(many=True)


class MemberSerializer(serializers.ModelSerializer[Customer]):
    """A segment's customer, contacts masked as the customer API masks them for the caller's role."""

    phone = serializers.SerializerMethodField()
    email = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ["id", "name", "kind", "home_store", "phone", "email", "last_order_at", "order_count"]
        read_only_fields = fields

    def _contact(self, obj: Customer, kind: str) -> str:
        found = next((c for c in getattr(obj, "primary_contacts", []) if c.kind == kind), None)
        if found is None:
            return ""
        return found.value if self.context["request"].user.sees_full_contacts else mask_value(kind, found.value)

    @extend_schema_field(serializers.CharField())
    def get_phone(self, obj: Customer) -> str:
        return self._contact(obj, "phone")

    @extend_schema_field(serializers.CharField())
    def get_email(self, obj: Customer) -> str:
        return self._contact(obj, "email")


class MemberPagination(KeysetPagination):
    ordering = "-id"
    page_size = 50


class SegmentViewSet(viewsets.GenericViewSet[Segment]):
    """Segments you can see: those of your stores and your own (admins: all)."""

    permission_classes = [SegmentPermission]
    serializer_class = SegmentSerializer
    lookup_value_regex = r"\d+"
    queryset = Segment.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self) -> Any:
        return selectors.segments_visible_to(self.request.user).annotate(campaign_count=Count("campaigns"))

    def _out(self, segment: Segment, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=segment.pk)
        return Response(SegmentSerializer(fresh).data, status=code)

    @extend_schema(parameters=[OpenApiParameter("archived", bool, description="list the archived segments instead")])
    def list(self, request: Request) -> Response:
        archived = request.query_params.get("archived") in ("1", "true")
        queryset = self.get_queryset().filter(archived=archived)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(SegmentSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(SegmentSerializer(self.get_object()).data)

    @extend_schema(request=SegmentInputSerializer, responses={201: SegmentSerializer})
    def create(self, request: Request) -> Response:
        payload = SegmentInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        segment = segment_create(actor=signed_in(request.user), data=dict(payload.validated_data))
        return self._out(segment, status.HTTP_201_CREATED)

    @extend_schema(request=SegmentInputSerializer, responses=SegmentSerializer)
    def update(self, request: Request, pk: str | None = None) -> Response:
        segment = self.get_object()
        payload = SegmentInputSerializer(data=request.data, partial=request.method == "PATCH")
        payload.is_valid(raise_exception=True)
        segment_update(actor=signed_in(request.user), segment=segment, data=dict(payload.validated_data))
        return self._out(segment)

    @extend_schema(request=SegmentInputSerializer, responses=SegmentSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self.update(request, pk)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        segment_delete(actor=signed_in(request.user), segment=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=TreeSerializer, responses=PreviewSerializer)
    @action(detail=False, methods=["post"], url_path="count")
    def count_tree(self, request: Request) -> Response:
        """Count an unsaved tree, with the newest 20 matching customers you can see."""
        payload = TreeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        tree = segment_tree_clean(payload.validated_data["rules"], actor=signed_in(request.user))
        preview = selectors.customers_preview(selectors.tree_customers(tree, user=request.user), user=request.user)
        return Response(
            {
                "count": preview.count,
                "rows": [{"id": r.id, "name": r.name, "phone": r.phone, "store": r.store} for r in preview.rows],
            }
        )

    @extend_schema(request=None, responses=CountSerializer)
    @action(detail=True, methods=["get"], url_path="count")
    def count(self, request: Request, pk: str | None = None) -> Response:
        """How many of the segment's customers you can see now (kept as the segment's last count)."""
        return Response({"count": segment_count(actor=signed_in(request.user), segment=self.get_object())})

    @extend_schema(request=None, responses=MemberSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="members", pagination_class=MemberPagination)
    def members(self, request: Request, pk: str | None = None) -> Response:
        customers = selectors.segment_customers(self.get_object(), user=request.user).prefetch_related(
            Prefetch(
                "contact_points",
                queryset=ContactPoint.objects.filter(is_primary=True, kind__in=["phone", "email"]),
                to_attr="primary_contacts",
            )
        )
        page: Any = self.paginate_queryset(customers)  # type: ignore[arg-type]  # a viewset of segments pages customers
        return self.get_paginated_response(MemberSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(request=None, responses={(200, "text/csv"): OpenApiResponse(response=OpenApiTypes.STR)})
    @action(detail=True, methods=["get"], url_path="export")
    def export(self, request: Request, pk: str | None = None) -> Any:
        """The segment's customers you can see as CSV (the customer export's columns), streamed."""
        customers = selectors.segment_customers(self.get_object(), user=request.user)
        return export_response(user=request.user, queryset=customers.order_by("id"), fmt="csv", channel="api")

    @extend_schema(request=None, responses=SegmentSerializer)
    @action(detail=True, methods=["post"], url_path="freeze")
    def freeze(self, request: Request, pk: str | None = None) -> Response:
        """Evaluate the rules now and keep the customers as the segment's snapshot."""
        segment = self.get_object()
        segment_freeze(actor=signed_in(request.user), segment=segment)
        return self._out(segment)
