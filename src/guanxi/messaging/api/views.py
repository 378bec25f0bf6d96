"""Messaging API: templates, the message log, consent, enqueue, and the provider webhooks."""

from __future__ import annotations

import hmac
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from guanxi.accounts.permissions import require
from guanxi.core.api import fields
from guanxi.core.api.params import query_params
from guanxi.core.idempotency import idempotency_claim
from guanxi.customers.models import Customer
from guanxi.messaging import selectors, services, webhooks
from guanxi.messaging.api.serializers import (
    ConsentSerializer,
    EnqueueSerializer,
    MessageSerializer,
    TemplateSerializer,
)
from guanxi.messaging.models import Consent, MessageTemplate


class TemplateViewSet(viewsets.ModelViewSet):
    serializer_class = TemplateSerializer
    queryset = MessageTemplate.objects.all()
    filterset_fields = ["code", "channel", "language", "purpose"]

    def perform_create(self, serializer):
        serializer.instance = services.template_save(
            actor=self.request.user, template=MessageTemplate(**serializer.validated_data)
        )

    def perform_update(self, serializer):
        template = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(template, name, value)
        serializer.instance = services.template_save(actor=self.request.user, template=template)


class MessageViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = MessageSerializer

    def get_queryset(self):
        params = self.request.query_params
        checked = query_params(
            self.request, date_from=serializers.DateField(), date_to=serializers.DateField(), customer=fields.IdField()
        )
        return selectors.message_list(
            user=self.request.user,
            status=params.get("status", ""),
            channel=params.get("channel", ""),
            template_code=params.get("template", ""),
            date_from=checked["date_from"],
            date_to=checked["date_to"],
            customer_id=checked["customer"],
        )

    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        require(request.user, "messaging.manage")
        copy = services.message_resend(actor=request.user, message=self.get_object())
        return Response(MessageSerializer(copy).data, status=status.HTTP_201_CREATED)


class ConsentViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = ConsentSerializer

    def get_queryset(self):
        qs = Consent.objects.filter(customer_id__in=Customer.objects.visible_to(self.request.user).values("id"))
        customer = query_params(self.request, customer=fields.IdField())["customer"]
        if customer is not None:
            qs = qs.filter(customer_id=customer)
        return qs

    def perform_create(self, serializer):
        data = serializer.validated_data
        customer = data["customer"]
        if not Customer.objects.visible_to(self.request.user).filter(pk=customer.pk).exists():
            raise ValidationError({"customer": [_("No such customer.")]})
        serializer.instance = services.consent_record(
            actor=self.request.user,
            customer=customer,
            channel=data["channel"],
            purpose=data["purpose"],
            granted=data["granted"],
            source=data["source"],
            evidence=data.get("evidence", ""),
        )


class EnqueueView(APIView):
    @extend_schema(
        request=EnqueueSerializer,
        responses={
            202: inline_serializer(
                "EnqueueResult",
                {
                    "batch_ref": serializers.CharField(),
                    "queued": serializers.IntegerField(),
                    "deferred": serializers.IntegerField(),
                    "duplicates": serializers.IntegerField(),
                    "suppressed": serializers.DictField(child=serializers.IntegerField()),
                },
            )
        },
    )
    def post(self, request):
        require(request.user, "messaging.manage")
        serializer = EnqueueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        ids = set(data["customer_ids"])
        visible = set(Customer.objects.visible_to(request.user).filter(id__in=ids).values_list("id", flat=True))
        if ids - visible:
            raise ValidationError(
                {"customer_ids": [_("Unknown customers: %(ids)s.") % {"ids": sorted(ids - visible)[:20]}]}
            )
        if data["dedupe_key"]:
            # A batch key reused for another message or other recipients is refused, not silently skipped.
            idempotency_claim(
                scope="message-batch",
                key=data["dedupe_key"],
                params={
                    "channel": data["channel"],
                    "purpose": data["purpose"],
                    "template_code": data["template_code"],
                    "customer_ids": sorted(ids),
                    "context": data["context"],
                },
                field="dedupe_key",
            )
        result = services.message_enqueue(
            channel=data["channel"],
            purpose=data["purpose"],
            template_code=data["template_code"],
            customer_ids=data["customer_ids"],
            context=data["context"],
            dedupe_prefix=data["dedupe_key"],
            actor=request.user,
        )
        return Response(
            {
                "batch_ref": result.batch_ref,
                "queued": result.queued,
                "deferred": result.deferred,
                "duplicates": result.duplicates,
                "suppressed": dict(result.suppressed),
            },
            status=status.HTTP_202_ACCEPTED,
        )


