"""The ``message_send`` care action: queued as care (consent, cap and quiet hours apply), once per dedupe key,
with a fallback channel when the first is suppressed."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import translation

from guanxi.core.care import CARE_ACTIONS
from guanxi.customers.tests.factories import make_customer
from guanxi.messaging.models import Message
from guanxi.messaging.services import consent_record
from guanxi.messaging.tests.factories import make_template

pytestmark = pytest.mark.django_db

NOON = dt.datetime(2026, 3, 1, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai: outside quiet hours


@pytest.fixture
def templates(db):
    return [
        make_template(code="birthday", channel="sms", purpose="care", body="{name}生日快乐"),
        make_template(code="birthday", channel="email", purpose="care", subject="生日快乐", body="{name}生日快乐"),
    ]


def grant(customer, channel):
    consent_record(actor=None, customer=customer, channel=channel, purpose="marketing", granted=True, source="in store")


def test_message_send_queues_a_care_message_once_per_dedupe_key(templates, django_assert_max_num_queries):
    action = CARE_ACTIONS.get("message_send")
    params = action.validate_params({"template": "birthday", "channel": "sms"})
    with time_machine.travel(NOON, tick=False):
        customer = make_customer(name="王芳")
        grant(customer, "sms")
        with django_assert_max_num_queries(16):  # one enqueue: template, dedupe, checks, insert, audit, event
            first = action.handler(customer, params, {"dedupe_key": "care:1:5:2026-03-01"})
        again = action.handler(customer, params, {"dedupe_key": "care:1:5:2026-03-01"})
    assert first == {"channel": "sms", "queued": True}
    assert again == {"channel": "sms", "queued": True, "duplicate": True}
    message = Message.objects.get(customer=customer)
    assert message.purpose == "care"
    assert message.status == Message.Status.QUEUED


def test_message_send_needs_consent_and_falls_back_once(templates):
    action = CARE_ACTIONS.get("message_send")
    params = action.validate_params({"template": "birthday", "channel": "sms", "fallback_channel": "email"})
    with time_machine.travel(NOON, tick=False):
        customer = make_customer(name="李娜", email="lina@example.com")
        grant(customer, "email")  # no SMS consent
        first = action.handler(customer, params, {"dedupe_key": "care:2:6:2026-03-01"})
        again = action.handler(customer, params, {"dedupe_key": "care:2:6:2026-03-01"})
    assert first == {"channel": "email", "queued": True}
    assert again == {"channel": "email", "queued": True, "duplicate": True}
    rows = dict(Message.objects.filter(customer=customer).values_list("channel", "status"))
    assert rows == {"sms": "suppressed", "email": "queued"}


def test_message_send_without_consent_anywhere_says_why(templates):
    action = CARE_ACTIONS.get("message_send")
    params = action.validate_params({"template": "birthday", "channel": "sms"})
    with time_machine.travel(NOON, tick=False):
        customer = make_customer(name="赵磊")
        result = action.handler(customer, params, {"dedupe_key": "care:3:7:2026-03-01"})
    assert result == {"suppressed": "no consent", "channel": None, "queued": False}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"template": "birthday", "channel": "fax"}, "channel"),
        ({"template": "nope", "channel": "sms"}, "template"),
        ({"template": "birthday", "channel": "sms", "fallback_channel": "sms"}, "fallback_channel"),
        ({"template": "birthday", "channel": "sms", "fallback_channel": "wechat"}, "fallback_channel"),
    ],
)
def test_message_send_params_are_checked_naming_the_field(templates, params, field):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        CARE_ACTIONS.get("message_send").validate_params(params)
    assert list(caught.value.message_dict) == [field]
