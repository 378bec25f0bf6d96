"""The customer's own personal data reaches the privacy registries: its exporter, and erasure through every eraser."""

import pytest

from guanxi.core import personal_data
from guanxi.customers.services import customer_erase, important_date_add, note_add
from guanxi.customers.tests.factories import make_customer


@pytest.mark.django_db
def test_customer_export_and_erase_go_through_the_registries(store_a):
    customer = make_customer(store=store_a, name="王芳", phone="+8613800001234", birthday="1990-02-03")
    note_add(actor=None, customer=customer, body="喜欢绿茶")
    important_date_add(actor=None, customer=customer, kind="other", date="2015-10-01", label="婚礼")
    data = personal_data.personal_data_export(customer)["customer"]
    assert data["name"] == "王芳"
    assert data["birthday"] == "1990-02-03"
    assert data["contacts"] == [{"kind": "phone", "value": "+8613800001234", "primary": True}]
    assert data["important_dates"][0]["date"] == "2015-10-01"
    assert data["notes"][0]["body"] == "喜欢绿茶"
    erased = []
    personal_data.register_eraser(
        personal_data.PersonalDataEraser("zz", "Z", erase=lambda c: erased.append(c.pk) or {"zz": 2}, order=999)
    )
    try:
        customer_erase(actor=None, customer=customer)
    finally:
        personal_data.ERASERS.unregister("zz")
    assert erased == [customer.pk]
    assert personal_data.personal_data_export(customer)["customer"]["contacts"] == []
