from rest_framework import serializers

from guanxi.accounts.models import Store
from guanxi.core.api import fields
from guanxi.core.api.serializers import ModelSerializer
from guanxi.sales.models import Order, OrderLine, Product, ProductCategory, Refund


class ProductCategorySerializer(ModelSerializer):
    class Meta:
        model = ProductCategory
        fields = ["id", "code", "name", "parent", "warranty_months", "service_interval_days"]


class ProductSerializer(ModelSerializer):
    category = serializers.SlugRelatedField(
        slug_field="code", queryset=ProductCategory.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = Product
        fields = ["id", "sku", "name", "category", "price", "warranty_months", "service_interval_days", "is_active"]


class OrderLineSerializer(ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["id", "sku", "name", "quantity", "unit_price", "amount", "refunded_quantity"]


class OrderSerializer(ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)
    store: serializers.SlugRelatedField[Store] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "source",
            "external_ref",
            "customer",
            "store",
            "status",
            "ordered_at",
            "total_amount",
            "discount_amount",
            "paid_amount",
            "refunded_amount",
            "payment_method",
            "lines",
        ]


class OrderLineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(required=False, allow_blank=True)
    name = serializers.CharField(required=False, allow_blank=True)
    quantity = fields.IntegerField(required=False, default=1, min_value=1, max_value=100_000)
    unit_price = fields.MoneyField(required=False, allow_null=True, allow_blank=True)


class OrderCustomerInputSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    phone = serializers.CharField(required=False, allow_blank=True)
    email = serializers.CharField(required=False, allow_blank=True)


class OrderInputSerializer(serializers.Serializer):
    """Shape of an incoming order; values are checked by ``order_clean`` for every channel alike."""

    external_ref = serializers.CharField(
        max_length=64,
        help_text="The order number, unique per source and store: sending it again answers 200 with the first order.",
    )
    # A field named like a Field attribute: DRF's metaclass moves it to _declared_fields; the stubs cannot know.
    source = serializers.CharField(max_length=32, required=False, default="api")  # type: ignore[assignment]
    ordered_at = serializers.CharField(required=False)
    customer_id = fields.IdField(required=False)
    customer = OrderCustomerInputSerializer(required=False)
    store = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="The store's code or id; store-bound staff: one of their stores (left out: their only one).",
    )
    payment_method = serializers.CharField(required=False)
    discount_amount = fields.MoneyField(required=False)
    paid_amount = fields.MoneyField(required=False)
    lines = OrderLineInputSerializer(many=True)


class RefundLineInputSerializer(serializers.Serializer):
    order_line = fields.IdField()
    quantity = fields.IntegerField(min_value=1, max_value=100_000)


class RefundInputSerializer(serializers.Serializer):
    external_ref = serializers.CharField(max_length=64)
    amount = fields.MoneyField(required=False, allow_zero=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    lines = RefundLineInputSerializer(many=True, required=False)


class RefundSerializer(ModelSerializer):
    class Meta:
        model = Refund
        fields = ["id", "order", "external_ref", "amount", "reason", "refunded_at"]
