import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from guanxi.messaging.models import MessageTemplate
from guanxi.messaging.rendering import preview, quiet_hours_end, render, sms_compose, sms_segments
from guanxi.messaging.tests.factories import make_template

SH = ZoneInfo("Asia/Shanghai")


def test_unknown_template_variable_is_refused_at_save_naming_the_field(db):
    with pytest.raises(ValidationError) as exc:
        MessageTemplate.objects.create(code="bad", name="bad", channel="sms", body="{name}您好,{nickname}")
    assert "body" in exc.value.message_dict
    assert "{nickname}" in exc.value.message_dict["body"][0]
    assert not MessageTemplate.objects.filter(code="bad").exists()


def test_unknown_variable_in_subject_is_refused_too(db):
    with pytest.raises(ValidationError) as exc:
        MessageTemplate.objects.create(code="e", name="e", channel="email", subject="{oops}", body="{name}")
    assert list(exc.value.message_dict) == ["subject"]


def test_wechat_template_cannot_be_marketing(db):
    with pytest.raises(ValidationError) as exc:
        make_template(code="w", channel="wechat", purpose="marketing")
    assert "purpose" in exc.value.message_dict


def test_render_fills_known_variables_and_blanks_missing_ones():
    assert render("{name}消费{amount}元,余额{balance}", {"name": "王", "amount": "10.00"}) == "王消费10.00元,余额"


def test_marketing_sms_gets_sign_and_opt_out_text(settings):
    settings.GUANXI_SMS_SIGN_NAME = "关系"
    assert sms_compose("周末8折", purpose="marketing") == "【关系】周末8折回T退订"
    assert sms_compose("您的验证码123456", purpose="transactional") == "【关系】您的验证码123456"
    settings.GUANXI_SMS_OPT_OUT_TEXT = "拒收请回复R"
    assert sms_compose("周末8折", purpose="marketing").endswith("拒收请回复R")


def test_sms_segments_70_single_67_per_part():
    assert sms_segments("字" * 70) == 1
    assert sms_segments("字" * 71) == 2
    assert sms_segments("字" * 134) == 2
    assert sms_segments("字" * 135) == 3


def test_sign_counts_towards_length(db, settings):
    settings.GUANXI_SMS_SIGN_NAME = "关系"
    template = make_template(code="t", purpose="transactional", body="字" * 66)
    shown = preview(template)
    assert shown.length == 70
    assert shown.segments == 1
    template.body = "字" * 67
    assert preview(template).segments == 2


def test_preview_uses_a_sample_customer(db, store_a):
    from guanxi.customers.tests.factories import make_customer

    customer = make_customer(store=store_a, name="李雷")
    shown = preview(make_template(body="{name},{store}欢迎您"), customer=customer)
    assert "李雷,A 店欢迎您" in shown.text


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (dt.datetime(2026, 3, 1, 21, 30, tzinfo=SH), dt.datetime(2026, 3, 2, 8, 0, tzinfo=SH)),
        (dt.datetime(2026, 3, 1, 2, 0, tzinfo=SH), dt.datetime(2026, 3, 1, 8, 0, tzinfo=SH)),
        (dt.datetime(2026, 3, 1, 12, 0, tzinfo=SH), None),
        (dt.datetime(2026, 3, 1, 8, 0, tzinfo=SH), None),
    ],
)
def test_quiet_hours_default_21_to_8_local(settings, local, expected):
    settings.TIME_ZONE = "Asia/Shanghai"
    assert quiet_hours_end(local.astimezone(dt.UTC)) == expected


def test_quiet_hours_are_configurable(settings):
    settings.GUANXI_MESSAGING_QUIET_HOURS = ("12:00", "13:00")
    noon = dt.datetime(2026, 3, 1, 12, 30, tzinfo=SH)
    assert quiet_hours_end(noon) == dt.datetime(2026, 3, 1, 13, 0, tzinfo=SH)
