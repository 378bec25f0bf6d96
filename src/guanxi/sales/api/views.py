"""Orders, products and refunds over the API; ingest is idempotent by (source, store, external_ref)."""

import hashlib
import hmac
import json

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from guanxi.sales import selectors, services
from guanxi.sales.api import serializers as s
from guanxi.sales.models import Product, ProductCategory


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.OrderSerializer
    filterset_fields = ["customer", "status", "source", "payment_method"]

    def get_queryset(self):
        return selectors.order_list(user=self.request.user)

    @extend_schema(request=s.OrderInputSerializer, responses={201: s.OrderSerializer, 200: s.OrderSerializer})
    def create(self, request):
        payload = s.OrderInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        # order_ingest resolves the buyer and any replay through the caller's visibility before writing.
        result = services.order_ingest(actor=request.user, data=dict(request.data))
        order = self.get_queryset().get(pk=result.order.pk)
        return Response(
            s.OrderSerializer(order).data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )

    @extend_schema(request=s.RefundInputSerializer, responses={201: s.RefundSerializer, 200: s.RefundSerializer})
    @action(detail=True, methods=["post"])
    def refunds(self, request, pk=None):
        order = self.get_object()
        payload = s.RefundInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        refund, created = services.refund_create(actor=request.user, order=order, **payload.validated_data)
        return Response(
            s.RefundSerializer(refund).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class ProductViewSet(viewsets.ModelViewSet):
    """The catalogue is shared by every store: only the roles in ``accounts.permissions`` change it."""

    queryset = Product.objects.select_related("category").order_by("sku")
    serializer_class = s.ProductSerializer
    filterset_fields = ["category__code", "is_active"]


class ProductCategoryViewSet(viewsets.ModelViewSet):
    queryset = ProductCategory.objects.order_by("code")
    serializer_class = s.ProductCategorySerializer


class OrderWebhookView(APIView):
    """POS and web-shop push: the body is signed with the shared secret, ``X-Guanxi-Signature: sha256=<hex>``."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        request=s.OrderInputSerializer,
        responses={
            201: s.OrderSerializer,
            200: s.OrderSerializer,
            503: OpenApiResponse(description="Webhooks are not configured (no GUANXI_WEBHOOK_SECRET)."),
        },
    )
    def post(self, request):
        secret = settings.GUANXI_WEBHOOK_SECRET
        if not secret:
            return Response(
                {"detail": _("Webhooks are not configured: set GUANXI_WEBHOOK_SECRET.")},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Guanxi-Signature", "")):
            return Response(
                {"detail": _("The signature does not match the body.")}, status=status.HTTP_401_UNAUTHORIZED
            )
        try:
            data = json.loads(request.body)
        except ValueError:
            return Response({"detail": _("The body is not JSON.")}, status=status.HTTP_400_BAD_REQUEST)
        if not isinstance(data, dict):
            return Response({"detail": _("The body is not a JSON object.")}, status=status.HTTP_400_BAD_REQUEST)
        data.setdefault("source", "webhook")
        result = services.order_ingest(actor=None, data=data, channel="webhook")
        return Response(
            s.OrderSerializer(result.order).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


def get_order(user, pk):
    return get_object_or_404(selectors.order_list(user=user), pk=pk)
