from rest_framework import serializers

from guanxi.core.api import fields
from guanxi.core.api.serializers import ModelSerializer
from guanxi.loyalty.models import (
    Coupon,
    CouponTemplate,
    Membership,
    PointsEntry,
    ProgramSettings,
    Tier,
    TopUpRule,
    WalletEntry,
)
from guanxi.loyalty.services.coupons import COUPON_FIELDS


class TierSerializer(ModelSerializer):
    class Meta:
        model = Tier
        fields = ["id", "name", "threshold", "points_multiplier", "discount_percent", "birthday_gift", "order"]


class MembershipSerializer(ModelSerializer):
    tier = serializers.CharField(source="tier.name", default="", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    store = serializers.CharField(source="store.code", default="", read_only=True)
    points_balance = serializers.IntegerField(source="points.balance", read_only=True)
    wallet_principal = serializers.DecimalField(
        source="wallet.principal", max_digits=12, decimal_places=2, read_only=True
    )
    wallet_bonus = serializers.DecimalField(source="wallet.bonus", max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = Membership
        fields = [
            "id",
            "customer_id",
            "customer_name",
            "member_no",
            "joined_at",
            "store",
            "status",
            "tier",
            "growth",
            "invite_code",
            "referred_by_id",
            "points_balance",
            "wallet_principal",
            "wallet_bonus",
        ]


class EnrolSerializer(serializers.Serializer):
    customer_id = fields.IdField()
    invite_code = serializers.CharField(required=False, allow_blank=True, default="")


class PointsEntrySerializer(ModelSerializer):
    order_ref = serializers.CharField(source="order.external_ref", default="", read_only=True)

    class Meta:
        model = PointsEntry
        fields = [
            "id",
            "kind",
            "points",
            "balance_after",
            "reference",
            "reason",
            "order_ref",
            "earned_at",
            "expires_at",
            "created_at",
        ]


class WalletEntrySerializer(ModelSerializer):
    order_ref = serializers.CharField(source="order.external_ref", default="", read_only=True)
    store = serializers.CharField(source="store.code", default="", read_only=True)

    class Meta:
        model = WalletEntry
        fields = [
            "id",
            "kind",
            "principal",
            "bonus",
            "principal_after",
            "bonus_after",
            "reference",
            "note",
            "order_ref",
            "store",
            "created_at",
        ]


class CouponTemplateSerializer(ModelSerializer):
    class Meta:
        model = CouponTemplate
        fields = ["id", *COUPON_FIELDS, "issued_count"]
        read_only_fields = ["issued_count"]
        extra_kwargs = {"valid_days": {"min_value": 1, "max_value": 36_500}}


class CouponSerializer(ModelSerializer):
    template = serializers.CharField(source="template.name", read_only=True)
    kind = serializers.CharField(source="template.kind", read_only=True)
    order_ref = serializers.CharField(source="redeemed_order.external_ref", default="", read_only=True)

    class Meta:
        model = Coupon
        fields = [
            "id",
            "code",
            "template_id",
            "template",
            "kind",
            "customer_id",
            "status",
            "issued_at",
            "valid_from",
            "expires_at",
            "redeemed_at",
            "order_ref",
            "discount",
        ]


class TopUpRuleSerializer(ModelSerializer):
    class Meta:
        model = TopUpRule
        fields = ["id", "min_amount", "bonus", "active"]


class ProgramSerializer(ModelSerializer):
    class Meta:
        model = ProgramSettings
        exclude = ["id", "updated_at"]


class AmountSerializer(serializers.Serializer):
    amount = fields.MoneyField(max_digits=12, allow_zero=False)
    reference = serializers.CharField(max_length=80)


class RefundSerializer(serializers.Serializer):
    amount = fields.MoneyField(max_digits=12, allow_zero=False, required=False, allow_blank=True, allow_null=True)
    reference = serializers.CharField(max_length=80)


class PointsSerializer(serializers.Serializer):
    points = fields.model_integer_field(PointsEntry, "points")
    reason = serializers.CharField(max_length=200)
    reference = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")


class StatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Membership.Status.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class IssueSerializer(serializers.Serializer):
    customer_ids = serializers.ListField(child=fields.IdField(), max_length=100000)
    reference = serializers.CharField(required=False, allow_blank=True, default="")


class CheckoutLineSerializer(serializers.Serializer):
    sku = serializers.CharField(required=False, allow_blank=True)
    name = serializers.CharField(required=False, allow_blank=True)
    quantity = fields.IntegerField(default=1, min_value=1, max_value=100_000)
    unit_price = fields.MoneyField(required=False)


class CheckoutPriceSerializer(serializers.Serializer):
    customer_id = fields.IdField(required=False)
    member_no = serializers.CharField(required=False)
    store = serializers.CharField(required=False, allow_blank=True)
    lines = CheckoutLineSerializer(many=True)
    coupon_code = serializers.CharField(required=False, allow_blank=True)
    points = serializers.CharField(required=False, allow_blank=True, help_text='A whole number or "max".')
    wallet_amount = serializers.CharField(required=False, allow_blank=True, help_text='"12.50" or "max".')


class CheckoutCommitSerializer(CheckoutPriceSerializer):
    key = serializers.CharField(max_length=80, help_text="Idempotency key: replaying it changes nothing.")
    external_ref = serializers.CharField(max_length=64)
    # The API's field is named "source"; DRF's metaclass lifts declared fields off the class, so it does not
    # replace ``Field.source`` at run time, which the stubs cannot see.
    source = serializers.CharField(required=False, default="checkout")  # type: ignore[assignment]
    payment_method = serializers.CharField(required=False, default="other")
    ordered_at = serializers.CharField(required=False)


class CheckoutRefundSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=80, help_text="The checkout's key.")
    reference = serializers.CharField(max_length=80, help_text="Refund number (idempotency key).")
    amount = fields.MoneyField(
        required=False, allow_blank=True, allow_null=True, allow_zero=False, help_text="Empty: the rest of the order."
    )


class QuoteSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField()
    member_no = serializers.CharField()
    tier = serializers.CharField()
    total = serializers.CharField()
    member_discount = serializers.CharField()
    coupon_code = serializers.CharField()
    coupon_discount = serializers.CharField()
    points = serializers.IntegerField()
    points_value = serializers.CharField()
    points_max = serializers.IntegerField()
    wallet_amount = serializers.CharField()
    other_paid = serializers.CharField()
    discount_amount = serializers.CharField()
    paid_amount = serializers.CharField()
    points_earned = serializers.IntegerField()
