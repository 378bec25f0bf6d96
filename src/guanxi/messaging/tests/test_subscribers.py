from guanxi.core.events import event_record
from guanxi.customers.services import contact_point_add
from guanxi.customers.tests.factories import make_customer
from guanxi.messaging.models import Message
from guanxi.messaging.tests.factories import make_template

EBILL = {
    "amount": "268.00",
    "discount": "20.00",
    "points_earned": 268,
    "points_balance": 3580,
    "wallet_balance": "1200.00",
    "order_ref": "A-1001",
}


def _emit(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return event_record(name="loyalty.ebill", customer_id=customer.pk, payload=EBILL, aggregate="order")


def test_ebill_event_becomes_a_transactional_sms(store_a, django_capture_on_commit_callbacks, settings):
    settings.GUANXI_MESSAGING_RATE_LIMITS = {}
    make_template(
        code="ebill", purpose="transactional", body="{name}您消费{amount}元,积分+{points_earned},余额{balance}元"
    )
    customer = make_customer(store=store_a, name="韩梅梅")
    event = _emit(customer, django_capture_on_commit_callbacks)
    message = Message.objects.get(customer=customer)
    assert message.purpose == "transactional"
    assert message.channel == "sms"
    assert message.body == "【关系】韩梅梅您消费268.00元,积分+268,余额1200.00元"
    assert message.dedupe_key == f"event:{event.pk}:sms:{customer.pk}"


def test_ebill_goes_by_wechat_when_the_customer_has_an_openid(store_a, django_capture_on_commit_callbacks):
    make_template(code="ebill", purpose="transactional", body="{name}消费{amount}")
    make_template(code="ebill", channel="wechat", purpose="transactional", body="消费{amount}元,单号{order_ref}")
    customer = make_customer(store=store_a)
    contact_point_add(actor=None, customer=customer, kind="wechat", value="oOPENID123")
    _emit(customer, django_capture_on_commit_callbacks)
    message = Message.objects.get(customer=customer)
    assert message.channel == "wechat"
    assert message.params == {"amount": "268.00", "order_ref": "A-1001"}


def test_ebill_without_templates_is_suppressed_with_reason(store_a, django_capture_on_commit_callbacks):
    customer = make_customer(store=store_a)
    _emit(customer, django_capture_on_commit_callbacks)
    message = Message.objects.get(customer=customer)
    assert (message.status, message.reason) == ("suppressed", "no template")


def test_ebill_reaches_the_wechat_stand_in_end_to_end(store_a, django_capture_on_commit_callbacks, settings):
    from guanxi.messaging.standins import WechatStandIn

    with WechatStandIn(followers={"oOPENID-e2e"}, templates={"TPL_EBILL"}) as wechat:
        settings.GUANXI_WECHAT_BACKEND = "wechat"
        settings.GUANXI_WECHAT = {"app_id": wechat.app_id, "app_secret": wechat.app_secret, "endpoint": wechat.base_url}
        make_template(code="ebill", purpose="transactional", body="{name}消费{amount}")
        make_template(
            code="ebill", channel="wechat", purpose="transactional", body="消费{amount}元,单号{order_ref}",
            provider_template_code="TPL_EBILL",
        )  # fmt: skip
        customer = make_customer(store=store_a)
        contact_point_add(actor=None, customer=customer, kind="wechat", value="oOPENID-e2e")
        _emit(customer, django_capture_on_commit_callbacks)
        [sent] = wechat.sent
        assert (sent.to, sent.template) == ("oOPENID-e2e", "TPL_EBILL")
        message = Message.objects.get(customer=customer)
        assert (message.channel, message.status, message.provider) == ("wechat", "sent", "wechat")
        assert sent.out_id == str(message.pk)
