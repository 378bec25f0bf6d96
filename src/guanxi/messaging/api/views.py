"""Messaging API: templates, the message log, consent, enqueue, and the provider webhooks."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from guanxi.customers.models import Customer
from guanxi.messaging import selectors, services, webhooks
from guanxi.messaging.api.serializers import (
    ConsentSerializer,
    EnqueueSerializer,
    MessageSerializer,
    TemplateSerializer,
)
from guanxi.messaging.models import Consent, MessageTemplate
from guanxi.messaging.views import can_manage


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
        return selectors.message_list(
            user=self.request.user,
            status=params.get("status", ""),
            channel=params.get("channel", ""),
            template_code=params.get("template", ""),
            date_from=parse_date(params.get("date_from", "") or "") if params.get("date_from") else None,
            date_to=parse_date(params.get("date_to", "") or "") if params.get("date_to") else None,
            customer_id=int(params["customer"]) if params.get("customer", "").isdigit() else None,
        )

    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        if not can_manage(request.user):
            raise PermissionDenied
        copy = services.message_resend(actor=request.user, message=self.get_object())
        return Response(MessageSerializer(copy).data, status=status.HTTP_201_CREATED)


class ConsentViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = ConsentSerializer

    def get_queryset(self):
        qs = Consent.objects.filter(customer_id__in=Customer.objects.visible_to(self.request.user).values("id"))
        customer = self.request.query_params.get("customer", "")
        if customer.isdigit():
            qs = qs.filter(customer_id=int(customer))
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
    def post(self, request):
        if not can_manage(request.user):
            raise PermissionDenied
        serializer = EnqueueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        ids = set(data["customer_ids"])
        visible = set(Customer.objects.visible_to(request.user).filter(id__in=ids).values_list("id", flat=True))
        if ids - visible:
            raise ValidationError(
                {"customer_ids": [_("Unknown customers: %(ids)s.") % {"ids": sorted(ids - visible)[:20]}]}
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
    """Provider callbacks: no user, guarded by the shared token when one is configured."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    provider = ""
    ok: dict = {}

    def check_token(self, request) -> bool:
        expected = settings.GUANXI_MESSAGING_WEBHOOK_TOKEN
        return not expected or hmac.compare_digest(request.query_params.get("token", ""), expected)

    def post(self, request):
        if not self.check_token(request):
            return Response({"result": 1, "errmsg": "forbidden"}, status=status.HTTP_403_FORBIDDEN)
        try:
            self.handle(request.data)
        except ValueError as exc:
            return Response({"result": 1, "errmsg": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(self.ok)


class _ReceiptWebhook(_Webhook):
    """Delivery reports, parsed by the provider's documented format; answered as the provider expects."""

    def post(self, request):
        from guanxi.messaging.providers import ReceiptFormatError, receipt_parser

        if not self.check_token(request):
            return Response({"result": 1, "errmsg": "forbidden"}, status=status.HTTP_403_FORBIDDEN)
        parser = receipt_parser(self.provider)
        try:
            parsed = parser.parse(request.body)
        except ReceiptFormatError as exc:
            return Response({"result": 1, "errmsg": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        services.receipts_record(
            provider=self.provider,
            receipts=[
                services.Receipt(
                    provider_message_id=r.provider_message_id,
                    delivered=r.delivered,
                    code=r.error_code,
                    description=r.error_text,
                    message_id=int(r.out_id) if r.out_id.isdigit() else None,
                    to=r.to,
                    raw=dict(r.raw),
                )
                for r in parsed
            ],
        )
        return HttpResponse(parser.reply_body, content_type=parser.reply_content_type)


class AliyunReceiptView(_ReceiptWebhook):
    provider = "aliyun"


class TencentReceiptView(_ReceiptWebhook):
    provider = "tencent"


class AliyunInboundView(_Webhook):
    provider = "aliyun"
    ok = {"code": 0, "msg": "接收成功"}

    def handle(self, payload):
        for phone, text, raw in webhooks.aliyun_replies(payload):
            services.inbound_record(provider=self.provider, from_phone=phone, text=text, raw=raw)


class TencentInboundView(_Webhook):
    provider = "tencent"
    ok = {"result": 0, "errmsg": "OK"}

    def handle(self, payload):
        for phone, text, raw in webhooks.tencent_replies(payload):
            services.inbound_record(provider=self.provider, from_phone=phone, text=text, raw=raw)
