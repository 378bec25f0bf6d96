import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from guanxi.customers.tests.factories import make_customer
from guanxi.messaging.models import Message
from guanxi.messaging.services import consent_record, message_enqueue
from guanxi.messaging.tests.factories import make_template

SH = ZoneInfo("Asia/Shanghai")
NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=SH)


@pytest.fixture(autouse=True)
def at_noon():
    """Every test here runs at noon on a Monday: quiet hours (21:00-08:00) and caps must not depend on when
    the suite runs. A test about another moment passes ``now=`` or travels itself."""
    with time_machine.travel(NOON, tick=False):
        yield


@pytest.fixture
def promo(db):
    return make_template(code="promo", purpose="marketing", body="{name}您好,会员日8折")


@pytest.fixture
def ebill(db):
    return make_template(code="ebill", purpose="transactional", body="{name}您消费{amount}元,余额{balance}元")


def grant(customer, channel="sms", purpose="marketing", granted=True, at=None):
    return consent_record(
        actor=None, customer=customer, channel=channel, purpose=purpose, granted=granted, source="in store", at=at
    )


def statuses(batch_ref):
    return {m.customer_id: (m.status, m.reason) for m in Message.objects.filter(batch_ref=batch_ref)}


def test_marketing_goes_only_to_customers_with_current_consent(store_a, promo):
    yes, never, withdrew = (make_customer(store=store_a, name=n) for n in ("甲", "乙", "丙"))
    grant(yes)
    grant(withdrew, at=NOON - dt.timedelta(days=3))
    grant(withdrew, granted=False, at=NOON - dt.timedelta(days=1))  # the latest row wins
    result = message_enqueue(
        channel="sms", template_code="promo", customer_ids=[yes.pk, never.pk, withdrew.pk], now=NOON, dispatch=False
    )
    got = statuses(result.batch_ref)
    assert got[yes.pk] == ("queued", "")
    assert got[never.pk] == ("suppressed", "no consent")
    assert got[withdrew.pk] == ("suppressed", "no consent")
    assert result.queued == 1
    assert result.suppressed["no consent"] == 2
    message = Message.objects.get(customer=yes)
    assert message.body == "【关系】甲您好,会员日8折回T退订"
    assert message.to_masked.startswith("139")
    assert "****" in message.to_masked


def test_consent_is_per_channel(store_a, promo):
    customer = make_customer(store=store_a, email="a@example.com")
    grant(customer, channel="email")
    result = message_enqueue(channel="sms", template_code="promo", customer_ids=[customer.pk], now=NOON, dispatch=False)
    assert statuses(result.batch_ref)[customer.pk] == ("suppressed", "no consent")


def test_transactional_needs_no_marketing_consent(store_a, ebill):
    customer = make_customer(store=store_a)
    result = message_enqueue(
        channel="sms",
        template_code="ebill",
        customer_ids=[customer.pk],
        context={"amount": "88.00"},
        now=NOON,
        dispatch=False,
    )
    assert statuses(result.batch_ref)[customer.pk] == ("queued", "")
    assert Message.objects.get().body == "【关系】王小明您消费88.00元,余额元"


def test_customer_without_address_is_suppressed_with_reason(store_a, ebill):
    customer = make_customer(store=store_a, phone=None, email="x@example.com")
    result = message_enqueue(channel="sms", template_code="ebill", customer_ids=[customer.pk], now=NOON, dispatch=False)
    assert statuses(result.batch_ref)[customer.pk] == ("suppressed", "no address")


def test_quiet_hours_defer_marketing_to_8am_but_not_transactional(store_a, promo, ebill):
    customer = make_customer(store=store_a)
    grant(customer)
    late = dt.datetime(2026, 3, 2, 22, 15, tzinfo=SH)
    marketing = message_enqueue(
        channel="sms", template_code="promo", customer_ids=[customer.pk], now=late, dispatch=False
    )
    assert marketing.deferred == 1
    m = Message.objects.get(batch_ref=marketing.batch_ref)
    assert m.status == "queued"
    assert m.reason == "quiet hours"
    assert m.next_attempt_at == dt.datetime(2026, 3, 3, 8, 0, tzinfo=SH)
    bill = message_enqueue(channel="sms", template_code="ebill", customer_ids=[customer.pk], now=late, dispatch=False)
    assert Message.objects.get(batch_ref=bill.batch_ref).next_attempt_at == late


def test_deferred_message_is_not_sent_before_quiet_hours_end(store_a, promo):
    from guanxi.messaging.services import messages_due

    customer = make_customer(store=store_a)
    grant(customer)
    late = dt.datetime(2026, 3, 2, 22, 15, tzinfo=SH)
    message_enqueue(channel="sms", template_code="promo", customer_ids=[customer.pk], now=late, dispatch=False)
    assert messages_due(now=late + dt.timedelta(hours=9)) == {}
    assert list(messages_due(now=dt.datetime(2026, 3, 3, 8, 0, tzinfo=SH))) == ["sms"]


