"""The same refund number sent at once: one refund, and every replay answers with it (#13 item 20)."""

from decimal import Decimal

import pytest

from guanxi.conftest import api_client_for
from guanxi.core.tests.concurrency import race
from guanxi.customers.tests.factories import make_customer
from guanxi.sales.models import Order, Refund
from guanxi.sales.services import order_ingest

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_parallel_replays_of_one_refund_number_all_answer_with_the_one_refund(store_a, staff_a):
    customer = make_customer(store=store_a, name="王芳")
    order = order_ingest(
        actor=None,
        data={
            "external_ref": "POS-1",
            "customer_id": customer.pk,
            "lines": [{"name": "外套", "quantity": 1, "unit_price": "300.00"}],
        },
    ).order
    n = 12
    clients = [api_client_for(staff_a) for _ in range(n)]

    def post(i):
        clients[i].raise_request_exception = False
        response = clients[i].post(
            f"/api/orders/{order.pk}/refunds/", {"external_ref": "RF-1", "amount": "100.00"}, format="json"
        )
        return response.status_code, response.json()

    answers = race(n, post)  # fails on any crash in a thread
    codes = sorted(code for code, _body in answers)
    assert codes == [200] * (n - 1) + [201], codes
    assert len({body["id"] for _code, body in answers}) == 1
    assert Refund.objects.count() == 1
    order = Order.objects.get(pk=order.pk)
    assert order.refunded_amount == Decimal("100.00")
    customer.refresh_from_db()
    assert customer.total_spent == Decimal("200.00")
