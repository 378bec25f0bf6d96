"""Loyalty API: members and their ledgers, program configuration, coupons, and the two-call checkout."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from guanxi.accounts.permissions import require, signed_in
from guanxi.core.api import fields
from guanxi.core.api.params import query_params
from guanxi.customers.models import Customer
from guanxi.loyalty import selectors, services
from guanxi.loyalty.api import serializers as s
from guanxi.loyalty.models import Checkout, CouponTemplate, ProgramSettings, Tier, TopUpRule


class TierViewSet(viewsets.ModelViewSet):
    serializer_class = s.TierSerializer
    queryset = Tier.objects.all()


class TopUpRuleViewSet(viewsets.ModelViewSet):
    serializer_class = s.TopUpRuleSerializer
    queryset = TopUpRule.objects.all()


class CouponTemplateViewSet(viewsets.ModelViewSet):
    serializer_class = s.CouponTemplateSerializer
    queryset = CouponTemplate.objects.all()

    def perform_create(self, serializer):
        serializer.instance = services.coupon_template_create(
            actor=signed_in(self.request.user), data=serializer.validated_data
        )

    def perform_update(self, serializer):
        services.coupon_template_clean(
            {**s.CouponTemplateSerializer(serializer.instance).data, **serializer.validated_data}
        )
        serializer.save()

    @extend_schema(
        request=s.IssueSerializer,
        responses={
            201: inline_serializer(
                "CouponIssueResult",
                {"issued": serializers.IntegerField(), "codes": serializers.ListField(child=serializers.CharField())},
            )
        },
    )
    @action(detail=True, methods=["post"])
    def issue(self, request, pk=None):
        """Issue one coupon to each listed customer (set-based; all or nothing)."""
        require(request.user, "loyalty.manage")
        data = s.IssueSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        coupons = services.coupon_issue(actor=request.user, template=self.get_object(), **data.validated_data)
        return Response(
            {"issued": len(coupons), "codes": [c.code for c in coupons[:1000]]}, status=status.HTTP_201_CREATED
        )


class CouponViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.CouponSerializer

    def get_queryset(self):
        cid = query_params(self.request, customer_id=fields.IdField())["customer_id"]
        qs = selectors.coupon_list(user=self.request.user, customer_id=cid)
        st = self.request.query_params.get("status")
        return qs.filter(status=st) if st else qs


class ProgramView(APIView):
    reference_model = ProgramSettings

    @extend_schema(responses=s.ProgramSerializer)
    def get(self, request):
        return Response(s.ProgramSerializer(services.program()).data)

    @extend_schema(request=s.ProgramSerializer, responses=s.ProgramSerializer)
    def patch(self, request):
        ser = s.ProgramSerializer(services.program(), data=request.data, partial=True)
        ser.is_valid(raise_exception=True)
        ser.save()
        return Response(ser.data)


class MembershipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.MembershipSerializer
    filterset_fields = ["status", "tier"]

    def get_queryset(self):
        qs = selectors.membership_list(user=self.request.user)
        q = self.request.query_params.get("q")
        return qs.filter(Q(member_no=q) | Q(invite_code=q.upper())) if q else qs

    @extend_schema(request=s.EnrolSerializer, responses={201: s.MembershipSerializer, 200: s.MembershipSerializer})
    def create(self, request):
        data = s.EnrolSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=data.validated_data["customer_id"])
        membership, created = services.member_enrol(
            actor=request.user, customer=customer, invite_code=data.validated_data["invite_code"], channel="api"
        )
        membership = selectors.membership_get(user=request.user, pk=membership.pk)
        return Response(
            s.MembershipSerializer(membership).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(responses=s.PointsEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def points(self, request, pk=None):
        return self._page(selectors.points_entries(membership=self.get_object()), s.PointsEntrySerializer)

    @extend_schema(responses=s.WalletEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def wallet(self, request, pk=None):
        return self._page(selectors.wallet_entries(membership=self.get_object()), s.WalletEntrySerializer)

    def _page(self, qs, serializer):
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(serializer(page, many=True).data)

    @extend_schema(request=s.AmountSerializer, responses={201: s.WalletEntrySerializer, 200: s.WalletEntrySerializer})
    @action(detail=True, methods=["post"], url_path="top-up")
    def top_up(self, request, pk=None):
        data = s.AmountSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = self.get_object()
        entry, created = services.wallet_top_up(
            actor=request.user, membership=membership, channel="api", store=membership.store, **data.validated_data
        )
        return Response(
            s.WalletEntrySerializer(entry).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=s.RefundSerializer, responses={201: s.WalletEntrySerializer, 200: s.WalletEntrySerializer})
    @action(detail=True, methods=["post"], url_path="wallet-refund")
    def wallet_refund(self, request, pk=None):
        require(request.user, "loyalty.manage")
        data = s.RefundSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry, created = services.wallet_refund(
            actor=request.user, membership=self.get_object(), channel="api", **data.validated_data
        )
        return Response(
            s.WalletEntrySerializer(entry).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=s.PointsSerializer, responses={201: s.PointsEntrySerializer})
    @action(detail=True, methods=["post"], url_path="points-adjust")
    def points_adjust(self, request, pk=None):
        require(request.user, "loyalty.manage")
        data = s.PointsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.points_adjust(actor=request.user, membership=self.get_object(), **data.validated_data)
        return Response(s.PointsEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.PointsSerializer, responses={201: s.PointsEntrySerializer, 200: s.PointsEntrySerializer})
    @action(detail=True, methods=["post"], url_path="points-redeem")
    def points_redeem(self, request, pk=None):
        data = s.PointsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not data.validated_data["reference"]:
            raise ValidationError({"reference": ["Every redemption needs a reference."]})
        entry, created = services.points_redeem(actor=request.user, membership=self.get_object(), **data.validated_data)
        return Response(
            s.PointsEntrySerializer(entry).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=s.StatusSerializer, responses=s.MembershipSerializer)
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        require(request.user, "loyalty.manage")
        data = s.StatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_set_status(actor=request.user, membership=self.get_object(), **data.validated_data)
        return Response(s.MembershipSerializer(selectors.membership_get(user=request.user, pk=membership.pk)).data)


class CheckoutPriceView(APIView):
    @extend_schema(request=s.CheckoutPriceSerializer, responses=s.QuoteSerializer)
    def post(self, request):
        """Price an order for a member: member discount, coupon, points as cash (capped), stored value."""
        ser = s.CheckoutPriceSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        return Response(services.checkout_price(actor=request.user, data=dict(request.data)).as_dict())


def _checkout_dict(checkout: Checkout) -> dict:
    order = checkout.order
    return {
        "key": checkout.key,
        "order_id": order.pk,
        "external_ref": order.external_ref,
        "total": str(checkout.total),
        "member_discount": str(checkout.member_discount),
        "coupon_discount": str(checkout.coupon_discount),
        "points_used": checkout.points_used,
        "points_value": str(checkout.points_value),
        "wallet_principal": str(checkout.wallet_principal),
        "wallet_bonus": str(checkout.wallet_bonus),
        "other_paid": str(checkout.other_paid),
        "discount_amount": str(order.discount_amount),
        "paid_amount": str(order.paid_amount),
    }


class CheckoutCommitView(APIView):
    @extend_schema(request=s.CheckoutCommitSerializer, responses={201: dict, 200: dict})
    def post(self, request):
        """Commit a priced order with an idempotency key: the order and every ledger entry in one transaction."""
        ser = s.CheckoutCommitSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        checkout, created = services.checkout_commit(actor=request.user, data=dict(request.data))
        checkout = Checkout.objects.select_related("order").get(pk=checkout.pk)
        return Response(_checkout_dict(checkout), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CheckoutRefundView(APIView):
    @extend_schema(request=s.CheckoutRefundSerializer, responses={201: dict, 200: dict})
    def post(self, request):
        """Refund a committed checkout (in part or in full): returns points used, stored value, maybe the coupon."""
        ser = s.CheckoutRefundSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        visible = Customer.objects.visible_to(request.user).values("pk")
        checkout = get_object_or_404(Checkout, key=ser.validated_data["key"], membership__customer__in=visible)
        result = services.checkout_refund(
            actor=request.user,
            checkout=checkout,
            reference=ser.validated_data["reference"],
            amount=ser.validated_data.get("amount"),
        )
        return Response(result, status=status.HTTP_201_CREATED if result["created"] else status.HTTP_200_OK)