def test_frequency_cap_two_marketing_messages_a_week(store_a, promo):
    customer = make_customer(store=store_a)
    grant(customer)
    refs = []
    for day in range(3):
        refs.append(
            message_enqueue(
                channel="sms",
                template_code="promo",
                customer_ids=[customer.pk],
                now=NOON + dt.timedelta(days=day),
                dispatch=False,
            ).batch_ref
        )
    assert [statuses(r)[customer.pk] for r in refs] == [("queued", ""), ("queued", ""), ("suppressed", "frequency cap")]


def test_frequency_cap_window_passes(store_a, promo, settings):
    settings.GUANXI_MESSAGING_FREQUENCY_CAP = (1, 7)
    customer = make_customer(store=store_a)
    grant(customer)
    first = message_enqueue(channel="sms", template_code="promo", customer_ids=[customer.pk], dispatch=False)
    assert statuses(first.batch_ref)[customer.pk] == ("queued", "")
    blocked = message_enqueue(channel="sms", template_code="promo", customer_ids=[customer.pk], dispatch=False)
    assert statuses(blocked.batch_ref)[customer.pk][0] == "suppressed"  # within the window the cap holds
    Message.objects.filter(batch_ref__in=[first.batch_ref, blocked.batch_ref]).update(
        created_at=NOON - dt.timedelta(days=8)
    )
    again = message_enqueue(channel="sms", template_code="promo", customer_ids=[customer.pk], dispatch=False)
    assert statuses(again.batch_ref)[customer.pk] == ("queued", "")


def test_wechat_refuses_marketing_at_enqueue(store_a, ebill):
    customer = make_customer(store=store_a)
    with pytest.raises(ValidationError) as exc:
        message_enqueue(channel="wechat", purpose="marketing", template_code="ebill", customer_ids=[customer.pk])
    assert "channel" in exc.value.message_dict
    assert not Message.objects.exists()


def test_marketing_template_cannot_be_sent_as_transactional(store_a, promo):
    customer = make_customer(store=store_a)
    with pytest.raises(ValidationError) as exc:
        message_enqueue(channel="sms", purpose="transactional", template_code="promo", customer_ids=[customer.pk])
    assert "purpose" in exc.value.message_dict


def test_unknown_template_is_refused_with_field_name(store_a):
    customer = make_customer(store=store_a)
    with pytest.raises(ValidationError) as exc:
        message_enqueue(channel="sms", template_code="nope", customer_ids=[customer.pk])
    assert "template_code" in exc.value.message_dict


def test_replaying_the_same_dedupe_key_writes_nothing_new(store_a, ebill):
    customers = [make_customer(store=store_a) for _ in range(3)]
    ids = [c.pk for c in customers]
    first = message_enqueue(
        channel="sms", template_code="ebill", customer_ids=ids, dedupe_prefix="order:1", dispatch=False
    )
    again = message_enqueue(
        channel="sms", template_code="ebill", customer_ids=ids, dedupe_prefix="order:1", dispatch=False
    )
    assert first.queued == 3
    assert again.queued == 0
    assert again.duplicates == 3
    assert Message.objects.count() == 3


def test_language_preference_picks_the_body(store_a):
    make_template(code="hello", purpose="transactional", body="您好{name}")
    make_template(code="hello", purpose="transactional", language="en", body="Hello {name}")
    english = make_customer(store=store_a, name="Amy", preferences={"language": "en"})
    chinese = make_customer(store=store_a, name="王")
    message_enqueue(channel="sms", template_code="hello", customer_ids=[english.pk, chinese.pk], dispatch=False)
    bodies = dict(Message.objects.values_list("customer_id", "body"))
    assert bodies[english.pk] == "【关系】Hello Amy"
    assert bodies[chinese.pk] == "【关系】您好王"


def test_bulk_enqueue_query_count_does_not_grow_with_recipients(store_a, promo):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    customers = [make_customer(store=store_a, name=f"客{i}") for i in range(40)]
    for c in customers[::2]:
        grant(c)

    def queries_for(ids, prefix):
        with CaptureQueriesContext(connection) as ctx:
            result = message_enqueue(
                channel="sms",
                template_code="promo",
                customer_ids=ids,
                dedupe_prefix=prefix,
                chunk_size=1000,
                dispatch=False,
            )
        return [q["sql"][:40] for q in ctx.captured_queries if q["sql"].startswith("SELECT")], result

    few, _ = queries_for([c.pk for c in customers[:4]], "few")
    many, result = queries_for([c.pk for c in customers], "many")
    # template, then per chunk: dedupe keys, customers, contacts, suppression list, consent, frequency cap
    # (the insert is a COPY on PostgreSQL, bulk INSERTs of at most 999 parameters on SQLite)
    assert len(many) == len(few) == 7, many
    assert result.queued == 20
    assert result.suppressed["no consent"] == 20
