"""The provider layer against the stand-in servers: signatures, answers, classification, receipts.

Known-answer vectors come from the providers' documentation: Alibaba Cloud "V3版本请求体&签名机制"
(RunInstances example, fixed parameters) and Tencent Cloud "签名方法 v3" (DescribeInstances example,
timestamp 1551113065).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from guanxi.messaging.providers import (
    AliyunReceiptParser,
    AliyunSmsProvider,
    ConsoleProvider,
    Outcome,
    ReceiptFormatError,
    ReceiptStatus,
    Recipient,
    SendBatch,
    TencentReceiptParser,
    TencentSmsProvider,
    WechatTemplateEventParser,
    WechatTemplateProvider,
    aliyun,
    build_provider,
    tencent,
    wechat,
)
from guanxi.messaging.providers.base import CHINA_TZ
from guanxi.messaging.standins import (
    AliyunSmsStandIn,
    CallbackRecorder,
    TencentSmsStandIn,
    WechatStandIn,
    verify_acs3,
    verify_tc3,
)
from guanxi.messaging.standins.wechat import SEND_PATH

SIGN = "关系"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


# ------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def aliyun_server():
    with AliyunSmsStandIn(sign_names={SIGN}, templates={"SMS_OTP": ["code"], "SMS_BILL": ["name", "amount"]}) as s:
        yield s


@pytest.fixture
def aliyun_provider(aliyun_server):
    provider = AliyunSmsProvider.from_config(
        {
            "access_key_id": aliyun_server.access_key_id,
            "access_key_secret": aliyun_server.access_key_secret,
            "endpoint": aliyun_server.base_url,
        },
        sign_name=SIGN,
    )
    yield provider
    provider.client.close()


@pytest.fixture
def tencent_server():
    with TencentSmsStandIn(sign_names={SIGN}, templates={"1110": 1, "2220": 2}) as s:
        yield s


@pytest.fixture
def tencent_provider(tencent_server):
    provider = TencentSmsProvider.from_config(
        {
            "secret_id": tencent_server.secret_id,
            "secret_key": tencent_server.secret_key,
            "sdk_app_id": "1400000000",
            "endpoint": tencent_server.base_url,
        },
        sign_name=SIGN,
    )
    yield provider
    provider.client.close()


@pytest.fixture
def wechat_server():
    with WechatStandIn(followers={"o-alice", "o-bob"}, templates={"TPL-ORDER"}) as s:
        yield s


@pytest.fixture
def wechat_provider(wechat_server):
    provider = WechatTemplateProvider.from_config(
        {"app_id": wechat_server.app_id, "app_secret": wechat_server.app_secret, "endpoint": wechat_server.base_url}
    )
    yield provider
    provider.client.close()


def otp(*phones: str, code: str = "4711") -> SendBatch:
    return SendBatch(
        template="SMS_OTP",
        recipients=[Recipient(p, {"code": code}, out_id=str(i)) for i, p in enumerate(phones, 1)],
        out_id="batch-1",
    )


def numbers(n: int, start: int = 13800000000) -> list[str]:
    return [f"+86{start + i}" for i in range(n)]


# ---------------------------------------------------------------------- known-answer signatures


ALIYUN_DOC_HEADERS = {
    "host": "ecs.cn-shanghai.aliyuncs.com",
    "x-acs-action": "RunInstances",
    "x-acs-content-sha256": EMPTY_SHA256,
    "x-acs-date": "2023-10-26T10:22:32Z",
    "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
    "x-acs-version": "2014-05-26",
}
ALIYUN_DOC_QUERY = {"ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", "RegionId": "cn-shanghai"}
ALIYUN_DOC_AUTHORIZATION = (
    "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,"
    "SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
    "Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
)


def test_acs3_signature_matches_alibaba_cloud_published_example():
    authorization, canonical_request = aliyun.acs3_authorization(
        method="POST",
        canonical_uri="/",
        query=ALIYUN_DOC_QUERY,
        headers=ALIYUN_DOC_HEADERS,
        access_key_id="YourAccessKeyId",
        access_key_secret="YourAccessKeySecret",
    )
    assert hashlib.sha256(canonical_request.encode()).hexdigest() == (
        "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    )
    assert authorization == ALIYUN_DOC_AUTHORIZATION


def test_standin_acs3_verifier_accepts_the_published_example_and_only_with_the_right_secret():
    target = "/?ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai"
    headers = {**ALIYUN_DOC_HEADERS, "authorization": ALIYUN_DOC_AUTHORIZATION}
    ok = verify_acs3(
        method="POST",
        target=target,
        headers=headers,
        body=b"",
        secrets_by_key={"YourAccessKeyId": "YourAccessKeySecret"},
    )
    assert ok is None
    wrong = verify_acs3(
        method="POST", target=target, headers=headers, body=b"", secrets_by_key={"YourAccessKeyId": "x"}
    )
    assert wrong is not None
    assert wrong.code == "SignatureDoesNotMatch"


TENCENT_DOC_PAYLOAD = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
TENCENT_DOC_HEADERS = {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"}


def test_tc3_signature_matches_tencent_cloud_published_example():
    signed = tencent.tc3_sign(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3*******",
        service="cvm",
        timestamp=1551113065,
        headers=TENCENT_DOC_HEADERS,
        body=TENCENT_DOC_PAYLOAD,
    )
    assert signed.canonical_request == (
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n"
        "content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    assert signed.string_to_sign == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    assert signed.authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )


def test_standin_tc3_verifier_accepts_the_published_example_and_rejects_a_changed_body():
    headers = {
        **TENCENT_DOC_HEADERS,
        "x-tc-timestamp": "1551113065",
        "authorization": (
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, "
            "SignedHeaders=content-type;host, "
            "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
        ),
    }
    keys = {"AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******": "Gu5t9xGARNpq86cd98joQYCN3*******"}
    common = {"method": "POST", "target": "/", "headers": headers, "secrets_by_id": keys, "service": "cvm"}
    assert verify_tc3(body=TENCENT_DOC_PAYLOAD, **common) is None
    changed = verify_tc3(body=TENCENT_DOC_PAYLOAD.replace(b"1", b"2"), **common)
    assert changed is not None
    assert changed.code == "AuthFailure.SignatureFailure"


# ----------------------------------------------------------------------------------- Aliyun


def test_aliyun_send_sms_is_signed_and_accepted(aliyun_server, aliyun_provider):
    results = aliyun_provider.send(otp("+8613800138000", "+8613900139000"))

    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert results[0].provider_message_id == results[1].provider_message_id != ""  # one BizId per call
    (request,) = aliyun_server.requests
    assert request.incoming.headers["x-acs-action"] == "SendSms"
    assert request.incoming.body == b""  # parameters travel in the query, as the SDK sends them
    query = parse_qs(urlsplit(request.incoming.target).query)
    assert query["PhoneNumbers"] == ["13800138000,13900139000"]
    assert json.loads(query["TemplateParam"][0]) == {"code": "4711"}
    assert query["OutId"] == ["batch-1"]
    assert [m.to for m in aliyun_server.sent] == ["13800138000", "13900139000"]


def test_aliyun_single_recipient_carries_its_own_out_id(aliyun_server, aliyun_provider):
    aliyun_provider.send(SendBatch(template="SMS_OTP", recipients=[Recipient("+8613800138000", {"code": "1"}, "m-42")]))
    assert aliyun_server.sent[0].out_id == "m-42"


def test_aliyun_distinct_variables_go_by_send_batch_sms_in_hundreds(aliyun_server, aliyun_provider):
    batch = SendBatch(
        template="SMS_BILL",
        recipients=[Recipient(p, {"name": f"客户{i}", "amount": str(i)}) for i, p in enumerate(numbers(250))],
    )
    results = aliyun_provider.send(batch)

    assert all(r.accepted for r in results)
    actions = [r.incoming.headers["x-acs-action"] for r in aliyun_server.requests]
    assert actions == ["SendBatchSms"] * 3
    sizes = [len(json.loads(parse_qs(r.incoming.raw_query)["PhoneNumberJson"][0])) for r in aliyun_server.requests]
    assert sizes == [100, 100, 50]
    assert aliyun_server.sent[7].params == {"name": "客户7", "amount": "7"}


def test_aliyun_shared_variables_go_by_send_sms_in_thousands(aliyun_server, aliyun_provider):
    results = aliyun_provider.send(otp(*numbers(2500)))

    assert all(r.accepted for r in results)
    sizes = [len(parse_qs(r.incoming.raw_query)["PhoneNumbers"][0].split(",")) for r in aliyun_server.requests]
    assert sizes == [1000, 1000, 500]
    assert len(aliyun_server.sent) == 2500


def test_aliyun_standin_enforces_the_documented_batch_limits(aliyun_server, aliyun_provider):
    client = aliyun_provider.client
    base = {"SignName": SIGN, "TemplateCode": "SMS_OTP", "TemplateParam": '{"code":"1"}'}
    at_limit = client.call("SendSms", {**base, "PhoneNumbers": ",".join(str(13800000000 + i) for i in range(1000))})
    over = client.call("SendSms", {**base, "PhoneNumbers": ",".join(str(13800000000 + i) for i in range(1001))})
    assert at_limit.code == "OK"
    assert over.code == "isv.MOBILE_COUNT_OVER_LIMIT"

    def batch(n):
        return {
            "PhoneNumberJson": json.dumps([str(13800000000 + i) for i in range(n)]),
            "SignNameJson": json.dumps([SIGN] * n),
            "TemplateCode": "SMS_OTP",
            "TemplateParamJson": json.dumps([{"code": "1"}] * n),
        }

    assert client.call("SendBatchSms", batch(100)).code == "OK"
    assert client.call("SendBatchSms", batch(101)).code == "isv.MOBILE_COUNT_OVER_LIMIT"
    assert aliyun.classify("isv.MOBILE_COUNT_OVER_LIMIT") is Outcome.PERMANENT


def test_aliyun_wrong_secret_gets_signature_does_not_match(aliyun_server):
    client = aliyun.AliyunSmsClient(
        access_key_id=aliyun_server.access_key_id, access_key_secret="not-the-secret", endpoint=aliyun_server.base_url
    )
    reply = client.call("SendSms", {"PhoneNumbers": "13800138000", "SignName": SIGN, "TemplateCode": "SMS_OTP"})

    assert reply.status_code == 400
    assert reply.code == "SignatureDoesNotMatch"
    assert reply.message.startswith("Specified signature does not match our calculation.")
    assert {"RequestId", "HostId", "Code", "Message", "Recommend"} <= reply.body.keys()
    provider = AliyunSmsProvider(client, sign_name=SIGN)
    (result,) = provider.send(otp("+8613800138000"))
    assert result.outcome is Outcome.PERMANENT
    assert result.code == "SignatureDoesNotMatch"
    assert aliyun_server.sent == []


def test_aliyun_unknown_access_key_is_refused(aliyun_server):
    client = aliyun.AliyunSmsClient(access_key_id="LTAI-nobody", access_key_secret="x", endpoint=aliyun_server.base_url)
    (result,) = AliyunSmsProvider(client, sign_name=SIGN).send(otp("+8613800138000"))
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "InvalidAccessKeyId.NotFound")


def test_aliyun_incomplete_signature(aliyun_server, aliyun_provider):
    request = aliyun_provider.client.signed_request("SendSms", {"PhoneNumbers": "13800138000"})
    without_signature = request.headers["authorization"].rsplit(",Signature=", 1)[0]
    response = httpx.post(str(request.url), headers={**request.headers, "authorization": without_signature})
    assert (response.status_code, response.json()["Code"]) == (400, "IncompleteSignature")

    unsigned_extra = httpx.post(str(request.url), headers={**request.headers, "x-acs-extra": "1"})
    assert unsigned_extra.json()["Code"] == "IncompleteSignature"  # every x-acs-* header must be signed


def test_aliyun_changed_parameter_breaks_the_signature(aliyun_server, aliyun_provider):
    params = {
        "PhoneNumbers": "13800138000",
        "SignName": SIGN,
        "TemplateCode": "SMS_OTP",
        "TemplateParam": '{"code":"1"}',
    }
    request = aliyun_provider.client.signed_request("SendSms", params)
    forged = str(request.url).replace("13800138000", "13900139000")
    response = httpx.post(forged, headers=request.headers)
    assert response.json()["Code"] == "SignatureDoesNotMatch"

    headers = {k: v for k, v in request.headers.items() if k != "content-length"}
    body_added = httpx.post(str(request.url), headers=headers, content=b"PhoneNumbers=13900139000")
    assert body_added.json()["Code"] == "SignatureDoesNotMatch"  # the payload hash covers the body
    assert aliyun_server.sent == []


def test_aliyun_replayed_request_is_refused_by_nonce(aliyun_server, aliyun_provider):
    params = {
        "PhoneNumbers": "13800138000",
        "SignName": SIGN,
        "TemplateCode": "SMS_OTP",
        "TemplateParam": '{"code":"1"}',
    }
    request = aliyun_provider.client.signed_request("SendSms", params)
    with httpx.Client() as http:
        first = http.send(request)
        again = http.send(aliyun_provider.client.signed_request("SendSms", params))
        replay = http.send(request)
    assert first.json()["Code"] == "OK"
    assert again.json()["Code"] == "OK"
    assert replay.json()["Code"] == "SignatureNonceUsed"
    assert len(aliyun_server.sent) == 2


def test_aliyun_stale_date_is_refused(aliyun_server):
    client = aliyun.AliyunSmsClient(
        access_key_id=aliyun_server.access_key_id,
        access_key_secret=aliyun_server.access_key_secret,
        endpoint=aliyun_server.base_url,
        clock=lambda: dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
    )
    reply = client.call("SendSms", {"PhoneNumbers": "13800138000", "SignName": SIGN, "TemplateCode": "SMS_OTP"})
    assert reply.code == "InvalidTimeStamp.Expired"


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("OK", Outcome.ACCEPTED),
        ("isv.BUSINESS_LIMIT_CONTROL", Outcome.TEMPORARY),
        ("isv.DAY_LIMIT_CONTROL", Outcome.TEMPORARY),
        ("isp.SYSTEM_ERROR", Outcome.TEMPORARY),
        ("Throttling.User", Outcome.TEMPORARY),
        ("ServiceUnavailable", Outcome.TEMPORARY),
        ("isv.MOBILE_NUMBER_ILLEGAL", Outcome.PERMANENT),
        ("isv.SMS_TEMPLATE_ILLEGAL", Outcome.PERMANENT),
        ("isv.SMS_SIGNATURE_ILLEGAL", Outcome.PERMANENT),
        ("isv.AMOUNT_NOT_ENOUGH", Outcome.PERMANENT),
        ("SignatureDoesNotMatch", Outcome.PERMANENT),
        ("IncompleteSignature", Outcome.PERMANENT),
        ("InvalidAccessKeyId.NotFound", Outcome.PERMANENT),
    ],
)
def test_aliyun_codes_are_classified(code, outcome):
    assert aliyun.classify(code) is outcome


def test_aliyun_answers_become_temporary_or_permanent(aliyun_server, aliyun_provider):
    aliyun_server.fail_next(code="isv.BUSINESS_LIMIT_CONTROL")
    aliyun_server.fail_next(code="isp.SYSTEM_ERROR")
    aliyun_server.fail_next(code="ServiceUnavailable")  # HTTP 503 with a gateway body
    throttled, system, unavailable = (aliyun_provider.send(otp("+8613800138000"))[0] for _ in range(3))
    for result in (throttled, system, unavailable):
        assert result.outcome is Outcome.TEMPORARY
        assert result.retryable
    aliyun_server.fail_next(code="InternalError")  # HTTP 500: the backend may have acted
    (internal,) = aliyun_provider.send(otp("+8613800138000"))
    assert (internal.outcome, internal.maybe_sent) == (Outcome.TEMPORARY, True)
    assert throttled.code == "isv.BUSINESS_LIMIT_CONTROL"
    assert aliyun_server.requests[2].status == 503

    aliyun_server.fail_number("+8613900139000", "isv.MOBILE_NUMBER_ILLEGAL")
    together = aliyun_provider.send(otp("+8613800138000", "+8613900139000"))
    # SendSms answers once per call: one illegal number fails the whole call.
    assert [(r.outcome, r.code) for r in together] == [(Outcome.PERMANENT, "isv.MOBILE_NUMBER_ILLEGAL")] * 2
    assert aliyun_server.sent == []


def test_aliyun_template_and_sign_are_checked(aliyun_server, aliyun_provider):
    (unknown,) = aliyun_provider.send(SendBatch(template="SMS_NOPE", recipients=[Recipient("+8613800138000")]))
    (missing,) = aliyun_provider.send(
        SendBatch(template="SMS_BILL", recipients=[Recipient("+8613800138000", {"name": "x"})])
    )
    (bad_sign,) = aliyun_provider.send(
        SendBatch(template="SMS_OTP", recipients=[Recipient("+8613800138000", {"code": "1"})], sign_name="别人")
    )
    assert unknown.code == "isv.SMS_TEMPLATE_ILLEGAL"
    assert missing.code == "isv.TEMPLATE_MISSING_PARAMETERS"
    assert bad_sign.code == "isv.SMS_SIGNATURE_ILLEGAL"
    assert {unknown.outcome, missing.outcome, bad_sign.outcome} == {Outcome.PERMANENT}


def test_malformed_numbers_are_refused_before_any_call(aliyun_server, aliyun_provider):
    results = aliyun_provider.send(otp("13800138000", "o-openid", "+8613800138000"))
    assert [r.outcome for r in results] == [Outcome.PERMANENT, Outcome.PERMANENT, Outcome.ACCEPTED]
    assert results[0].code == "guanxi.INVALID_NUMBER"
    assert len(aliyun_server.requests) == 1


def test_aliyun_query_send_details_reports_status(aliyun_server, aliyun_provider):
    (sent,) = aliyun_provider.send(otp("+8613800138000"))
    today = dt.datetime.now(CHINA_TZ).date()
    before = aliyun_provider.client.query_send_details(
        phone="+8613800138000", send_date=today, biz_id=sent.provider_message_id
    )
    recorder = CallbackRecorder().start()
    try:
        aliyun_server.push_receipts(recorder.base_url)
    finally:
        recorder.stop()
    after = aliyun_provider.client.query_send_details(phone="+8613800138000", send_date=today)
    assert before.body["TotalCount"] == 1
    assert before.body["SmsSendDetailDTOs"]["SmsSendDetailDTO"][0]["SendStatus"] == 1  # waiting for a receipt
    assert after.body["SmsSendDetailDTOs"]["SmsSendDetailDTO"][0]["SendStatus"] == 3  # delivered


# ---------------------------------------------------------------------- transport and dedupe


def test_dropped_connection_before_processing_is_temporary_but_maybe_sent(aliyun_server, aliyun_provider):
    aliyun_server.drop_next()
    (result,) = aliyun_provider.send(otp("+8613800138000"))
    # From the client's side a lost answer cannot be told apart from a lost request.
    assert result.outcome is Outcome.TEMPORARY
    assert result.maybe_sent
    assert not result.retryable
    assert aliyun_server.sent == []


def test_lost_answer_is_not_retried_so_nothing_is_sent_twice(aliyun_server, aliyun_provider):
    aliyun_server.drop_next(after_processing=True)
    (result,) = aliyun_provider.send(otp("+8613800138000"))

    assert result.outcome is Outcome.TEMPORARY
    assert result.maybe_sent
    assert result.code == "network.error"
    assert len(aliyun_server.requests) == 1  # the provider did not try again by itself
    assert len(aliyun_server.sent_to("+8613800138000")) == 1  # …and the message did go out


def test_read_timeout_is_maybe_sent(aliyun_server):
    provider = AliyunSmsProvider.from_config(
        {
            "access_key_id": aliyun_server.access_key_id,
            "access_key_secret": aliyun_server.access_key_secret,
            "endpoint": aliyun_server.base_url,
        },
        sign_name=SIGN,
        timeout=0.3,
    )
    aliyun_server.stall_next(seconds=1.0)
    (result,) = provider.send(otp("+8613800138000"))
    assert (result.outcome, result.code, result.maybe_sent) == (Outcome.TEMPORARY, "network.timeout", True)


def test_refused_connection_is_temporary_and_certainly_not_sent():
    server = AliyunSmsStandIn().start()
    url, key, secret = server.base_url, server.access_key_id, server.access_key_secret
    server.stop()
    provider = AliyunSmsProvider.from_config(
        {"access_key_id": key, "access_key_secret": secret, "endpoint": url}, sign_name=SIGN
    )
    (result,) = provider.send(otp("+8613800138000"))
    assert (result.outcome, result.code, result.retryable) == (Outcome.TEMPORARY, "network.connect", True)


def test_5xx_without_a_provider_body_is_maybe_sent():
    proxy = CallbackRecorder().start()  # stands for a proxy answering with its own error page
    try:
        proxy.fail_next(code="bad gateway", http_status=502)
        provider = AliyunSmsProvider.from_config(
            {"access_key_id": "k", "access_key_secret": "s", "endpoint": proxy.base_url}, sign_name=SIGN
        )
        (result,) = provider.send(otp("+8613800138000"))
    finally:
        proxy.stop()
    assert (result.outcome, result.code, result.maybe_sent) == (Outcome.TEMPORARY, "http.502", True)


def test_rate_limit_answers_with_the_throttling_error(aliyun_server, aliyun_provider, tencent_server, tencent_provider):
    aliyun_server.set_rate_limit(1)
    first, second, third = (aliyun_provider.send(otp("+8613800138000"))[0] for _ in range(3))
    assert first.accepted
    assert (second.code, third.code) == ("isv.BUSINESS_LIMIT_CONTROL",) * 2
    assert second.retryable
    assert third.retryable

    tencent_server.set_rate_limit(1)
    batch = SendBatch(template="1110", recipients=[Recipient("+8613800138000", {"1": "9"})])
    t_first, t_second = (tencent_provider.send(batch)[0] for _ in range(2))
    assert t_first.accepted
    assert (t_second.outcome, t_second.code) == (Outcome.TEMPORARY, "RequestLimitExceeded")


def test_concurrent_senders_share_one_provider(aliyun_server, aliyun_provider):
    phones = numbers(40)
    results: list = []

    def work(chunk):
        for phone in chunk:
            results.extend(aliyun_provider.send(otp(phone)))

    threads = [threading.Thread(target=work, args=(phones[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 40
    assert all(r.accepted for r in results)
    assert sorted(m.to for m in aliyun_server.sent) == sorted(p[3:] for p in phones)


# ---------------------------------------------------------------------------------- Tencent


def test_tencent_send_sms_is_signed_and_answered_per_number(tencent_server, tencent_provider):
    tencent_server.fail_number("+8613900139000", "LimitExceeded.PhoneNumberDailyLimit")
    tencent_server.fail_number("+8613700137000", "FailedOperation.PhoneNumberInBlacklist")
    batch = SendBatch(
        template="1110",
        recipients=[Recipient(p, {"1": "4711"}) for p in ("+8613800138000", "+8613900139000", "+8613700137000")],
        out_id="batch-9",
    )
    ok, throttled, blacklisted = tencent_provider.send(batch)

    assert ok.accepted
    assert ok.provider_message_id.startswith("2433:")
    assert (throttled.outcome, throttled.code) == (Outcome.TEMPORARY, "LimitExceeded.PhoneNumberDailyLimit")
    assert (blacklisted.outcome, blacklisted.code) == (Outcome.PERMANENT, "FailedOperation.PhoneNumberInBlacklist")
    (request,) = tencent_server.requests
    payload = json.loads(request.incoming.body)
    assert payload["PhoneNumberSet"] == ["+8613800138000", "+8613900139000", "+8613700137000"]
    assert payload["SmsSdkAppId"] == "1400000000"
    assert payload["SignName"] == SIGN
    assert payload["TemplateId"] == "1110"
    assert payload["TemplateParamSet"] == ["4711"]
    assert payload["SessionContext"] == "batch-9"
    assert request.incoming.headers["x-tc-action"] == "SendSms"
    assert request.incoming.headers["x-tc-version"] == "2021-01-11"
    assert request.incoming.headers["x-tc-region"] == "ap-guangzhou"
    assert "SignedHeaders=content-type;host;x-tc-action" in request.incoming.headers["authorization"]
    assert [m.to for m in tencent_server.sent] == ["+8613800138000"]


def test_tencent_positional_variables_keep_their_order(tencent_server, tencent_provider):
    tencent_provider.send(
        SendBatch(template="2220", recipients=[Recipient("+8613800138000", {"2": "二", "10": "十", "1": "一"})])
    )
    assert tencent.template_param_set({"2": "b", "10": "c", "1": "a"}) == ["a", "b", "c"]
    assert tencent_server.requests[0].code == "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"


def test_tencent_wrong_secret_gets_auth_failure(tencent_server):
    client = tencent.TencentSmsClient(
        secret_id=tencent_server.secret_id, secret_key="wrong", endpoint=tencent_server.base_url
    )
    reply = client.call(
        "SendSms", {"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400000000", "TemplateId": "1110"}
    )
    assert reply.status_code == 200
    assert reply.error_code == "AuthFailure.SignatureFailure"
    assert reply.request_id
    (result,) = TencentSmsProvider(client, sdk_app_id="1400000000").send(
        SendBatch(template="1110", recipients=[Recipient("+8613800138000", {"1": "1"})])
    )
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "AuthFailure.SignatureFailure")
    assert tencent_server.sent == []


def test_tencent_changed_body_stale_timestamp_and_unknown_key_are_refused(tencent_server, tencent_provider):
    payload = {"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400000000", "TemplateId": "1110"}
    request = tencent_provider.client.signed_request("SendSms", payload)
    forged = httpx.post(str(request.url), headers=request.headers, content=request.content.replace(b"138", b"139"))
    assert forged.json()["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"

    stale = tencent.TencentSmsClient(
        secret_id=tencent_server.secret_id,
        secret_key=tencent_server.secret_key,
        endpoint=tencent_server.base_url,
        clock=lambda: time.time() - 3600,
    )
    assert stale.call("SendSms", payload).error_code == "AuthFailure.SignatureExpire"

    stranger = tencent.TencentSmsClient(secret_id="AKID-nobody", secret_key="x", endpoint=tencent_server.base_url)
    assert stranger.call("SendSms", payload).error_code == "AuthFailure.SecretIdNotFound"

    mangled = httpx.post(
        str(request.url),
        headers={**request.headers, "authorization": "TC3-HMAC-SHA256 nonsense"},
        content=request.content,
    )
    assert mangled.json()["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
    doubled = httpx.post(
        str(request.url),
        headers=[*request.headers.multi_items(), ("Authorization", "TC3-HMAC-SHA256 nonsense")],
        content=request.content,
    )
    assert doubled.json()["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
    assert tencent_server.sent == []


def test_tencent_batch_limit_and_splitting(tencent_server, tencent_provider):
    over = tencent_provider.client.call(
        "SendSms",
        {"PhoneNumberSet": numbers(201), "SmsSdkAppId": "1400000000", "TemplateId": "1110", "TemplateParamSet": ["1"]},
    )
    assert over.error_code == "LimitExceeded.PhoneNumberCountLimit"
    assert tencent.classify(over.error_code) is Outcome.PERMANENT  # the same request fails every time

    results = tencent_provider.send(
        SendBatch(template="1110", recipients=[Recipient(p, {"1": "x"}) for p in numbers(450)])
    )
    assert all(r.accepted for r in results)
    sizes = [len(json.loads(r.incoming.body)["PhoneNumberSet"]) for r in tencent_server.requests[1:]]
    assert sizes == [200, 200, 50]
    assert len({r.provider_message_id for r in results}) == 450


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("Ok", Outcome.ACCEPTED),
        ("LimitExceeded.PhoneNumberThirtySecondLimit", Outcome.TEMPORARY),
        ("LimitExceeded.DeliveryFrequencyLimit", Outcome.TEMPORARY),
        ("RequestLimitExceeded", Outcome.TEMPORARY),
        ("InternalError.Timeout", Outcome.TEMPORARY),
        ("InternalError", Outcome.TEMPORARY),
        ("FailedOperation.TemplateIncorrectOrUnapproved", Outcome.PERMANENT),
        ("FailedOperation.PhoneNumberInBlacklist", Outcome.PERMANENT),
        ("InvalidParameterValue.IncorrectPhoneNumber", Outcome.PERMANENT),
        ("AuthFailure.SignatureFailure", Outcome.PERMANENT),
        ("LimitExceeded.PhoneNumberCountLimit", Outcome.PERMANENT),
    ],
)
def test_tencent_codes_are_classified(code, outcome):
    assert tencent.classify(code) is outcome


def test_tencent_request_level_errors_apply_to_every_number(tencent_server, tencent_provider):
    tencent_server.fail_next(code="InternalError.Timeout")
    batch = SendBatch(template="1110", recipients=[Recipient(p, {"1": "x"}) for p in numbers(3)])
    results = tencent_provider.send(batch)
    assert {(r.outcome, r.code, r.maybe_sent) for r in results} == {(Outcome.TEMPORARY, "InternalError.Timeout", True)}
    tencent_server.fail_next(code="InternalError")
    (busy,) = tencent_provider.send(SendBatch(template="1110", recipients=[Recipient("+8613800138000", {"1": "x"})]))
    assert (busy.outcome, busy.retryable) == (Outcome.TEMPORARY, True)

    (unknown,) = tencent_provider.send(SendBatch(template="9999", recipients=[Recipient("+8613800138000", {"1": "x"})]))
    assert (unknown.outcome, unknown.code) == (Outcome.PERMANENT, "FailedOperation.TemplateIncorrectOrUnapproved")


# ----------------------------------------------------------------------------------- WeChat


def order_notice(*openids: str) -> SendBatch:
    return SendBatch(
        template="TPL-ORDER",
        recipients=[Recipient(o, {"thing1": "订单已发货", "amount2": "¥39.80"}, out_id=f"m-{o}") for o in openids],
        url="https://shop.example/orders/1",
    )


def test_wechat_template_message_with_a_cached_token(wechat_server, wechat_provider):
    results = wechat_provider.send(order_notice("o-alice", "o-bob"))
    wechat_provider.send(order_notice("o-alice"))

    assert all(r.accepted for r in results)
    assert results[0].provider_message_id
    assert wechat_server.tokens_issued == 1
    body = json.loads(wechat_server.requests_for(SEND_PATH)[0].incoming.body)
    assert body == {
        "touser": "o-alice",
        "template_id": "TPL-ORDER",
        "data": {"thing1": {"value": "订单已发货"}, "amount2": {"value": "¥39.80"}},
        "url": "https://shop.example/orders/1",
        "client_msg_id": "m-o-alice",
    }


def test_wechat_expired_token_is_refreshed_once_and_the_send_retried(wechat_server, wechat_provider):
    wechat_provider.send(order_notice("o-alice"))
    wechat_server.expire_tokens()
    (result,) = wechat_provider.send(order_notice("o-bob"))

    assert result.accepted
    assert wechat_server.tokens_issued == 2
    assert [r.code for r in wechat_server.requests_for(SEND_PATH)] == ["0", "42001", "0"]
    assert [m.to for m in wechat_server.sent] == ["o-alice", "o-bob"]


def test_wechat_refreshes_only_once(wechat_server, wechat_provider):
    wechat_server.fail_next(2, code=40001, path=SEND_PATH)
    (result,) = wechat_provider.send(order_notice("o-alice"))
    assert (result.outcome, result.code) == (Outcome.TEMPORARY, "40001")
    assert len(wechat_server.requests_for(SEND_PATH)) == 2
    assert wechat_server.sent == []


def test_wechat_token_is_fetched_again_after_expires_in():
    now = [1_000_000.0]
    with WechatStandIn(token_ttl=7200) as server:
        client = wechat.WechatClient(
            app_id=server.app_id, app_secret=server.app_secret, endpoint=server.base_url, clock=lambda: now[0]
        )
        first = client.access_token()
        now[0] += 3600
        assert client.access_token() == first
        now[0] += 3600  # within the refresh margin before expiry
        assert client.access_token() != first
        assert server.tokens_issued == 2


def test_wechat_errcodes_are_classified(wechat_server, wechat_provider):
    (not_following,) = wechat_provider.send(order_notice("o-stranger"))
    assert (not_following.outcome, not_following.code) == (Outcome.PERMANENT, "43004")
    assert not_following.message.startswith("require subscribe rid: ")

    wechat_server.fail_next(code=-1, path=SEND_PATH)
    (busy,) = wechat_provider.send(order_notice("o-alice"))
    assert (busy.outcome, busy.code, busy.retryable) == (Outcome.TEMPORARY, "-1", True)

    (bad_template,) = wechat_provider.send(SendBatch(template="TPL-NOPE", recipients=[Recipient("o-alice")]))
    assert (bad_template.outcome, bad_template.code) == (Outcome.PERMANENT, "40037")

    wechat_server.set_rate_limit(1)
    wechat_provider.send(order_notice("o-alice"))
    (quota,) = wechat_provider.send(order_notice("o-alice"))
    assert (quota.outcome, quota.code) == (Outcome.TEMPORARY, "45009")


def test_wechat_wrong_app_secret_fails_the_batch_with_one_token_request(wechat_server):
    provider = WechatTemplateProvider.from_config(
        {"app_id": wechat_server.app_id, "app_secret": "wrong", "endpoint": wechat_server.base_url}
    )
    results = provider.send(order_notice("o-alice", "o-bob"))
    assert {(r.outcome, r.code) for r in results} == {(Outcome.PERMANENT, "40125")}
    assert len(wechat_server.requests) == 1


def test_wechat_client_msg_id_sends_once(wechat_server, wechat_provider):
    first = wechat_provider.send(order_notice("o-alice"))[0]
    again = wechat_provider.send(order_notice("o-alice"))[0]
    assert first.provider_message_id == again.provider_message_id
    assert len(wechat_server.sent) == 1


def test_wechat_lost_answer_is_maybe_sent(wechat_server, wechat_provider):
    wechat_server.drop_next(after_processing=True, path=SEND_PATH)
    (result,) = wechat_provider.send(order_notice("o-alice"))
    assert (result.outcome, result.code, result.maybe_sent) == (Outcome.TEMPORARY, "network.error", True)
    assert len(wechat_server.sent) == 1


# ---------------------------------------------------------------------------------- receipts


def test_aliyun_sms_report_documented_example_is_parsed():
    body = """[{"phone_number": "13811112222", "send_time": "2017-01-01 00:00:00",
        "report_time": "2017-01-01 00:00:05", "success": true, "err_code": "DELIVERED",
        "err_msg": "用户接收成功", "sms_size": "1", "biz_id": "12345", "out_id": "67890"},
        {"phone_number": "13811113333", "send_time": "2017-01-01 00:00:00",
        "report_time": "2017-01-01 00:01:00", "success": false, "err_code": "UNDELIV",
        "err_msg": "用户接收失败", "sms_size": "1", "biz_id": "12345", "out_id": "67890"}]"""
    ok, failed = AliyunReceiptParser().parse(body.encode())

    assert (ok.provider_message_id, ok.to, ok.status, ok.out_id) == (
        "12345",
        "+8613811112222",
        ReceiptStatus.DELIVERED,
        "67890",
    )
    assert ok.at == dt.datetime(2016, 12, 31, 16, 0, 5, tzinfo=dt.UTC)
    assert (failed.status, failed.error_code, failed.error_text) == (ReceiptStatus.FAILED, "UNDELIV", "用户接收失败")
    assert json.loads(AliyunReceiptParser.reply_body) == {"code": 0, "msg": "接收成功"}


def test_aliyun_pushed_receipts_match_what_was_sent(aliyun_server, aliyun_provider):
    sent = aliyun_provider.send(otp("+8613800138000", "+8613900139000"))
    recorder = CallbackRecorder(reply=AliyunReceiptParser.reply_body).start()
    try:
        response = aliyun_server.push_receipts(recorder.base_url)
    finally:
        recorder.stop()
    assert response.json() == {"code": 0, "msg": "接收成功"}
    receipts = AliyunReceiptParser().parse(recorder.bodies[0])
    assert [(r.provider_message_id, r.to) for r in receipts] == [(s.provider_message_id, s.to) for s in sent]
    assert all(r.delivered and r.out_id == "batch-1" for r in receipts)


def test_tencent_status_callback_documented_example_is_parsed():
    body = json.dumps(
        [
            {
                "user_receive_time": "2015-10-17 08:03:04",
                "nationcode": "86",
                "mobile": "13800138000",
                "report_status": "SUCCESS",
                "errmsg": "DELIVRD",
                "description": "用户短信送达成功",
                "sid": "2433:1234",
            },
            {
                "user_receive_time": "2015-10-17 08:03:09",
                "nationcode": "852",
                "mobile": "51234567",
                "report_status": "FAIL",
                "errmsg": "UNDELIV",
                "description": "用户短信接收失败",
                "sid": "2433:5678",
            },
        ]
    )
    ok, failed = TencentReceiptParser().parse(body)
    assert (ok.provider_message_id, ok.to, ok.delivered) == ("2433:1234", "+8613800138000", True)
    assert ok.at == dt.datetime(2015, 10, 17, 0, 3, 4, tzinfo=dt.UTC)
    assert (failed.to, failed.status, failed.error_code) == ("+85251234567", ReceiptStatus.FAILED, "UNDELIV")
    assert json.loads(TencentReceiptParser.reply_body) == {"result": 0, "errmsg": "OK"}


def test_tencent_pushed_receipts_match_serial_numbers(tencent_server, tencent_provider):
    sent = tencent_provider.send(SendBatch(template="1110", recipients=[Recipient(p, {"1": "x"}) for p in numbers(2)]))
    recorder = CallbackRecorder(reply=TencentReceiptParser.reply_body).start()
    try:
        tencent_server.push_receipts(recorder.base_url, success=False)
    finally:
        recorder.stop()
    receipts = TencentReceiptParser().parse(recorder.bodies[0])
    assert [(r.provider_message_id, r.to, r.delivered) for r in receipts] == [
        (s.provider_message_id, s.to, False) for s in sent
    ]


def test_wechat_template_event_is_parsed_and_signed(wechat_server, wechat_provider):
    (sent,) = wechat_provider.send(order_notice("o-alice"))
    recorder = CallbackRecorder(reply=b"success", content_type="text/plain").start()
    try:
        wechat_server.push_events(recorder.base_url, status="failed:user block", token="cb-token")
    finally:
        recorder.stop()
    (request,) = recorder.requests
    query = request.incoming.query()
    assert wechat.callback_signature_valid(
        token="cb-token", timestamp=query["timestamp"], nonce=query["nonce"], signature=query["signature"]
    )
    (receipt,) = WechatTemplateEventParser().parse(request.incoming.body)
    assert (receipt.provider_message_id, receipt.to, receipt.status) == (
        sent.provider_message_id,
        "o-alice",
        ReceiptStatus.FAILED,
    )
    assert receipt.error_text == "user block"


def test_receipt_parsers_refuse_other_shapes():
    with pytest.raises(ReceiptFormatError):
        AliyunReceiptParser().parse(b"not json")
    with pytest.raises(ReceiptFormatError):
        TencentReceiptParser().parse(b'[{"mobile": "13800138000", "sid": "1", "report_status": "MAYBE"}]')
    with pytest.raises(ReceiptFormatError):
        WechatTemplateEventParser().parse(b'<!DOCTYPE x [<!ENTITY a "b">]><xml>&a;</xml>')
    assert WechatTemplateEventParser().parse(b"<xml><Event>subscribe</Event></xml>") == []


# ------------------------------------------------------------------------------------ console


def test_console_provider_writes_lines_and_accepts(tmp_path):
    stream = io.StringIO()
    results = ConsoleProvider(stream=stream).send(otp("+8613800138000", "+8613900139000"))
    assert all(r.accepted and r.provider_message_id.startswith("console-") for r in results)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["to"], line["params"], line["out_id"]) for line in lines] == [
        ("138****8000", {"code": "4711"}, "1"),
        ("139****9000", {"code": "4711"}, "2"),
    ]
    assert "+8613800138000" not in stream.getvalue()

    path = tmp_path / "var" / "messages.log"
    build_provider("console", path=path).send(otp("+8613800138000"))
    assert json.loads(path.read_text(encoding="utf-8"))["template"] == "SMS_OTP"
    assert "13800138000" not in path.read_text(encoding="utf-8")  # the file under var/ holds no number in clear