class _Webhook(APIView):
    """Provider callbacks: no user. Alibaba Cloud and Tencent Cloud do not sign their SMS pushes, so each
    endpoint has its own secret that the callback URL carries (``?token=…``, or the
    ``X-Guanxi-Webhook-Token`` header), compared in constant time; an endpoint without a secret refuses
    every request. WeChat signs its pushes (``WechatEventView``)."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    provider = ""
    endpoint = ""  # key in settings.GUANXI_MESSAGING_WEBHOOK_TOKENS
    ok: dict = {}

    def refusal(self, request) -> Response | None:
        expected = (settings.GUANXI_MESSAGING_WEBHOOK_TOKENS or {}).get(self.endpoint, "")
        if not expected:
            return Response({"result": 1, "errmsg": "webhook not configured"}, status=status.HTTP_403_FORBIDDEN)
        given = request.headers.get("X-Guanxi-Webhook-Token") or request.query_params.get("token", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return Response({"result": 1, "errmsg": "forbidden"}, status=status.HTTP_403_FORBIDDEN)
        return None

    def handle(self, payload: Any) -> None:
        """What the endpoint does with the provider's (authenticated) payload; each endpoint says."""
        raise NotImplementedError

    def post(self, request):
        refused = self.refusal(request)
        if refused is not None:
            return refused
        try:
            self.handle(request.data)
        except ValueError as exc:
            return Response({"result": 1, "errmsg": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(self.ok)


def _record_receipts(provider: str, body: bytes) -> HttpResponse | Response:
    """Delivery reports, parsed by the provider's documented format; answered as the provider expects."""
    from guanxi.messaging.providers import ReceiptFormatError, receipt_parser

    parser = receipt_parser(provider)
    try:
        parsed = parser.parse(body)
    except ReceiptFormatError as exc:
        return Response({"result": 1, "errmsg": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    services.receipts_record(provider=provider, receipts=parsed)
    return HttpResponse(parser.reply_body, content_type=parser.reply_content_type)


class _ReceiptWebhook(_Webhook):
    def post(self, request):
        refused = self.refusal(request)
        if refused is not None:
            return refused
        return _record_receipts(self.provider, request.body)


class AliyunReceiptView(_ReceiptWebhook):
    provider = "aliyun"
    endpoint = "aliyun_receipts"


class TencentReceiptView(_ReceiptWebhook):
    provider = "tencent"
    endpoint = "tencent_receipts"


class AliyunInboundView(_Webhook):
    provider = "aliyun"
    endpoint = "aliyun_inbound"
    ok = {"code": 0, "msg": "接收成功"}

    def handle(self, payload):
        for phone, text, raw in webhooks.aliyun_replies(payload):
            services.inbound_record(provider=self.provider, from_phone=phone, text=text, raw=raw)


class TencentInboundView(_Webhook):
    provider = "tencent"
    endpoint = "tencent_inbound"
    ok = {"result": 0, "errmsg": "OK"}

    def handle(self, payload):
        for phone, text, raw in webhooks.tencent_replies(payload):
            services.inbound_record(provider=self.provider, from_phone=phone, text=text, raw=raw)


class WechatEventView(APIView):
    """The Official Account's server URL: WeChat signs every request with the Token configured on both
    sides (``signature`` = SHA-1 of the sorted token, ``timestamp`` and ``nonce``). GET answers the URL
    check with ``echostr``; POST takes the TEMPLATESENDJOBFINISH delivery events (plaintext mode).
    Refused: no Token configured, a wrong signature, or a timestamp outside the replay window."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    def refusal(self, request) -> HttpResponse | None:
        from guanxi.messaging.providers.wechat import callback_signature_valid

        token = (settings.GUANXI_MESSAGING_WEBHOOK_TOKENS or {}).get("wechat", "")
        if not token:
            return HttpResponse("webhook not configured", status=403, content_type="text/plain")
        params = request.query_params
        timestamp, nonce, signature = params.get("timestamp", ""), params.get("nonce", ""), params.get("signature", "")
        if not (timestamp.isdigit() and nonce and signature) or not callback_signature_valid(
            token=token, timestamp=timestamp, nonce=nonce, signature=signature
        ):
            return HttpResponse("forbidden", status=403, content_type="text/plain")
        if abs(time.time() - int(timestamp)) > settings.GUANXI_WEBHOOK_MAX_AGE_SECONDS:
            return HttpResponse("stale request", status=403, content_type="text/plain")
        return None

    @extend_schema(
        responses={(200, "text/plain"): OpenApiTypes.STR, (403, "text/plain"): OpenApiTypes.STR},
        description="WeChat's URL check: answers ``echostr`` as plain text when the signature holds.",
    )
    def get(self, request):
        refused = self.refusal(request)
        if refused is not None:
            return refused
        return HttpResponse(request.query_params.get("echostr", ""), content_type="text/plain")

    @extend_schema(
        request=None,
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (400, "application/json"): OpenApiTypes.OBJECT,
            (403, "text/plain"): OpenApiTypes.STR,
        },
        description="WeChat's delivery events (TEMPLATESENDJOBFINISH), signed; refused as plain text.",
    )
    def post(self, request):
        refused = self.refusal(request)
        if refused is not None:
            return refused
        return _record_receipts("wechat", request.body)
