from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from guanxi.core.forms import Form, ModelForm
from guanxi.loyalty.models import CouponTemplate, ProgramSettings, Tier, TopUpRule
from guanxi.loyalty.services.coupons import COUPON_FIELDS, coupon_template_clean


class TopUpForm(Form):
    amount = forms.DecimalField(label=_("Amount paid (¥)"), max_digits=12, decimal_places=2, min_value=0.01)
    reference = forms.CharField(label=_("Payment reference"), max_length=80)


class RedeemForm(Form):
    points = forms.IntegerField(label=_("Points"), min_value=1)
    reason = forms.CharField(label=_("For (gift or reason)"), max_length=200)
    reference = forms.CharField(label=_("Reference"), max_length=80)


class AdjustForm(Form):
    points = forms.IntegerField(label=_("Points (+/-)"))
    reason = forms.CharField(label=_("Reason"), max_length=200)


class IssueForm(Form):
    template = forms.ModelChoiceField(label=_("Coupon"), queryset=CouponTemplate.objects.filter(active=True))


class ProgramForm(ModelForm):
    class Meta:
        model = ProgramSettings
        fields = [
            "points_per_yuan",
            "points_expiry",
            "points_expiry_days",
            "points_per_yuan_redeemed",
            "redeem_cap_percent",
            "member_day",
            "member_day_multiplier",
            "first_purchase_bonus",
            "restore_coupon_on_refund",
            "wallet_spend_order",
            "wallet_limit",
            "referral_referrer_points",
            "referral_referee_points",
            "referral_coupon",
            "tier_review_months",
        ]


class TierForm(ModelForm):
    class Meta:
        model = Tier
        fields = ["name", "threshold", "points_multiplier", "discount_percent", "birthday_gift", "order"]


class TopUpRuleForm(ModelForm):
    class Meta:
        model = TopUpRule
        fields = ["min_amount", "bonus", "active"]


class CouponTemplateForm(ModelForm):
    """A coupon template as staff edit it; its rules (a kind's amounts, the window) are the service's clean."""

    class Meta:
        model = CouponTemplate
        fields = COUPON_FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:  # the fields' own errors first; the rules speak of values the fields accepted
            return cleaned
        try:
            coupon_template_clean(cleaned)
        except ValidationError as exc:
            for field, msgs in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, msgs)
        return cleaned
