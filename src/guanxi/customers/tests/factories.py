import factory

from guanxi.customers.models import Customer, Tag
from guanxi.customers.services import ContactInput, customer_create


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"标签{n}")


_phone_seq = iter(range(10_000_000))


def next_phone() -> str:
    return f"+86139{next(_phone_seq) + 10_000_000:08d}"[:14]


def make_customer(
    *, store=None, name="王小明", phone: str | None = "auto", email: str | None = None, actor=None, **data
) -> Customer:
    """A customer through the real service (contacts encrypted and indexed as in production)."""
    contacts = []
    if phone == "auto":
        phone = next_phone()
    if phone:
        contacts.append(ContactInput(kind="phone", value=phone))
    if email:
        contacts.append(ContactInput(kind="email", value=email))
    payload = {"name": name, "home_store": store.pk if store else None, **data}
    return customer_create(actor=actor, data=payload, contacts=contacts, channel="test", force_new=True).customer
