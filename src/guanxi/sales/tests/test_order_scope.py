"""Orders by store staff are checked against what they may see BEFORE anything is written (#13 items 2, 11).

Order numbers are per store: another store's numbers are neither refused nor answered."""

import csv
import hashlib
import hmac
import json

import pytest

from guanxi.accounts.tests.factories import UserFactory
from guanxi.conftest import api_client_for
from guanxi.core.models import Event
from guanxi.customers.imports import import_job_create, import_run
from guanxi.customers.models import Customer, TimelineEntry
from guanxi.customers.tests.factories import make_customer
from guanxi.sales.models import Order
from guanxi.sales.services import order_ingest

pytestmark = pytest.mark.django_db

B_PHONE = "+8613911112222"


@pytest.fixture
def b_customer(store_b):
    return make_customer(store=store_b, name="乙店秘密客户", phone=B_PHONE, email="zeta@example.com")


def _order(**extra):
    return {"external_ref": "A-0001", "lines": [{"name": "外套", "quantity": 1, "unit_price": "100.00"}], **extra}


def _b_state(customer):
    customer.refresh_from_db()
    return (
        customer.order_count,
        customer.total_spent,
        Order.objects.filter(customer=customer).count(),
        Event.objects.filter(customer_id=customer.pk).count(),
        TimelineEntry.objects.filter(customer=customer).count(),
    )


@pytest.mark.parametrize("contact", [{"phone": "13911112222"}, {"email": "ZETA@example.com"}])
def test_an_order_by_another_stores_customers_contact_goes_to_a_customer_of_ones_own_store(
    api_a, store_a, b_customer, contact
):
    before = _b_state(b_customer)
    response = api_a.post("/api/orders/", _order(customer={"name": "顾客", **contact}), format="json")
    assert response.status_code == 201, response.content
    assert _b_state(b_customer) == before  # no order, points event, timeline or figures for store B
    order = Order.objects.get(external_ref="A-0001")
    assert order.customer_id != b_customer.pk
    assert order.customer.home_store_id == store_a.pk
    body = response.content.decode()
    assert "乙店秘密客户" not in body
    assert str(b_customer.pk) != str(response.json()["customer"])


def test_an_order_in_another_store_is_refused_before_anything_is_written(api_a, store_b):
    response = api_a.post("/api/orders/", _order(store=store_b.code, customer={"phone": "13700001111"}), format="json")
    assert response.status_code == 400
    assert "store" in response.json()
    assert not Order.objects.exists()
    assert not Customer.objects.exists()


def _shape(body):
    """A response without what differs between any two new orders (ids, the number itself)."""
    return {
        **{k: v for k, v in body.items() if k not in ("id", "external_ref")},
        "lines": [{k: v for k, v in line.items() if k != "id"} for line in body["lines"]],
    }


def test_two_stores_hold_the_same_order_number_and_store_bs_order_is_untouched(api_a, store_a, store_b, b_customer):
    b_order = order_ingest(actor=None, data=_order(customer_id=b_customer.pk, store=store_b.code)).order
    before = _b_state(b_customer)
    b_row = Order.objects.filter(pk=b_order.pk).values().get()
    mine = make_customer(store=store_a, name="甲店客户")
    response = api_a.post("/api/orders/", _order(customer_id=mine.pk), format="json")
    assert response.status_code == 201, response.content
    assert _b_state(b_customer) == before  # no order, event, timeline or figures for store B
    assert Order.objects.filter(pk=b_order.pk).values().get() == b_row
    assert Order.objects.filter(external_ref="A-0001").count() == 2
    body = response.json()
    assert (body["store"], body["customer"], body["external_ref"]) == ("store-a", mine.pk, "A-0001")
    assert body["id"] != b_order.pk
    text = response.content.decode()
    assert "乙店" not in text
    assert "store-b" not in text


def test_another_stores_order_number_answers_as_a_fresh_number_would(api_a, store_a, store_b, b_customer):
    order_ingest(actor=None, data=_order(customer_id=b_customer.pk, store=store_b.code))
    mine = make_customer(store=store_a, name="甲店客户")
    when = "2026-05-01T14:30:00+08:00"
    taken_in_b = api_a.post("/api/orders/", _order(customer_id=mine.pk, ordered_at=when), format="json")
    fresh = api_a.post(
        "/api/orders/", _order(external_ref="A-FRESH", customer_id=mine.pk, ordered_at=when), format="json"
    )
    assert taken_in_b.status_code == fresh.status_code == 201
    assert _shape(taken_in_b.json()) == _shape(fresh.json())


