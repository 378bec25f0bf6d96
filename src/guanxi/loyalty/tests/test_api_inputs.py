"""Loyalty API: absurd points, amounts and validity are refused by field; reused keys answer 409."""

import json

import pytest

from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty.models import Checkout, CouponTemplate, PointsEntry, WalletEntry
from guanxi.sales.models import Order


@pytest.fixture
def member_pk(api_admin, store_a, tiers, program):
    customer = make_customer(store=store_a)
    return api_admin.post("/api/loyalty/members/", {"customer_id": customer.pk}, format="json").json()["id"]


def test_absurd_points_adjustments_are_a_400_naming_points(api_admin, member_pk):
    before = PointsEntry.objects.count()
    url = f"/api/loyalty/members/{member_pk}/points-adjust/"
    for points in (10**12, -(10**12), "１００", 1.5, "1e3"):
        response = api_admin.post(url, {"points": points, "reason": "test"}, format="json")
        assert response.status_code == 400, points
        assert "points" in response.json(), points
    assert PointsEntry.objects.count() == before


def test_a_balance_cannot_grow_past_its_column(api_admin, member_pk):
    url = f"/api/loyalty/members/{member_pk}/points-adjust/"
    assert api_admin.post(url, {"points": 2_000_000_000, "reason": "a"}, format="json").status_code == 201
    response = api_admin.post(url, {"points": 2_000_000_000, "reason": "b"}, format="json")
    assert response.status_code == 400
    assert "points" in response.json()


def test_top_up_amounts_must_be_decimal_strings_the_wallet_holds(api_admin, member_pk):
    url = f"/api/loyalty/members/{member_pk}/top-up/"
    for amount in (12.5, "1e2", "１２.５０", "NaN", "99999999999.00", "-5.00"):
        response = api_admin.post(url, {"amount": amount, "reference": "wx-1"}, format="json")
        assert response.status_code == 400, amount
        assert "amount" in response.json(), amount
    assert not WalletEntry.objects.exists()


def test_a_top_up_reference_reused_for_another_amount_is_a_409(api_admin, member_pk):
    url = f"/api/loyalty/members/{member_pk}/top-up/"
    assert api_admin.post(url, {"amount": "100.00", "reference": "wx-1"}, format="json").status_code == 201
    assert api_admin.post(url, {"amount": "100.00", "reference": "wx-1"}, format="json").status_code == 200
    reused = api_admin.post(url, {"amount": "200.00", "reference": "wx-1"}, format="json")
    assert reused.status_code == 409
    assert "reference" in reused.json()
    assert WalletEntry.objects.count() == 1


def test_a_checkout_key_reused_with_other_lines_is_a_409(api_admin, member_pk):
    from guanxi.loyalty.models import Membership

    customer_id = Membership.objects.get(pk=member_pk).customer_id
    body = {
        "key": "pos-1",
        "external_ref": "POS-1",
        "customer_id": customer_id,
        "lines": [{"name": "外套", "quantity": 1, "unit_price": "300.00"}],
    }
    first = api_admin.post("/api/loyalty/checkout/commit", body, format="json")
    replay = api_admin.post("/api/loyalty/checkout/commit", body, format="json")
    assert first.status_code == 201
    assert replay.status_code == 200
    assert replay.json() == first.json()
    other = {**body, "lines": [{"name": "外套", "quantity": 2, "unit_price": "300.00"}]}
    reused = api_admin.post("/api/loyalty/checkout/commit", other, format="json")
    assert reused.status_code == 409
    assert "key" in reused.json()
    assert Checkout.objects.count() == 1
    assert Order.objects.count() == 1


def test_coupon_templates_refuse_values_past_their_columns(api_admin):
    body = {"name": "满100减20", "kind": "threshold", "amount": "20.00", "threshold": "100.00"}
    for field, value in (("valid_days", "1000000000"), ("per_customer_limit", str(2**40)), ("amount", "1e400")):
        raw = json.dumps(body)[:-1] + f', "{field}": {value}}}'  # the number as sent, not as a Python float
        response = api_admin.post("/api/loyalty/coupon-templates/", raw, content_type="application/json")
        assert response.status_code == 400, field
        assert field in response.json(), field
    assert not CouponTemplate.objects.exists()


def test_an_oversized_customer_id_filter_is_a_400(api_admin):
    response = api_admin.get("/api/loyalty/coupons/?customer_id=99999999999999999999999")
    assert response.status_code == 400
    assert "customer_id" in response.json()
