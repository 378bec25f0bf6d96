import pytest

from guanxi.conftest import api_client_for
from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty import services
from guanxi.loyalty.models import Checkout, Membership
from guanxi.loyalty.tests.factories import CouponTemplateFactory, make_member


@pytest.fixture
def members(store_a, store_b, tiers, program):
    made = []
    for i in range(4):
        m = make_member(store=store_a if i < 3 else store_b)
        services.points_adjust(actor=None, membership=m, points=100 + i, reason="seed")
        services.wallet_top_up(actor=None, membership=m, amount="50.00", reference=f"p{i}")
        made.append(m)
    return made


def test_member_list_is_store_scoped_and_runs_constant_queries(api_a, members, django_assert_num_queries):
    with django_assert_num_queries(2):  # auth token + one page of members joined with tier, store, points, wallet
        response = api_a.get("/api/loyalty/members/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 3
    assert {r["points_balance"] for r in rows} == {100, 101, 102}


def test_points_and_wallet_statements_have_constant_queries(api_admin, members, django_assert_num_queries):
    m = members[0]
    for i in range(5):
        services.points_adjust(actor=None, membership=m, points=1, reason=f"r{i}")
    with django_assert_num_queries(3):
        response = api_admin.get(f"/api/loyalty/members/{m.pk}/points/")
    assert len(response.json()["results"]) == 6
    with django_assert_num_queries(3):
        response = api_admin.get(f"/api/loyalty/members/{m.pk}/wallet/")
    assert response.json()["results"][0]["principal"] == "50.00"


def test_coupon_list_constant_queries(api_admin, members, django_assert_num_queries):
    template = CouponTemplateFactory(name="券", amount="5.00", per_customer_limit=3)
    services.coupon_issue(actor=None, template=template, customer_ids=[m.customer_id for m in members])
    services.coupon_issue(actor=None, template=template, customer_ids=[m.customer_id for m in members])
    with django_assert_num_queries(2):
        response = api_admin.get("/api/loyalty/coupons/")
    assert len(response.json()["results"]) == 8


def test_enrol_top_up_and_redeem_through_the_api(api_a, store_a, tiers, program):
    customer = make_customer(store=store_a)
    response = api_a.post("/api/loyalty/members/", {"customer_id": customer.pk}, format="json")
    assert response.status_code == 201
    pk = response.json()["id"]
    top = api_a.post(f"/api/loyalty/members/{pk}/top-up/", {"amount": "100.00", "reference": "wx-1"}, format="json")
    again = api_a.post(f"/api/loyalty/members/{pk}/top-up/", {"amount": "100.00", "reference": "wx-1"}, format="json")
    assert top.status_code == 201
    assert again.status_code == 200
    bad = api_a.post(f"/api/loyalty/members/{pk}/top-up/", {"amount": "abc", "reference": "wx-2"}, format="json")
    assert bad.status_code == 400
    assert "amount" in bad.json()
    assert (
        api_a.post(f"/api/loyalty/members/{pk}/points-adjust/", {"points": 5, "reason": "x"}, format="json").status_code
        == 403
    )


def test_other_stores_members_are_invisible(api_b, members):
    m = members[0]
    assert api_b.get(f"/api/loyalty/members/{m.pk}/").status_code == 404
    response = api_b.post(
        "/api/loyalty/checkout/price",
        {"customer_id": m.customer_id, "lines": [{"name": "x", "unit_price": "10.00"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "customer_id" in response.json()


def test_checkout_price_commit_refund_over_http(api_a, members, staff_a):
    m = members[0]
    body = {
        "customer_id": m.customer_id,
        "lines": [{"name": "茶", "quantity": 2, "unit_price": "30.00"}],
        "points": "max",
        "wallet_amount": "max",
    }
    price = api_a.post("/api/loyalty/checkout/price", body, format="json")
    assert price.status_code == 200, price.json()
    assert price.json()["points"] == 100
    assert price.json()["wallet_amount"] == "50.00"
    commit = api_a.post("/api/loyalty/checkout/commit", {**body, "key": "web-1", "external_ref": "W-1"}, format="json")
    assert commit.status_code == 201, commit.json()
    assert commit.json()["paid_amount"] == "59.00"
    replay = api_a.post("/api/loyalty/checkout/commit", {**body, "key": "web-1", "external_ref": "W-1"}, format="json")
    assert replay.status_code == 200
    assert replay.json() == commit.json()
    refund = api_a.post("/api/loyalty/checkout/refund", {"key": "web-1", "reference": "RF-W-1"}, format="json")
    assert refund.status_code == 201
    assert refund.json()["points_returned"] == 100
    m.wallet.refresh_from_db()
    assert str(m.wallet.balance) == "50.00"
    assert Checkout.objects.count() == 1


def test_program_and_tiers_are_managed_by_managers_only(api_a, admin_user, tiers, program):
    assert api_a.get("/api/loyalty/tiers/").status_code == 200
    assert api_a.post("/api/loyalty/tiers/", {"name": "钻石", "threshold": 20000}, format="json").status_code == 403
    admin = api_client_for(admin_user)
    assert admin.post("/api/loyalty/tiers/", {"name": "钻石", "threshold": 20000}, format="json").status_code == 201
    assert (
        admin.patch("/api/loyalty/program/", {"points_per_yuan": "2.00"}, format="json").json()["points_per_yuan"]
        == "2.00"
    )
    issue = admin.post(
        "/api/loyalty/coupon-templates/",
        {"name": "满100减20", "kind": "threshold", "amount": "20.00", "threshold": "100.00"},
        format="json",
    )
    assert issue.status_code == 201


def test_openapi_documents_the_checkout(api_admin):
    schema = api_admin.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/loyalty/checkout/commit" in schema.content


def test_status_change(api_admin, members):
    m = members[0]
    r = api_admin.post(f"/api/loyalty/members/{m.pk}/status/", {"status": "suspended", "reason": "x"}, format="json")
    assert r.json()["status"] == "suspended"
    assert Membership.objects.get(pk=m.pk).status == "suspended"