def test_a_replay_is_answered_within_each_store(api_a, api_b, store_a, store_b):
    mine = make_customer(store=store_a, name="甲店客户")
    theirs = make_customer(store=store_b, name="乙店客户")
    a1 = api_a.post("/api/orders/", _order(customer_id=mine.pk), format="json")
    b1 = api_b.post("/api/orders/", _order(customer_id=theirs.pk), format="json")
    a2 = api_a.post("/api/orders/", _order(customer_id=mine.pk), format="json")
    b2 = api_b.post("/api/orders/", _order(customer_id=theirs.pk), format="json")
    assert [r.status_code for r in (a1, b1, a2, b2)] == [201, 201, 200, 200]
    assert a1.json()["id"] == a2.json()["id"] != b1.json()["id"] == b2.json()["id"]
    assert Order.objects.filter(external_ref="A-0001").count() == 2
    assert Customer.objects.get(pk=mine.pk).order_count == 1
    assert Customer.objects.get(pk=theirs.pk).order_count == 1


def test_the_same_number_with_other_content_in_the_same_store_is_a_conflict(api_a, store_a, store_b, b_customer):
    mine = make_customer(store=store_a, name="甲店客户")
    assert api_a.post("/api/orders/", _order(customer_id=mine.pk), format="json").status_code == 201
    other = _order(customer_id=mine.pk, lines=[{"name": "帽子", "quantity": 2, "unit_price": "30.00"}])
    response = api_a.post("/api/orders/", other, format="json")
    assert response.status_code == 409
    assert set(response.json()) == {"external_ref"}
    assert Order.objects.count() == 1
    # store B's till may still use that number for a sale of its own
    assert order_ingest(actor=None, data={**other, "customer_id": b_customer.pk, "store": store_b.code}).created


def test_an_order_one_may_not_see_in_ones_own_store_says_only_in_use(api_a, store_a, store_b, b_customer):
    order_ingest(actor=None, data=_order(customer_id=b_customer.pk, store=store_a.code))  # head office, at A
    before = _b_state(b_customer)
    mine = make_customer(store=store_a, name="甲店客户")
    response = api_a.post("/api/orders/", _order(customer_id=mine.pk), format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"external_ref"}
    text = response.content.decode()
    assert "乙店" not in text
    assert str(b_customer.pk) not in text
    assert _b_state(b_customer) == before


def test_staff_of_several_stores_name_the_store_of_a_sale(store_a, store_b):
    staff = UserFactory(username="both", stores=[store_a, store_b])
    buyer = make_customer(store=store_a, name="甲店客户")
    client = api_client_for(staff)
    response = client.post("/api/orders/", _order(customer_id=buyer.pk), format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"store"}
    ok = client.post("/api/orders/", _order(customer_id=buyer.pk, store=store_b.code), format="json")
    assert ok.status_code == 201
    assert ok.json()["store"] == "store-b"


def test_pos_webhooks_of_two_stores_keep_their_own_numbers(client, settings, store_a, store_b):
    settings.GUANXI_WEBHOOK_SECRET = "s3cret-webhook-key"

    def push(store):
        body = json.dumps(
            {**_order(store=store.code, customer={"phone": "13700001111"}), "source": "pos", "external_ref": "POS-7"}
        ).encode()
        sig = "sha256=" + hmac.new(b"s3cret-webhook-key", body, hashlib.sha256).hexdigest()
        return client.post("/api/webhooks/orders/", body, content_type="application/json", HTTP_X_GUANXI_SIGNATURE=sig)

    a1, b1, a2 = push(store_a), push(store_b), push(store_a)
    assert [r.status_code for r in (a1, b1, a2)] == [201, 201, 200]
    assert a1.json()["id"] == a2.json()["id"] != b1.json()["id"]
    assert sorted(Order.objects.filter(external_ref="POS-7").values_list("store__code", flat=True)) == [
        "store-a",
        "store-b",
    ]


def _orders_csv(tmp_path, ref, store_code):
    path = tmp_path / f"orders-{store_code}.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [
                ["订单号", "手机", "姓名", "门店", "商品", "数量", "单价", "时间"],
                [ref, "13800005555", "陈", store_code, "衬衫", "1", "459.00", "2026-03-01 10:00"],
            ]
        )
    return str(path)


