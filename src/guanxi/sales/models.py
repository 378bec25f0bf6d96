"""Products, orders and refunds: the purchase history (购买历史) every other capability reads."""

from decimal import Decimal
from typing import TypedDict

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class MoneyDigits(TypedDict):
    """An amount's precision, spread into DecimalField as ``**MONEY``; typed so the stubs check the keys."""

    max_digits: int
    decimal_places: int


MONEY = MoneyDigits(max_digits=14, decimal_places=2)


class ProductCategory(models.Model):
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    warranty_months = models.PositiveSmallIntegerField(_("warranty (months)"), default=0)
    service_interval_days = models.PositiveSmallIntegerField(_("service interval (days)"), null=True, blank=True)

    class Meta:
        verbose_name = _("product category")
        verbose_name_plural = _("product categories")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    category = models.ForeignKey(
        ProductCategory,
        verbose_name=_("category"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="products",
    )
    price = models.DecimalField(_("price"), **MONEY, default=Decimal("0.00"))
    warranty_months = models.PositiveSmallIntegerField(
        _("warranty (months)"), null=True, blank=True, help_text=_("Empty: the category's warranty applies.")
    )
    service_interval_days = models.PositiveSmallIntegerField(_("service interval (days)"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sku"]
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"

    @property
    def effective_warranty_months(self) -> int:
        if self.warranty_months is not None:
            return self.warranty_months
        return self.category.warranty_months if self.category else 0


class PaymentMethod(models.TextChoices):
    CASH = "cash", _("Cash")
    CARD = "card", _("Bank card")
    WECHAT_PAY = "wechat_pay", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")
    WALLET = "wallet", _("Stored value")
    MIXED = "mixed", _("Mixed")
    OTHER = "other", _("Other")


class Order(models.Model):
    class Status(models.TextChoices):
        PAID = "paid", _("Paid")
        PARTIALLY_REFUNDED = "partially_refunded", _("Partly refunded")
        REFUNDED = "refunded", _("Refunded")

    source = models.CharField(_("source"), max_length=32, default="api")
    external_ref = models.CharField(_("order number"), max_length=64)
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="orders"
    )
    store = models.ForeignKey(
        "accounts.Store",
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PAID)
    ordered_at = models.DateTimeField(_("time"))
    total_amount = models.DecimalField(_("total"), **MONEY)
    discount_amount = models.DecimalField(_("discount"), **MONEY, default=Decimal("0.00"))
    paid_amount = models.DecimalField(_("paid"), **MONEY)
    refunded_amount = models.DecimalField(_("refunded"), **MONEY, default=Decimal("0.00"))
    payment_method = models.CharField(_("payment method"), max_length=16, choices=PaymentMethod.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            # Each store's till numbers its own sales: an order number is unique per (source, store), so store
            # A's numbers say nothing about store B's. Orders without a store (head office, the system) share
            # one more namespace; NULLs are distinct in a plain unique index, hence the partial pair.
            models.UniqueConstraint(
                fields=["source", "store", "external_ref"],
                condition=Q(store__isnull=False),
                name="order_unique_external_ref_per_store",
            ),
            models.UniqueConstraint(
                fields=["source", "external_ref"],
                condition=Q(store__isnull=True),
                name="order_unique_external_ref_no_store",
            ),
            models.CheckConstraint(condition=Q(paid_amount__gte=0), name="order_paid_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=models.F("paid_amount")), name="order_refund_within_paid"
            ),
        ]
        indexes = [
            # A customer's orders newest first (scanned backwards), and on PostgreSQL a covering index: the
            # analytics refresh reads every order's purchase facts from it in customer order with an index-only
            # scan, instead of sorting ten million rows or visiting the heap at random.
            models.Index(
                fields=["customer", "ordered_at"],
                include=["paid_amount", "refunded_amount", "status"],
                name="order_customer_facts",
            ),
            models.Index(fields=["store", "-ordered_at"], name="order_store_recent"),
            models.Index(fields=["ordered_at"], name="order_time"),
        ]

    def __str__(self) -> str:
        return self.external_ref


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    name = models.CharField(_("item"), max_length=200)
    category = models.ForeignKey(ProductCategory, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    amount = models.DecimalField(_("amount"), **MONEY)
    refunded_quantity = models.PositiveIntegerField(_("refunded quantity"), default=0)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(refunded_quantity__lte=models.F("quantity")), name="line_refund_within_quantity"
            ),
        ]


class Refund(models.Model):
    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="refunds")
    external_ref = models.CharField(_("refund number"), max_length=64)
    amount = models.DecimalField(_("amount"), **MONEY)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    refunded_at = models.DateTimeField(_("time"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.UniqueConstraint(fields=["order", "external_ref"], name="refund_unique_external_ref"),
            # ¥0 when goods paid wholly by points or a coupon come back: the lines are returned, no money
            models.CheckConstraint(condition=Q(amount__gte=0), name="refund_amount_not_negative"),
        ]


class RefundLine(models.Model):
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="refund_lines")
    quantity = models.PositiveIntegerField(_("quantity"))
