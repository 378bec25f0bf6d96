"""Loyalty: membership, tiers, points and stored-value ledgers, coupons, referrals, checkouts.

Ledgers (PointsEntry, WalletEntry) are append-only. The balances cached on PointsAccount and Wallet
are changed only by services holding the row lock (see ``lock_objects.lock_points_account`` and
``lock_objects.lock_wallet``), in the same transaction as the entry, so balance == sum(entries) always.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

ZERO = Decimal("0.00")


class ProgramSettings(models.Model):
    """The program's rules: one row (pk=1), read with ``selectors.program()``."""

    class Expiry(models.TextChoices):
        END_OF_NEXT_YEAR = "end_of_next_year", _("End of the year after earning")
        ROLLING = "rolling", _("A number of days after earning")
        NEVER = "never", _("Never")

    class SpendOrder(models.TextChoices):
        PROPORTIONAL = "proportional", _("Principal and bonus in proportion")
        PRINCIPAL_FIRST = "principal_first", _("Principal first, then bonus")

    points_per_yuan = models.DecimalField(_("points per yuan paid"), max_digits=8, decimal_places=2, default=1)
    category_multipliers = models.JSONField(_("category multipliers"), default=dict, blank=True)
    points_expiry = models.CharField(_("points expiry"), max_length=20, choices=Expiry, default=Expiry.END_OF_NEXT_YEAR)
    points_expiry_days = models.PositiveIntegerField(_("expiry days (rolling)"), default=365)
    points_per_yuan_redeemed = models.PositiveIntegerField(_("points for ¥1 off"), default=100)
    redeem_cap_percent = models.DecimalField(
        _("redemption cap (percent of order)"), max_digits=5, decimal_places=2, default=50
    )
    member_day = models.PositiveSmallIntegerField(_("member day (day of month)"), null=True, blank=True)
    member_day_multiplier = models.DecimalField(_("member day multiplier"), max_digits=5, decimal_places=2, default=2)
    first_purchase_bonus = models.PositiveIntegerField(_("first-purchase bonus points"), default=0)
    restore_coupon_on_refund = models.BooleanField(_("restore coupon on full refund"), default=True)
    wallet_spend_order = models.CharField(
        _("stored-value spend order"), max_length=20, choices=SpendOrder, default=SpendOrder.PROPORTIONAL
    )
    wallet_limit = models.DecimalField(_("named card limit (¥)"), max_digits=12, decimal_places=2, default=5000)
    referral_referrer_points = models.PositiveIntegerField(_("referral: points for the inviter"), default=0)
    referral_referee_points = models.PositiveIntegerField(_("referral: points for the invited"), default=0)
    referral_coupon = models.ForeignKey(
        "loyalty.CouponTemplate",
        verbose_name=_("referral: coupon for both"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    tier_review_months = models.PositiveSmallIntegerField(_("tier review window (months)"), default=12)
    updated_at = models.DateTimeField(auto_now=True)


class Tier(models.Model):
    name = models.CharField(_("name"), max_length=60)
    threshold = models.PositiveIntegerField(_("growth threshold"), default=0)
    points_multiplier = models.DecimalField(_("points multiplier"), max_digits=5, decimal_places=2, default=1)
    discount_percent = models.DecimalField(_("member discount (percent)"), max_digits=5, decimal_places=2, default=0)
    birthday_gift = models.CharField(_("birthday gift"), max_length=200, blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["threshold", "order"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        CLOSED = "closed", _("Closed")

    customer = models.OneToOneField("customers.Customer", on_delete=models.PROTECT, related_name="membership")
    member_no = models.CharField(_("member number"), max_length=20, unique=True)
    joined_at = models.DateTimeField(_("joined"))
    store = models.ForeignKey("accounts.Store", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.ACTIVE)
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="members")
    growth = models.PositiveIntegerField(_("growth value"), default=0)
    invite_code = models.CharField(_("invite code"), max_length=12, unique=True)
    referred_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="referrals")
    referral_rewarded = models.BooleanField(default=False)
    first_order_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.member_no


class TierChange(models.Model):
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="tier_changes")
    from_tier = models.ForeignKey(Tier, null=True, on_delete=models.SET_NULL, related_name="+")
    to_tier = models.ForeignKey(Tier, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=20)  # enrol / upgrade / review
    growth = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)


class PointsAccount(models.Model):
    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="points")
    balance = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(balance__gte=0), name="loyalty_points_not_negative")]


class PointsEntry(models.Model):
    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        REDEEM = "redeem", _("Redeemed")
        ADJUST = "adjust", _("Adjusted")
        EXPIRE = "expire", _("Expired")
        REVERSE = "reverse", _("Reversed")

    account = models.ForeignKey(PointsAccount, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind)
    points = models.IntegerField()  # signed
    remaining = models.IntegerField(default=0)  # unspent part of a credit, consumed oldest first
    reference = models.CharField(max_length=80)
    reason = models.CharField(max_length=200, blank=True)
    order = models.ForeignKey("sales.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    earned_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    balance_after = models.IntegerField()
    actor = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "kind", "reference"], name="loyalty_points_ref_once"),
        ]
        indexes = [models.Index(fields=["account", "expires_at"], name="loyalty_points_lots")]


