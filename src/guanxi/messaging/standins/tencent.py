"""A stand-in for Tencent Cloud SMS (API 2021-01-11): ``SendSms``.

Checks as Tencent Cloud documents for TC3-HMAC-SHA256, from the raw request: the Authorization
header's credential scope (date = UTC date of ``X-TC-Timestamp``, service ``sms``), ``content-type``
and ``host`` among the signed headers, the timestamp within five minutes, and the signature
recomputed from the received headers (lower-cased, trimmed values) and body bytes. Then the SMS
rules: ``PhoneNumberSet`` (1–200 numbers), ``SmsSdkAppId``, ``TemplateId``, known sign and template.
Answers ``{"Response": {"SendStatusSet": [...], "RequestId": …}}`` with one entry per number, or
``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`` (HTTP 200, as Tencent Cloud does).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from guanxi.messaging.providers.base import CHINA_TZ
from guanxi.messaging.standins.base import Incoming, Reply, SentMessage, StandIn

SEND_SMS_LIMIT = 200

ERRORS: dict[str, str] = {
    "AuthFailure.InvalidAuthorization": "请求头部的 Authorization 不符合腾讯云标准。",
    "AuthFailure.SecretIdNotFound": "密钥不存在。",
    "AuthFailure.SignatureExpire": "签名过期。Timestamp 和服务器时间相差不得超过五分钟。",
    "AuthFailure.SignatureFailure": (
        "The provided credentials could not be validated. Please check your signature is correct."
    ),
    "InvalidAction": "接口不存在。",
    "NoSuchVersion": "接口版本不存在。",
    "MissingParameter": "缺少参数错误。",
    "InvalidParameter": "参数错误。",
    "RequestLimitExceeded": "请求的次数超过了频率限制。",
    "InternalError": "内部错误。",
    "InternalError.Timeout": "请求下发短信超时。",
    "FailedOperation.FailResolvePacket": "请求包解析失败。",
    "FailedOperation.SignatureIncorrectOrUnapproved": "签名未审批或格式错误。",
    "FailedOperation.TemplateIncorrectOrUnapproved": "模板未审批或内容不匹配。",
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": "请求内容与审核通过的模板内容不匹配。",
    "FailedOperation.PhoneNumberInBlacklist": "手机号在免打扰名单库中。",
    "InvalidParameterValue.IncorrectPhoneNumber": "手机号格式错误。",
    "InvalidParameterValue.SdkAppIdNotExist": "SdkAppId 不存在。",
    "LimitExceeded.PhoneNumberCountLimit": "单次提交的手机号个数超过200个。",
    "LimitExceeded.DeliveryFrequencyLimit": "下发短信命中了频率限制策略。",
    "LimitExceeded.PhoneNumberDailyLimit": "单个手机号日下发短信条数超过设定的上限。",
    "LimitExceeded.PhoneNumberThirtySecondLimit": "单个手机号30秒内下发短信条数超过设定的上限。",
}

_PHONE = re.compile(r"^(?:\+|00)?([1-9]\d{6,14})$")
_MAINLAND = re.compile(r"^1[3-9]\d{9}$")


def normalise_number(number: str) -> str | None:
    """E.164 with '+' as Tencent answers it; a bare 11-digit mainland number gets +86."""
    number = number.strip()
    if _MAINLAND.match(number):
        return "+86" + number
    match = _PHONE.match(number)
    if match is None:
        return None
    digits = match.group(1)
    if digits.startswith("86") and not _MAINLAND.match(digits[2:]):
        return None
    return "+" + digits


@dataclass(frozen=True)
class Problem:
    code: str
    message: str


def _hmac_sha256(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def verify_tc3(
    *,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets_by_id: Mapping[str, str],
    service: str = "sms",
    now: float | None = None,
    max_clock_skew: float = 300.0,
) -> Problem | None:
    """Recompute the TC3-HMAC-SHA256 signature of a received request. ``headers`` lower-cased.
    ``now=None`` skips the clock check (for checking published examples)."""
    authorization = headers.get("authorization", "")
    algorithm, _, rest = authorization.partition(" ")
    fields: dict[str, str] = {}
    parts = [part.strip().partition("=") for part in rest.split(",")]
    for name, sep, value in parts:
        if sep and name not in fields:
            fields[name] = value.strip()
    well_formed = len(parts) == 3 and all(sep for _, sep, _ in parts)  # a second header joined in is not
    invalid = Problem("AuthFailure.InvalidAuthorization", ERRORS["AuthFailure.InvalidAuthorization"])
    if (
        algorithm != "TC3-HMAC-SHA256"
        or not well_formed
        or fields.keys() != {"Credential", "SignedHeaders", "Signature"}
    ):
        return invalid
    scope = fields["Credential"].split("/")
    if len(scope) != 4 or scope[3] != "tc3_request":
        return invalid
    secret_id, date, scope_service, _ = scope
    secret_key = secrets_by_id.get(secret_id)
    if secret_key is None:
        return Problem("AuthFailure.SecretIdNotFound", ERRORS["AuthFailure.SecretIdNotFound"])
    timestamp = headers.get("x-tc-timestamp", "")
    if not timestamp.isdigit():
        return Problem("MissingParameter", "The request is missing a required parameter `Timestamp`.")
    if now is not None and abs(now - int(timestamp)) > max_clock_skew:
        return Problem("AuthFailure.SignatureExpire", ERRORS["AuthFailure.SignatureExpire"])
    signed = [h.strip().lower() for h in fields["SignedHeaders"].split(";") if h.strip()]
    if not {"content-type", "host"} <= set(signed) or any(h not in headers for h in signed):
        return invalid
    if scope_service != service:
        return invalid
    failure = Problem("AuthFailure.SignatureFailure", ERRORS["AuthFailure.SignatureFailure"])
    if date != time.strftime("%Y-%m-%d", time.gmtime(int(timestamp))):
        return failure  # the scope date must be the UTC date of the timestamp
    path, _, query = target.partition("?")
    ordered = sorted(set(signed))
    canonical = (
        f"{method.upper()}\n{path or '/'}\n{query}\n"
        + "".join(f"{h}:{headers[h].strip().lower()}\n" for h in ordered)
        + "\n"
        + ";".join(ordered)
        + "\n"
        + hashlib.sha256(body).hexdigest()
    )
    string_to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{scope_service}/tc3_request\n"
        + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    )
    key = _hmac_sha256(("TC3" + secret_key).encode("utf-8"), date)
    key = _hmac_sha256(key, scope_service)
    key = _hmac_sha256(key, "tc3_request")
    expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["Signature"].lower()):
        return failure
    return None


class TencentSmsStandIn(StandIn):
    """Scripting: ``fail_next(code="InternalError")`` (whole request), ``fail_number("+86…",
    "LimitExceeded.PhoneNumberDailyLimit")`` (that number's status), ``drop_next``, ``set_rate_limit``."""

    provider = "tencent"
    default_fail_code = "InternalError"
    throttle_code = "RequestLimitExceeded"

    def __init__(
        self,
        *,
        secret_id: str = "AKID-standin",  # noqa: S107 — a test double's credential
        secret_key: str = "standin-key",  # noqa: S107 — a test double's credential
        sdk_app_ids: Iterable[str] = ("1400000000",),
        sign_names: Iterable[str] | None = None,
        templates: Mapping[str, int] | None = None,
        rate_limit: float | None = None,
        max_clock_skew: float = 300.0,
    ) -> None:
        super().__init__(rate_limit=rate_limit)
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.sdk_app_ids = set(sdk_app_ids)
        self.sign_names = set(sign_names) if sign_names is not None else None
        # template id → number of variables; None accepts any template.
        self.templates = dict(templates) if templates is not None else None
        self.max_clock_skew = max_clock_skew
        self.failing_numbers: dict[str, str] = {}

    def normalise_to(self, to: str) -> str:
        return normalise_number(to) or to

    def fail_number(self, phone: str, code: str = "FailedOperation.PhoneNumberInBlacklist") -> None:
        key = normalise_number(phone) or phone
        with self._lock:
            self.failing_numbers[key] = code

    def error_reply(self, code: str | int, message: str | None = None, http_status: int | None = None) -> Reply:
        code = str(code)
        body: dict[str, dict[str, Any]] = {
            "Response": {"Error": {"Code": code, "Message": message or ERRORS.get(code, code)}}
        }
        body["Response"]["RequestId"] = self.request_id().lower()
        return Reply.json(http_status or 200, body, code=code)

    def authenticate(self, incoming: Incoming) -> Reply | None:
        problem = verify_tc3(
            method=incoming.method,
            target=incoming.target,
            headers=incoming.headers,
            body=incoming.body,
            secrets_by_id={self.secret_id: self.secret_key},
            now=incoming.received_at,
            max_clock_skew=self.max_clock_skew,
        )
        if problem is not None:
            return self.error_reply(problem.code, problem.message)
        if incoming.headers.get("x-tc-version") != "2021-01-11":
            return self.error_reply("NoSuchVersion")
        if not incoming.headers.get("x-tc-region"):
            return self.error_reply("MissingParameter", "The request is missing a required parameter `Region`.")
        return None

    def process(self, incoming: Incoming) -> Reply:
        if incoming.headers.get("x-tc-action") != "SendSms":
            return self.error_reply("InvalidAction")
        try:
            payload = json.loads(incoming.body)
        except ValueError:
            return self.error_reply("FailedOperation.FailResolvePacket")
        if not isinstance(payload, dict):
            return self.error_reply("FailedOperation.FailResolvePacket")
        for name in ("PhoneNumberSet", "SmsSdkAppId", "TemplateId"):
            if not payload.get(name):
                return self.error_reply("MissingParameter", f"The request is missing a required parameter `{name}`.")
        phones = payload["PhoneNumberSet"]
        params = payload.get("TemplateParamSet") or []
        if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
            return self.error_reply("InvalidParameter", "PhoneNumberSet must be an array of strings.")
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return self.error_reply("InvalidParameter", "TemplateParamSet must be an array of strings.")
        if len(phones) > SEND_SMS_LIMIT:
            return self.error_reply("LimitExceeded.PhoneNumberCountLimit")
        if str(payload["SmsSdkAppId"]) not in self.sdk_app_ids:
            return self.error_reply("InvalidParameterValue.SdkAppIdNotExist")
        sign = str(payload.get("SignName") or "")
        if self.sign_names is not None and sign not in self.sign_names:
            return self.error_reply("FailedOperation.SignatureIncorrectOrUnapproved")
        template = str(payload["TemplateId"])
        if self.templates is not None:
            if template not in self.templates:
                return self.error_reply("FailedOperation.TemplateIncorrectOrUnapproved")
            if len(params) != self.templates[template]:
                return self.error_reply("FailedOperation.TemplateParamSetNotMatchApprovedTemplate")
        session = str(payload.get("SessionContext") or "")
        request_id = self.request_id().lower()
        statuses: list[dict[str, Any]] = []
        for phone in phones:
            number = normalise_number(phone)
            with self._lock:
                failing = self.failing_numbers.get(number or phone)
            code = "InvalidParameterValue.IncorrectPhoneNumber" if number is None else failing or "Ok"
            serial = ""
            if code == "Ok":
                serial = f"2433:{self.next_id():012d}{int(time.time()) % 10**8:08d}"
                self.record_sent(
                    SentMessage(
                        provider_message_id=serial,
                        to=number or phone,
                        template=template,
                        sign_name=sign,
                        params=list(params),
                        out_id=session,
                        request_id=request_id,
                    )
                )
            statuses.append(
                {
                    "SerialNo": serial,
                    "PhoneNumber": number or phone,
                    "Fee": 1 if code == "Ok" else 0,
                    "SessionContext": session,
                    "Code": code,
                    "Message": "send success" if code == "Ok" else ERRORS.get(code, code),
                    "IsoCode": "CN" if (number or "").startswith("+86") else "",
                }
            )
        codes = {s["Code"] for s in statuses}
        return Reply.json(
            200,
            {"Response": {"SendStatusSet": statuses, "RequestId": request_id}},
            code="Ok" if codes == {"Ok"} else ",".join(sorted(codes)),
        )

    # -- delivery receipts

    def receipt_items(
        self,
        messages: Iterable[SentMessage] | None = None,
        *,
        success: bool = True,
        errmsg: str | None = None,
        description: str | None = None,
    ) -> list[dict[str, Any]]:
        """Status-callback items for ``messages`` (default: every one not yet reported), marking them."""
        with self._lock:
            chosen = list(messages) if messages is not None else [m for m in self.sent if m.status == "pending"]
            items = []
            now = dt.datetime.now(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")
            for m in chosen:
                m.status = "delivered" if success else "failed"
                nationcode, mobile = ("86", m.to[3:]) if m.to.startswith("+86") else ("", m.to.lstrip("+"))
                items.append(
                    {
                        "user_receive_time": now,
                        "nationcode": nationcode,
                        "mobile": mobile,
                        "report_status": "SUCCESS" if success else "FAIL",
                        "errmsg": errmsg or ("DELIVRD" if success else "UNDELIV"),
                        "description": description or ("用户短信送达成功" if success else "用户短信接收失败"),
                        "sid": m.provider_message_id,
                    }
                )
        return items

    def push_receipts(
        self, url: str, messages: Iterable[SentMessage] | None = None, *, timeout: float = 5.0, **kw: Any
    ) -> httpx.Response:
        """POST one status callback (a JSON array) to ``url``; Tencent expects ``{"result": 0}`` back.
        Tencent does not sign its pushes: ``url`` is the callback URL as configured at the provider,
        Guanxi's endpoint secret included (``…/receipts/?token=…``).
        """
        body = json.dumps(self.receipt_items(messages, **kw), ensure_ascii=False).encode("utf-8")
        return httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=timeout)
