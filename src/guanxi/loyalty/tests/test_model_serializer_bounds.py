"""Model serializers take the strict fields' bounds from the columns (core's ModelSerializer on real models)."""

from guanxi.core.api import fields
from guanxi.core.api.serializers import ModelSerializer
from guanxi.core.money import max_amount
from guanxi.loyalty.models import CouponTemplate
from guanxi.sales.models import Product


def test_model_serializers_take_their_bounds_from_the_columns():
    class ProductIn(ModelSerializer):
        class Meta:
            model = Product
            fields = ["price", "warranty_months"]

    class TemplateIn(ModelSerializer):
        class Meta:
            model = CouponTemplate
            fields = ["per_customer_limit", "amount"]

    price = ProductIn().fields["price"]
    assert isinstance(price, fields.MoneyField)
    assert price.max_value == max_amount(14, 2)
    assert price.min_value == 0
    limit = TemplateIn().fields["per_customer_limit"]
    assert (limit.min_value, limit.max_value) == (0, 2147483647)  # a PositiveIntegerField, on every backend
    assert TemplateIn().fields["amount"].max_value == max_amount(10, 2)
    assert not ProductIn(data={"price": "-1.00", "warranty_months": 1}).is_valid()
    assert not TemplateIn(data={"per_customer_limit": 2**31, "amount": "1.00"}).is_valid()