class Wallet(models.Model):
    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="wallet")
    principal = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    bonus = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(principal__gte=0, bonus__gte=0), name="loyalty_wallet_not_negative"
            ),
        ]

    @property
    def balance(self) -> Decimal:
        return self.principal + self.bonus


class WalletEntry(models.Model):
    class Kind(models.TextChoices):
        TOP_UP = "top_up", _("Top-up")
        SPEND = "spend", _("Spend")
        REFUND = "refund", _("Refund of principal")
        RETURN = "return", _("Returned by an order refund")

    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind)
    principal = models.DecimalField(max_digits=12, decimal_places=2)  # signed
    bonus = models.DecimalField(max_digits=12, decimal_places=2)  # signed
    reference = models.CharField(max_length=80)
    note = models.CharField(max_length=200, blank=True)
    order = models.ForeignKey("sales.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    store = models.ForeignKey("accounts.Store", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    principal_after = models.DecimalField(max_digits=12, decimal_places=2)
    bonus_after = models.DecimalField(max_digits=12, decimal_places=2)
    actor = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["wallet", "kind", "reference"], name="loyalty_wallet_ref_once"),
        ]

    @property
    def amount(self) -> Decimal:
        return self.principal + self.bonus


class TopUpRule(models.Model):
    """充500送50: a top-up of at least ``min_amount`` gets ``bonus``; the largest matching rule applies."""

    min_amount = models.DecimalField(_("top-up from (¥)"), max_digits=12, decimal_places=2)
    bonus = models.DecimalField(_("bonus (¥)"), max_digits=12, decimal_places=2)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["-min_amount"]


class CouponTemplate(models.Model):
    class Kind(models.TextChoices):
        FIXED = "fixed", _("Fixed amount (代金券)")
        THRESHOLD = "threshold", _("Spend and save (满减)")
        PERCENT = "percent", _("Percentage off with a cap (折扣)")
        GIFT = "gift", _("Free gift")

    class Rule(models.TextChoices):
        NONE = "", _("Manual only")
        ENROL = "enrol", _("When a customer joins")
        BIRTHDAY = "birthday", _("On the member's birthday")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind)
    amount = models.DecimalField(_("amount off (¥)"), max_digits=10, decimal_places=2, default=ZERO)
    threshold = models.DecimalField(_("minimum spend (¥)"), max_digits=10, decimal_places=2, default=ZERO)
    percent_off = models.DecimalField(_("percent off"), max_digits=5, decimal_places=2, default=ZERO)
    cap = models.DecimalField(_("maximum off (¥)"), max_digits=10, decimal_places=2, null=True, blank=True)
    gift = models.CharField(_("gift"), max_length=200, blank=True)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    valid_days = models.PositiveIntegerField(_("valid days after issue"), null=True, blank=True)
    per_customer_limit = models.PositiveIntegerField(_("per customer"), default=1)
    budget = models.PositiveIntegerField(_("total budget (coupons)"), null=True, blank=True)
    issued_count = models.PositiveIntegerField(default=0)
    issue_rule = models.CharField(_("issue by rule"), max_length=10, choices=Rule, default=Rule.NONE, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Coupon(models.Model):
    class Status(models.TextChoices):
        ISSUED = "issued", _("Issued")
        REDEEMED = "redeemed", _("Redeemed")
        EXPIRED = "expired", _("Expired")
        VOID = "void", _("Void")

    code = models.CharField(max_length=16, unique=True)
    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="coupons")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="coupons")
    status = models.CharField(max_length=10, choices=Status, default=Status.ISSUED)
    issued_at = models.DateTimeField()
    valid_from = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    redeemed_order = models.ForeignKey(
        "sales.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    discount = models.DecimalField(max_digits=10, decimal_places=2, default=ZERO)
    reference = models.CharField(max_length=80, blank=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "status"], name="loyalty_coupon_cust")]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "customer", "reference"],
                condition=~models.Q(reference=""),
                name="loyalty_coupon_issue_once",
            )
        ]


class OrderAward(models.Model):
    """What an order earned a member; one per order (the idempotency key of earning and of the e-bill)."""

    order = models.OneToOneField("sales.Order", on_delete=models.CASCADE, related_name="loyalty_award")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="awards")
    points = models.IntegerField(default=0)
    growth = models.IntegerField(default=0)
    points_reversed = models.IntegerField(default=0)
    growth_reversed = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)


class Checkout(models.Model):
    """A committed checkout: what was applied to one order, so a refund reverses exactly that."""

    key = models.CharField(max_length=80, unique=True)
    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="checkouts")
    order = models.OneToOneField("sales.Order", on_delete=models.PROTECT, related_name="loyalty_checkout")
    total = models.DecimalField(max_digits=12, decimal_places=2)
    member_discount = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    coupon_discount = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    points_used = models.PositiveIntegerField(default=0)
    points_value = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    wallet_principal = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    wallet_bonus = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    other_paid = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    refunded = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    points_returned = models.PositiveIntegerField(default=0)
    principal_returned = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    bonus_returned = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    coupon_restored = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    @property
    def paid(self) -> Decimal:
        return self.wallet_principal + self.wallet_bonus + self.other_paid