@pytest.mark.parametrize("dry_run", [True, False])
def test_an_order_import_of_another_stores_number_counts_it_as_new(
    tmp_path, staff_a, store_a, store_b, b_customer, dry_run
):
    b_order = order_ingest(
        actor=None, data={**_order(customer_id=b_customer.pk, store=store_b.code), "source": "import"}
    ).order
    before = _b_state(b_customer)
    job = import_run(
        import_job_create(actor=staff_a, path=_orders_csv(tmp_path, "A-0001", ""), target="orders", dry_run=dry_run)
    )
    assert (job.created_count, job.matched_count, job.rejected_count) == (1, 0, 0)
    assert _b_state(b_customer) == before
    assert Order.objects.filter(pk=b_order.pk, store=store_b, customer=b_customer).exists()
    if not dry_run:
        assert Order.objects.get(external_ref="A-0001", store=store_a).customer.home_store_id == store_a.pk
        again = import_run(
            import_job_create(
                actor=staff_a, path=_orders_csv(tmp_path, "A-0001", "store-a"), target="orders", dry_run=True
            )
        )
        assert (again.created_count, again.matched_count) == (0, 1)


def test_a_replay_of_ones_own_order_answers_with_it(api_a, store_a):
    mine = make_customer(store=store_a, name="甲店客户")
    first = api_a.post("/api/orders/", _order(customer_id=mine.pk), format="json")
    again = api_a.post("/api/orders/", _order(customer_id=mine.pk), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


def test_a_merged_away_customer_id_is_followed_only_to_a_survivor_one_may_see(store_a, store_b, staff_a):
    survivor = make_customer(store=store_b, name="乙店")
    merged = make_customer(store=store_a, name="甲店")
    Customer.objects.filter(pk=merged.pk).update(merged_into=survivor)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        order_ingest(actor=staff_a, data=_order(customer_id=merged.pk))
    assert "customer_id" in exc.value.message_dict
    assert not Order.objects.exists()


def test_the_system_still_matches_any_customer_by_phone(store_b, b_customer):
    result = order_ingest(actor=None, data=_order(customer={"phone": "13911112222"}))
    assert result.order.customer_id == b_customer.pk


def test_an_admin_order_by_phone_finds_the_customer_in_any_store(admin_user, b_customer):
    result = order_ingest(actor=admin_user, data=_order(customer={"phone": "13911112222"}))
    assert result.order.customer_id == b_customer.pk


def test_staff_of_several_stores_name_the_store_for_a_new_buyer(store_a, store_b):
    staff = UserFactory(username="both", stores=[store_a, store_b])
    client = api_client_for(staff)
    response = client.post("/api/orders/", _order(customer={"phone": "13700001111"}), format="json")
    assert response.status_code == 400
    assert "store" in response.json()
    ok = client.post("/api/orders/", _order(store=store_b.code, customer={"phone": "13700001111"}), format="json")
    assert ok.status_code == 201
    assert Customer.objects.get().home_store_id == store_b.pk


def test_the_migration_moves_each_orders_idempotency_key_to_its_stores_scope(store_b, b_customer):
    """Keys claimed before numbers were per store keep answering replays and conflicts after the upgrade."""
    import importlib

    from django.apps import apps

    from guanxi.core.idempotency import IdempotencyConflict
    from guanxi.core.models import IdempotencyKey

    data = _order(customer_id=b_customer.pk, store=store_b.code)
    order = order_ingest(actor=None, data=data).order
    loose = order_ingest(actor=None, data=_order(external_ref="HQ-1", customer_id=b_customer.pk)).order
    IdempotencyKey.objects.filter(scope__startswith="order").update(scope="order")  # as the old code claimed them
    migration = importlib.import_module("guanxi.sales.migrations.0004_order_number_per_store")
    migration.keys_per_store(apps, None)
    scopes = dict(IdempotencyKey.objects.filter(scope__startswith="order").values_list("key", "scope"))
    assert scopes == {"api:A-0001": f"order@{store_b.pk}", "api:HQ-1": "order"}
    assert order_ingest(actor=None, data=data).order == order
    with pytest.raises(IdempotencyConflict):
        order_ingest(actor=None, data={**data, "lines": [{"name": "帽子", "quantity": 1, "unit_price": "5.00"}]})
    assert Order.objects.filter(pk__in=[order.pk, loose.pk]).count() == Order.objects.count() == 2
