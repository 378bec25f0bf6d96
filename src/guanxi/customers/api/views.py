"""Customer API: thin views over the customer services and selectors."""

from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from guanxi.core.api.filters import IntegerFilter
from guanxi.core.audit import audit_record
from guanxi.customers import selectors, services
from guanxi.customers.api import serializers as s
from guanxi.customers.models import ContactPoint, CustomAttribute, Customer, Tag

EXPORT_FORMATS = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


class CustomerFilter(filters.FilterSet):
    tag = filters.CharFilter(method="filter_tag")
    home_store = IntegerFilter(field_name="home_store_id", min_value=1)
    purchased_within_days = IntegerFilter(method="filter_purchased_within", min_value=0, max_value=36_500)

    class Meta:
        model = Customer
        fields = ["kind", "gender", "is_key_account", "region", "home_store", "tag"]

    def filter_tag(self, queryset, name, value):
        return selectors.customers_tagged(queryset, tag_name=value)

    def filter_purchased_within(self, queryset, name, value):
        from datetime import timedelta

        from django.utils import timezone

        return queryset.filter(last_order_at__gte=timezone.now() - timedelta(days=int(value)))


def _home_store_for(user, data: dict) -> dict:
    """Store staff create customers in one of their stores, so the customer is theirs to see afterwards.

    Without a ``home_store`` a clerk of one store creates in that store; otherwise the store must be named.
    Checked before anything is written (an orphan nobody of the store could open was the old outcome).
    """
    if user.sees_all_stores:
        return data
    mine = sorted(user.stores.values_list("pk", flat=True))
    store = data.get("home_store")
    if store is None and data.get("owner") in (None, user.pk):
        if len(mine) != 1:
            raise ValidationError({"home_store": [_("Choose the store the customer belongs to.")]})
        return {**data, "home_store": mine[0]}
    if store is not None and store not in mine:
        raise ValidationError({"home_store": [_("Choose one of your own stores.")]})
    return data


class CustomerViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    filterset_class = CustomerFilter

    def get_queryset(self):
        if self.action == "list":
            return selectors.customer_search(
                user=self.request.user, query=self.request.query_params.get("q", ""), with_store_and_owner=False
            )
        # The serializers show the home store and owner by id only: no join for them.
        return Customer.objects.visible_to(self.request.user).prefetch_related(
            "contact_points", "tags", "important_dates"
        )

    def get_serializer_class(self):
        return s.CustomerDetailSerializer if self.action == "retrieve" else s.CustomerSerializer

    @extend_schema(parameters=[OpenApiParameter("q", str, description="name, phone, last four digits, e-mail or id")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def retrieve(self, request, *args, **kwargs):
        customer = self.get_object()
        audit_record(
            actor=request.user,
            action="view",
            object_type="customer",
            object_id=customer.pk,
            customer_id=customer.pk,
            channel="api",
        )
        return Response(self.get_serializer(customer).data)

    @extend_schema(
        request=s.CustomerInputSerializer, responses={201: s.CustomerDetailSerializer, 200: s.CustomerDetailSerializer}
    )
    def create(self, request):
        payload = s.CustomerInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        contacts = data.pop("contacts", [])
        tags = data.pop("tags", [])
        dates = data.pop("important_dates", [])
        force_new = data.pop("force_new", False)
        data = _home_store_for(request.user, data)
        result = services.customer_create(
            actor=request.user, data=data, contacts=contacts, tags=tags, important_dates=dates, force_new=force_new
        )
        # Both a new customer and a matched one are visible: the match looks only among the caller's customers.
        customer = self.get_queryset().get(pk=result.customer.pk)
        body: dict[str, Any] = s.CustomerDetailSerializer(customer, context=self.get_serializer_context()).data
        body = {**body, "matched_by": result.matched_by}
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)

    @extend_schema(request=s.CustomerInputSerializer, responses=s.CustomerDetailSerializer)
    def partial_update(self, request, pk=None):
        customer = self.get_object()
        payload = s.CustomerInputSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        data = {k: v for k, v in payload.validated_data.items() if k not in ("contacts", "tags", "force_new")}
        services.customer_update(actor=request.user, customer=customer, data=data)
        return Response(
            s.CustomerDetailSerializer(
                self.get_queryset().get(pk=customer.pk), context=self.get_serializer_context()
            ).data
        )

    def perform_destroy(self, instance):
        from guanxi.customers.services import customer_erase

        customer_erase(actor=self.request.user, customer=instance)

    @extend_schema(
        parameters=[OpenApiParameter("phone", str, required=True)], responses=s.CustomerSerializer(many=True)
    )
    @action(detail=False, methods=["get"], url_path="lookup/phone")
    def lookup_phone(self, request):
        return self._lookup(selectors.customer_by_phone(user=request.user, phone=request.query_params.get("phone", "")))

    @extend_schema(
        parameters=[OpenApiParameter("digits", str, required=True)], responses=s.CustomerSerializer(many=True)
    )
    @action(detail=False, methods=["get"], url_path="lookup/last4")
    def lookup_last4(self, request):
        return self._lookup(
            selectors.customer_by_last4(user=request.user, digits=request.query_params.get("digits", ""))
        )

    @extend_schema(
        parameters=[OpenApiParameter("email", str, required=True)], responses=s.CustomerSerializer(many=True)
    )
    @action(detail=False, methods=["get"], url_path="lookup/email")
    def lookup_email(self, request):
        return self._lookup(selectors.customer_by_email(user=request.user, email=request.query_params.get("email", "")))

    def _lookup(self, queryset):
        rows = list(queryset.order_by("-id")[:50])
        return Response(s.CustomerSerializer(rows, many=True, context=self.get_serializer_context()).data)

    @extend_schema(request=s.ContactPointInputSerializer, responses={201: s.ContactPointSerializer})
    @action(detail=True, methods=["get", "post"], url_path="contacts")
    def contacts(self, request, pk=None):
        customer = self.get_object()
        if request.method == "GET":
            return Response(
                s.ContactPointSerializer(
                    customer.contact_points.all(), many=True, context=self.get_serializer_context()
                ).data
            )
        payload = s.ContactPointInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        contact = services.contact_point_add(actor=request.user, customer=customer, **payload.validated_data)
        return Response(
            s.ContactPointSerializer(contact, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @action(detail=True, methods=["delete"], url_path=r"contacts/(?P<contact_id>\d+)")
    def contact_remove(self, request, pk=None, contact_id=None):
        customer = self.get_object()
        contact = get_object_or_404(ContactPoint, pk=contact_id, customer=customer)
        services.contact_point_remove(actor=request.user, contact=contact)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.TagAssignSerializer, responses={200: s.TagSerializer(many=True)})
    @action(detail=True, methods=["post"], url_path="tags")
    def tag(self, request, pk=None):
        customer = self.get_object()
        payload = s.TagAssignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.customer_tag(actor=request.user, customer_ids=[customer.pk], tag_name=payload.validated_data["tag"])
        return Response(s.TagSerializer(customer.tags.all(), many=True).data)

    @extend_schema(request=s.NoteSerializer, responses={201: s.NoteSerializer})
    @action(detail=True, methods=["get", "post"], url_path="notes")
    def notes(self, request, pk=None):
        customer = self.get_object()
        if request.method == "GET":
            return Response(s.NoteSerializer(customer.notes.select_related("author"), many=True).data)
        note = services.note_add(actor=request.user, customer=customer, body=request.data.get("body", ""))
        return Response(s.NoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.TimelineEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def timeline(self, request, pk=None):
        customer = self.get_object()
        before = request.query_params.get("before")
        entries = selectors.customer_timeline(
            customer=customer, before_id=int(before) if str(before).isdigit() else None
        )
        return Response(s.TimelineEntrySerializer(entries, many=True).data)

    @extend_schema(request=s.MergeSerializer, responses=s.CustomerDetailSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        survivor = self.get_object()
        payload = s.MergeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        merged = get_object_or_404(Customer.objects.visible_to(request.user), pk=payload.validated_data["merged"])
        services.customer_merge(actor=request.user, survivor=survivor, merged=merged)
        return Response(
            s.CustomerDetailSerializer(
                self.get_queryset().get(pk=survivor.pk), context=self.get_serializer_context()
            ).data
        )

    def perform_content_negotiation(self, request, force=False):
        # ``format`` names the export's file type, not a DRF renderer (DRF answered 404 for csv/xlsx);
        # the export's own answers are files, its errors JSON.
        if self.action == "export":
            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["csv", "xlsx"], description="csv (default) or xlsx")],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, EXPORT_FORMATS["xlsx"]): OpenApiTypes.BINARY,
        },
    )
    @action(detail=False, methods=["get"], url_path="export")
    def export(self, request):
        from guanxi.customers.exports import export_response

        fmt = request.query_params.get("format", "csv") or "csv"
        if fmt not in EXPORT_FORMATS:
            raise ValidationError({"format": [_("Choose csv or xlsx.")]})
        queryset = self.filter_queryset(
            selectors.customer_search(user=request.user, query=request.query_params.get("q", ""))
        )
        return export_response(user=request.user, queryset=queryset, fmt=fmt, channel="api")


class TagViewSet(viewsets.ModelViewSet):
    """Tags are shared by every store: only the roles in ``accounts.permissions`` change them."""

    queryset = Tag.objects.order_by("name")
    serializer_class = s.TagSerializer


class CustomAttributeViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = CustomAttribute.objects.all()
    serializer_class = s.CustomAttributeSerializer
