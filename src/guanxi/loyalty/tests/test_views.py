from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from guanxi.customers.tests.factories import make_customer
from guanxi.loyalty import services
from guanxi.loyalty.models import Membership, PointsEntry
from guanxi.loyalty.views import customer_panel_context


def test_panel_context_runs_constant_queries(rf, member, admin_user, django_assert_num_queries):
    for i in range(6):
        services.points_adjust(actor=None, membership=member, points=10, reason=f"r{i}")
        services.wallet_top_up(actor=None, membership=member, amount="10.00", reference=f"t{i}")
    request = rf.get("/")
    request.user = admin_user
    with django_assert_num_queries(6):  # membership, points, wallet, coupons, tiers, program
        context = customer_panel_context(request, member.customer)
    assert len(context["points_entries"]) == 6
    assert len(context["wallet_entries"]) == 6


def test_360_page_shows_the_panel_and_counter_forms_work(client, member, staff_a):
    client.force_login(staff_a)
    page = client.get(reverse("customers:customer", args=[member.customer_id]))
    assert page.status_code == 200
    assert member.member_no.encode() in page.content
    r = client.post(reverse("loyalty:top_up", args=[member.customer_id]), {"amount": "200.00", "reference": "c-1"})
    assert r.status_code == 302
    client.post(reverse("loyalty:top_up", args=[member.customer_id]), {"amount": "200.00", "reference": "c-1"})
    member.wallet.refresh_from_db()
    assert member.wallet.principal == Decimal("200.00")
    services.points_adjust(actor=None, membership=member, points=500, reason="seed")
    client.post(
        reverse("loyalty:redeem", args=[member.customer_id]), {"points": "200", "reason": "保温杯", "reference": "g-1"}
    )
    assert PointsEntry.objects.get(reference="g-1").points == -200
    assert client.get(reverse("loyalty:statement", args=[member.customer_id])).status_code == 200
    # counter staff may not adjust points
    assert (
        client.post(reverse("loyalty:adjust", args=[member.customer_id]), {"points": "5", "reason": "x"}).status_code
        == 403
    )


def test_enrol_from_the_panel_and_other_store_is_hidden(client, store_a, staff_a, staff_b, tiers, program):
    customer = make_customer(store=store_a)
    client.force_login(staff_b)
    assert client.post(reverse("loyalty:enrol", args=[customer.pk])).status_code == 404
    client.force_login(staff_a)
    client.post(reverse("loyalty:enrol", args=[customer.pk]))
    assert Membership.objects.filter(customer=customer).exists()


@pytest.mark.parametrize(("lang", "word"), [("en", "Tiers"), ("zh-hans", "等级")])
def test_program_page_in_both_languages(client, admin_user, tiers, program, lang, word):
    client.force_login(admin_user)
    with translation.override(lang):
        response = client.get(reverse("loyalty:program"), HTTP_ACCEPT_LANGUAGE=lang)
    assert response.status_code == 200
    assert word in response.content.decode()
    assert "金卡" in response.content.decode()


def test_manager_edits_tiers_rules_and_coupons(client, admin_user, tiers, program):
    client.force_login(admin_user)
    r = client.post(
        reverse("loyalty:tier_new"),
        {"name": "钻石", "threshold": "20000", "points_multiplier": "3", "discount_percent": "15", "order": "3"},
    )
    assert r.status_code == 302
    client.post(reverse("loyalty:rule_new"), {"min_amount": "500.00", "bonus": "50.00", "active": "on"})
    assert services.top_up_bonus(Decimal("600.00")) == Decimal("50.00")
    r = client.post(
        reverse("loyalty:coupon_new"),
        {
            "name": "bad",
            "kind": "threshold",
            "amount": "20",
            "threshold": "10",
            "percent_off": "0",
            "per_customer_limit": "1",
        },
    )
    assert r.status_code == 200
    assert "threshold" in r.context["form"].errors


def test_bad_adjust_form_is_reported_and_writes_nothing(client, member, admin_user):
    client.force_login(admin_user)
    before = PointsEntry.objects.count()
    response = client.post(
        reverse("loyalty:adjust", args=[member.customer_id]), {"points": "many", "reason": ""}, follow=True
    )
    assert response.status_code == 200
    # named by the field's label in the page's language, never by its code ("points: …")
    assert any(str(m).startswith("积分（+/-）：") for m in response.context["messages"])
    assert PointsEntry.objects.count() == before


@pytest.mark.django_db
def test_the_coupon_template_form_checks_with_the_services_clean():
    from guanxi.loyalty.forms import CouponTemplateForm
    from guanxi.loyalty.services.coupons import COUPON_FIELDS

    assert list(CouponTemplateForm.base_fields) == COUPON_FIELDS
    base = {"name": "满100减20", "kind": "threshold", "amount": "20", "percent_off": "0", "per_customer_limit": "1"}
    with translation.override("zh-hans"):
        form = CouponTemplateForm({**base, "threshold": "10"})
        assert not form.is_valid()
        assert form.errors["threshold"] == ["最低消费须不低于减免金额。"]
        gift = CouponTemplateForm({**base, "kind": "gift", "amount": "0", "threshold": "0"})
        assert not gift.is_valid()
        assert list(gift.errors) == ["gift"]
        # a field's own error comes alone: the rules are not checked on values the fields refused
        bad = CouponTemplateForm({**base, "threshold": "10", "amount": "x"})
        assert not bad.is_valid()
        assert list(bad.errors) == ["amount"]
    assert CouponTemplateForm({**base, "threshold": "100"}).is_valid()
