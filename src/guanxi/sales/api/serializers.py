from rest_framework import serializers

from guanxi.sales.models import Order, OrderLine, Product, ProductCategory, Refund


class ProductCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = ProductCategory
        fields = ["id", "code", "name", "parent", "warranty_months", "service_interval_days"]


class ProductSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(
        slug_field="code", queryset=ProductCategory.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = Product
        fields = ["id", "sku", "name", "category", "price", "warranty_months", "service_interval_days", "is_active"]


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["id", "sku", "name", "quantity", "unit_price", "amount", "refunded_quantity"]


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)
    store = serializers.SlugRelatedField(slug_field="code", read_only=True)

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
    quantity = serializers.IntegerField(required=False, default=1)
    unit_price = serializers.CharField(required=False, allow_blank=True)


class OrderCustomerInputSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    phone = serializers.CharField(required=False, allow_blank=True)
    email = serializers.CharField(required=False, allow_blank=True)


class OrderInputSerializer(serializers.Serializer):
    """Shape of an incoming order; values are checked by ``order_clean`` for every channel alike."""

    external_ref = serializers.CharField(max_length=64)
    source = serializers.CharField(max_length=32, required=False, default="api")
    ordered_at = serializers.CharField(required=False)
    customer_id = serializers.IntegerField(required=False)
    customer = OrderCustomerInputSerializer(required=False)
    store = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    payment_method = serializers.CharField(required=False)
    discount_amount = serializers.CharField(required=False)
    paid_amount = serializers.CharField(required=False)
    lines = OrderLineInputSerializer(many=True)


class RefundLineInputSerializer(serializers.Serializer):
    order_line = serializers.IntegerField()
    quantity = serializers.IntegerField()


class RefundInputSerializer(serializers.Serializer):
    external_ref = serializers.CharField(max_length=64)
    amount = serializers.CharField(required=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    lines = RefundLineInputSerializer(many=True, required=False)


class RefundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Refund
        fields = ["id", "order", "external_ref", "amount", "reason", "refunded_at"]
