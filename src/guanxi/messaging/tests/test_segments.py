"""Messaging's segment fields: consent as the ledger's latest row, messages received in the last local calendar
days, reachable addresses as the queue picks them; each keeps exactly what a Python reading of the same rows
keeps, combined in trees as one query; bad values are refused naming their place."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from guanxi.core.segments import SEGMENT_FIELDS, segment_apply, segment_filter, segment_rules_clean
from guanxi.customers.models import ContactPoint, Customer
from guanxi.customers.services import contact_point_add
from guanxi.customers.tests.factories import make_customer
from guanxi.messaging.models import CONTACT_KIND, Channel, Consent, Message, Suppression
from guanxi.messaging.services import LIVE_STATUSES, consent_record, inbound_record, message_enqueue
from guanxi.messaging.tests.factories import make_template

pytestmark = pytest.mark.django_db


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=timezone.get_default_timezone())


#: Half past eleven at night, local: today's 00:10 was yesterday in UTC, yesterday's 23:50 is less than a day ago.
NOW = local(2026, 12, 3, 23, 30)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _consent(customer, channel, purpose, granted, at):
    consent_record(
        actor=None, customer=customer, channel=channel, purpose=purpose, granted=granted, source="in store", at=at
    )


@pytest.fixture
def world(clock, store_a, settings):
    settings.GUANXI_MESSAGING_FREQUENCY_CAP = (0, 7)  # no cap: what is sent here is what the test decides
    make_template(code="promo", channel="sms", purpose="marketing")
    make_template(code="notice", channel="sms", purpose="transactional", body="{name}您好,您的订单已发货")
    make_template(code="letter", channel="email", purpose="marketing", body="{name}您好", subject="会员日")
    p = {}
    p["again"] = make_customer(store=store_a, name="又同意", phone="13800000001")
    p["withdrew"] = make_customer(store=store_a, name="已撤回", phone="13800000002")
    p["both"] = make_customer(store=store_a, name="双渠道", phone="13800000003", email="both@example.com")
    p["never"] = make_customer(store=store_a, name="没问过", phone="13800000004")
    p["replied"] = make_customer(store=store_a, name="回T", phone="13800000005")
    p["bounced"] = make_customer(store=store_a, name="空号", phone="13800000006")
    p["mailonly"] = make_customer(store=store_a, name="只邮件", phone=None, email="mail@example.com")
    p["nobody"] = make_customer(store=store_a, name="无联系", phone=None)

    ten_days_ago = local(2026, 11, 23, 10)
    # the same instant twice: the later row (higher id) is the current one
    _consent(p["again"], "sms", "marketing", True, local(2026, 11, 1, 9))
    _consent(p["again"], "sms", "marketing", False, local(2026, 11, 20, 10))
    _consent(p["again"], "sms", "marketing", True, local(2026, 11, 20, 10))
    _consent(p["withdrew"], "sms", "marketing", True, local(2026, 11, 1, 9))
    _consent(p["withdrew"], "sms", "marketing", False, local(2026, 11, 25, 9))
    _consent(p["both"], "email", "marketing", True, local(2026, 10, 1, 9))
    _consent(p["both"], "sms", "transactional", False, local(2026, 10, 1, 9))
    _consent(p["replied"], "sms", "marketing", True, local(2026, 10, 1, 9))
    _consent(p["bounced"], "sms", "marketing", True, local(2026, 10, 1, 9))
    _consent(p["mailonly"], "email", "marketing", False, local(2026, 10, 1, 9))

    # the bounced number is suppressed for everything; a second, newer number is not the one the queue uses
    first = ContactPoint.objects.get(customer=p["bounced"], kind="phone")
    Suppression.objects.create(channel="sms", address_index=first.value_index, scope="all", reason="invalid")
    contact_point_add(actor=None, customer=p["bounced"], kind="phone", value="13800000016", is_primary=False)
    # the customer with an e-mail address suppressed for marketing only
    mail = ContactPoint.objects.get(customer=p["mailonly"], kind="email")
    Suppression.objects.create(channel="email", address_index=mail.value_index, scope="marketing", reason="test")

    clock.move_to(ten_days_ago)
    message_enqueue(channel="sms", template_code="notice", customer_ids=[p["withdrew"].pk], dispatch=False)
    clock.move_to(local(2026, 12, 2, 23, 50))
    message_enqueue(channel="sms", template_code="notice", customer_ids=[p["never"].pk], dispatch=False)
    clock.move_to(local(2026, 12, 3, 0, 10))
    message_enqueue(channel="sms", template_code="promo", customer_ids=[p["again"].pk], dispatch=False)
    # suppressed on enqueue (no consent, no address): rows that were never on their way
    message_enqueue(channel="sms", template_code="promo", customer_ids=[p["never"].pk, p["nobody"].pk], dispatch=False)
    clock.move_to(local(2026, 12, 3, 20))
    message_enqueue(channel="email", template_code="letter", customer_ids=[p["both"].pk], dispatch=False)
    inbound_record(provider="aliyun", from_phone="13800000005", text="T")
    clock.move_to(NOW)
    return p


def _ids(tree) -> set[int]:
    return set(segment_apply(Customer.objects.all(), segment_rules_clean(tree)).values_list("id", flat=True))


def _current_consent(channel: str, purpose: str) -> set[int]:
    latest: dict[int, bool] = {}
    for row in Consent.objects.filter(channel=channel, purpose=purpose).order_by("at", "id"):
        latest[row.customer_id] = row.granted
    default = purpose == "transactional"
    return {pk for pk in Customer.objects.values_list("id", flat=True) if latest.get(pk, default)}


def _received(days: int, purpose: str | None = None) -> set[int]:
    first_day = timezone.localdate() - dt.timedelta(days=days - 1)
    return {
        m.customer_id
        for m in Message.objects.all()
        if m.status in LIVE_STATUSES
        and timezone.localtime(m.created_at).date() >= first_day
        and (purpose is None or m.purpose == purpose)
    }


def _reachable(channel: str, marketing: bool) -> set[int]:
    blocked = {"all", "marketing"} if marketing else {"all"}
    suppressed = {(s.channel, s.address_index) for s in Suppression.objects.all() if s.scope in blocked}
    first: dict[int, ContactPoint] = {}
    for contact in ContactPoint.objects.filter(kind=CONTACT_KIND[Channel(channel)]).order_by("-is_primary", "id"):
        first.setdefault(contact.customer_id, contact)
    return {pk for pk, c in first.items() if (channel, c.value_index) not in suppressed}


def test_the_dataset_has_what_the_fields_tell_apart(world):
    assert Message.objects.filter(status="suppressed").count() == 2
    assert Suppression.objects.filter(scope="marketing", channel="sms").count() == 1  # the "T" reply
    assert ContactPoint.objects.filter(customer=world["bounced"], kind="phone").count() == 2


def test_consent_is_the_latest_ledger_row(world):
    p = world
    for channel in ("sms", "email", "wechat"):
        for purpose in ("marketing", "transactional"):
            value = f"{channel}:{purpose}"
            assert _ids({"field": "messaging.consent", "op": "eq", "value": value}) == _current_consent(
                channel, purpose
            ), value
    assert _current_consent("sms", "marketing") == {p["again"].pk, p["bounced"].pk}
    assert p["both"].pk not in _current_consent("sms", "transactional")


def test_received_in_the_last_local_calendar_days_at_half_past_eleven(world):
    p = world
    assert timezone.localtime().strftime("%H:%M") == "23:30"
    assert _ids({"field": "messaging.received", "op": "within_days", "value": 1}) == {p["again"].pk, p["both"].pk}
    assert _ids({"field": "messaging.received", "op": "within_days", "value": 2}) == {
        p["again"].pk,
        p["both"].pk,
        p["never"].pk,
    }
    for days in (1, 2, 10, 11, 30):
        for purpose in (None, "marketing", "transactional"):
            leaf = {"field": "messaging.received", "op": "within_days", "value": days}
            if purpose:
                leaf["purpose"] = purpose
            expected = _received(days, purpose)
            assert _ids(leaf) == expected, leaf
            everyone = set(Customer.objects.values_list("id", flat=True))
            assert _ids({**leaf, "op": "not_within_days"}) == everyone - expected, leaf
    assert p["withdrew"].pk in _received(11) - _received(10)


def test_reachable_as_the_queue_picks_the_address(world):
    p = world
    for value in ("sms", "email", "wechat", "sms:marketing", "email:marketing"):
        channel, _sep, purpose = value.partition(":")
        expected = _reachable(channel, purpose == "marketing")
        assert _ids({"field": "messaging.reachable", "op": "eq", "value": value}) == expected, value
    assert p["bounced"].pk not in _reachable("sms", False)  # its primary number is suppressed
    assert p["replied"].pk in _reachable("sms", False)
    assert p["replied"].pk not in _reachable("sms", True)
    assert p["mailonly"].pk in _reachable("email", False) - _reachable("email", True)


def test_trees_and_the_customer_list(world, django_assert_num_queries):
    p = world
    tree = {
        "all": [
            {"field": "messaging.consent", "value": "sms:marketing"},
            {"field": "messaging.reachable", "value": "sms:marketing"},
            {"not": {"field": "messaging.received", "op": "within_days", "value": 7, "purpose": "marketing"}},
        ]
    }
    expected = _current_consent("sms", "marketing") & _reachable("sms", True) - _received(7, "marketing")
    cleaned = segment_rules_clean(tree)
    with django_assert_num_queries(1):
        found = list(segment_apply(Customer.objects.all(), cleaned).values_list("id", flat=True))
    assert set(found) == expected == set()  # "again" got one today; "bounced" cannot be reached
    tree["all"][2]["not"]["value"] = 1
    tree = {"any": [tree, {"field": "messaging.consent", "value": "email:marketing"}]}
    assert _ids(tree) == {p["both"].pk}
    everyone = Customer.objects.all()
    listed = segment_filter(everyone, key="messaging.consent", operator="eq", value="SMS:marketing")
    assert set(listed.values_list("id", flat=True)) == _current_consent("sms", "marketing")
    listed = segment_filter(everyone, key="messaging.received", operator="within_days", value="2")
    assert set(listed.values_list("id", flat=True)) == _received(2)


@pytest.mark.parametrize(
    ("leaf", "where"),
    [
        ({"field": "messaging.consent", "value": "sms"}, "value"),
        ({"field": "messaging.consent", "value": "fax:marketing"}, "value"),
        ({"field": "messaging.consent", "value": ["sms:marketing"]}, "value"),
        ({"field": "messaging.consent", "op": "in", "value": "sms:marketing"}, "op"),
        ({"field": "messaging.reachable", "value": "wechat:marketing"}, "value"),
        ({"field": "messaging.received", "op": "within_days", "value": 0}, "value"),
        ({"field": "messaging.received", "op": "within_days", "value": 3651}, "value"),
        ({"field": "messaging.received", "op": "within_days", "value": "7.5"}, "value"),
        ({"field": "messaging.received", "op": "within_days", "value": True}, "value"),
        ({"field": "messaging.received", "op": "within_days", "value": 7, "purpose": "spam"}, "purpose"),
    ],
)
def test_bad_values_are_refused_naming_their_place(db, leaf, where):
    with translation.override("en"):
        with pytest.raises(ValidationError) as caught:
            segment_rules_clean({"all": [{"field": "messaging.consent", "value": "sms:marketing"}, leaf]})
        label = str(SEGMENT_FIELDS.get(leaf["field"]).label)
    errors = caught.value.message_dict
    assert list(errors) == [f"rules.all.1.{where}"]
    if where != "op":
        assert errors[f"rules.all.1.{where}"][0].startswith(f"{label}: ")


def test_labels_errors_and_choices_are_translated(db):
    with translation.override("zh-hans"):
        assert str(SEGMENT_FIELDS.get("messaging.consent").label) == "授权"
        assert dict(SEGMENT_FIELDS.get("messaging.consent").choices())["sms:marketing"] == "短信 · 营销"
        with pytest.raises(ValidationError) as caught:
            segment_rules_clean({"field": "messaging.received", "op": "within_days", "value": 0})
    assert caught.value.message_dict["rules.value"] == ["收到的消息: 天数请填 1 到 3650。"]


def test_fields_are_registered_in_the_messaging_group():
    fields = [f for f in SEGMENT_FIELDS if f.key.startswith("messaging.")]
    assert [f.key for f in fields] == ["messaging.consent", "messaging.reachable", "messaging.received"]
    assert all(f.group == "messaging" and f.condition is not None for f in fields)
