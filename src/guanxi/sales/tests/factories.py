import factory

from guanxi.sales.models import Product, ProductCategory
from guanxi.sales.services import order_ingest


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductCategory
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"cat-{n}")
    name = factory.Sequence(lambda n: f"类目{n}")
    warranty_months = 12


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("sku",)

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"商品{n}")
    category = factory.SubFactory(CategoryFactory)
    price = "99.00"


_ref = iter(range(1, 10_000_000))


def make_order(*, customer, store=None, lines=None, ref=None, **extra):
    data = {
        "external_ref": ref or f"T-{next(_ref):07d}",
        "customer_id": customer.pk,
        "store": store.code if store else None,
        "payment_method": "wechat_pay",
        "lines": lines or [{"name": "测试商品", "quantity": 1, "unit_price": "100.00"}],
        **extra,
    }
    return order_ingest(actor=None, data=data).order
