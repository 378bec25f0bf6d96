"""A stand-in for Alibaba Cloud SMS (Dysmsapi 2017-05-25): SendSms, SendBatchSms, QuerySendDetails.

Requests are checked as the Alibaba Cloud gateway documents for the V3 signature — recomputed here
from the raw request (path, query string as received, signed headers, body bytes), with an RFC 3986
encoder of its own — then the SMS rules: required parameters, at most 1,000 numbers per SendSms and
100 per SendBatchSms, number format, known sign and template, template variables present. Answers
use the documented bodies: ``{"Code": "OK", "Message": "OK", "BizId": …, "RequestId": …}`` or the
error code with HTTP 200 for SMS errors, and the gateway's ``{"RequestId", "HostId", "Code",
"Message", "Recommend"}`` with an HTTP error status for signature and parameter errors.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from guanxi.messaging.providers.base import CHINA_TZ
from guanxi.messaging.standins.base import Incoming, Reply, SentMessage, StandIn

SEND_SMS_LIMIT = 1000
SEND_BATCH_SMS_LIMIT = 100
REQUIRED_SIGNED = (
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
)

# Gateway errors: (HTTP status, message).
GATEWAY_ERRORS: dict[str, tuple[int, str]] = {
    "IncompleteSignature": (400, "The request signature does not conform to Aliyun standards."),
    "SignatureDoesNotMatch": (400, "Specified signature does not match our calculation."),
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not found."),
    "SignatureNonceUsed": (400, "Specified signature nonce was used already."),
    "InvalidTimeStamp.Expired": (400, "Specified time stamp or date value is expired."),
    "InvalidVersion": (400, "Specified parameter Version is not valid."),
    "InvalidAction.NotFound": (404, "Specified api is not found, please check your url and method."),
    "Throttling.User": (400, "Request was denied due to user flow control."),
    "ServiceUnavailable": (503, "The request has failed due to a temporary failure of the server."),
    "InternalError": (500, "The request processing has failed due to some unknown error, exception or failure."),
}
# SMS errors (短信服务 API 错误码), answered with HTTP 200.
SMS_ERRORS: dict[str, str] = {
    "isv.BUSINESS_LIMIT_CONTROL": "触发云通信流控限制",
    "isv.DAY_LIMIT_CONTROL": "触发日发送限额",
    "isv.MOBILE_NUMBER_ILLEGAL": "非法手机号",
    "isv.MOBILE_COUNT_OVER_LIMIT": "手机号码数量超过限制",
    "isv.SMS_TEMPLATE_ILLEGAL": "该账号下找不到对应模板",
    "isv.SMS_SIGNATURE_ILLEGAL": "该账号下找不到对应签名",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模板变量缺少对应参数值",
    "isv.INVALID_JSON_PARAM": "JSON参数不合法，只接受字符串值",
    "isv.INVALID_PARAMETERS": "参数格式不正确",
    "isv.AMOUNT_NOT_ENOUGH": "账户余额不足",
    "isv.BLACK_KEY_CONTROL_LIMIT": "黑名单管控",
    "isp.SYSTEM_ERROR": "系统出现错误，请重新调用",
}

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_MAINLAND = re.compile(r"^(?:\+86|0086|86)?(1[3-9]\d{9})$")
_INTERNATIONAL = re.compile(r"^(?:\+|00)?([1-9]\d{7,14})$")


def rfc3986(text: str) -> str:
    """Written apart from the client's encoder on purpose: byte by byte over UTF-8."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def normalise_number(number: str) -> str | None:
    """How Dysmsapi reads a number: 11-digit mainland without prefix, or country code + number."""
    number = number.strip()
    if match := _MAINLAND.match(number):
        return match.group(1)
    match = _INTERNATIONAL.match(number)
    if match is None or match.group(1).startswith("86"):  # +86 but not a mainland mobile number
        return None
    return match.group(1)


@dataclass(frozen=True)
class Problem:
    code: str
    message: str


def verify_acs3(
    *, method: str, target: str, headers: Mapping[str, str], body: bytes, secrets_by_key: Mapping[str, str]
) -> Problem | None:
    """Recompute the ACS3-HMAC-SHA256 signature of a received request. ``headers`` lower-cased."""
    authorization = headers.get("authorization", "")
    algorithm, _, rest = authorization.partition(" ")
    fields: dict[str, str] = {}
    parts = [part.strip().partition("=") for part in rest.split(",")]
    for name, sep, value in parts:
        if sep and name not in fields:
            fields[name] = value
    well_formed = len(parts) == 3 and all(sep for _, sep, _ in parts)  # a second header joined in is not
    if (
        algorithm != "ACS3-HMAC-SHA256"
        or not well_formed
        or fields.keys() != {"Credential", "SignedHeaders", "Signature"}
    ):
        return Problem("IncompleteSignature", GATEWAY_ERRORS["IncompleteSignature"][1])
    secret = secrets_by_key.get(fields["Credential"])
    if secret is None:
        return Problem("InvalidAccessKeyId.NotFound", GATEWAY_ERRORS["InvalidAccessKeyId.NotFound"][1])
    signed = [h.strip().lower() for h in fields["SignedHeaders"].split(";") if h.strip()]
    must_sign = set(REQUIRED_SIGNED) | {h for h in headers if h.startswith("x-acs-") or h == "content-type"}
    if any(h not in headers for h in REQUIRED_SIGNED) or not must_sign <= set(signed):
        return Problem("IncompleteSignature", GATEWAY_ERRORS["IncompleteSignature"][1])
    if any(h not in headers for h in signed):
        return Problem("IncompleteSignature", GATEWAY_ERRORS["IncompleteSignature"][1])

    url = urlsplit(target)
    canonical_uri = "/".join(rfc3986(unquote(segment)) for segment in (url.path or "/").split("/"))
    pairs = []
    for item in url.query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((rfc3986(unquote(key)), rfc3986(unquote(value))))
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    ordered = sorted(set(signed))
    canonical_headers = "".join(f"{h}:{headers[h].strip()}\n" for h in ordered)
    canonical_request = "\n".join(
        [
            method.upper(),
            canonical_uri,
            canonical_query,
            canonical_headers,
            ";".join(ordered),
            hashlib.sha256(body).hexdigest(),  # what arrived, not what the header claims
        ]
    )
    string_to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    expected = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["Signature"].lower()):
        return Problem(
            "SignatureDoesNotMatch",
            f"Specified signature does not match our calculation. server StringToSign is [{string_to_sign}]",
        )
    return None


class AliyunSmsStandIn(StandIn):
    """Scripting: ``fail_next(code="isv.BUSINESS_LIMIT_CONTROL")``, ``fail_number("+86…",
    "isv.MOBILE_NUMBER_ILLEGAL")``, ``drop_next(after_processing=True)``, ``set_rate_limit(5)``.
    ``sent`` holds one ``SentMessage`` per number accepted; ``push_receipts(url)`` reports them."""

    provider = "aliyun"
    default_fail_code = "isp.SYSTEM_ERROR"
    throttle_code = "isv.BUSINESS_LIMIT_CONTROL"

    def __init__(
        self,
        *,
        access_key_id: str = "LTAI-standin",
        access_key_secret: str = "standin-secret",  # noqa: S107 — a test double's credential
        sign_names: Iterable[str] | None = None,
        templates: Mapping[str, Sequence[str]] | None = None,
        rate_limit: float | None = None,
        max_clock_skew: float = 900.0,
        host_id: str = "dysmsapi.aliyuncs.com",
    ) -> None:
        super().__init__(rate_limit=rate_limit)
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign_names = set(sign_names) if sign_names is not None else None
        # template code → names of the variables it needs; None accepts any template.
        self.templates = {k: tuple(v) for k, v in templates.items()} if templates is not None else None
        self.max_clock_skew = max_clock_skew
        self.host_id = host_id
        self.failing_numbers: dict[str, str] = {}
        self._nonces: dict[str, float] = {}
        self._nonce_lock = threading.Lock()

    # -- scripting

    def normalise_to(self, to: str) -> str:
        return normalise_number(to) or to

    def fail_number(self, phone: str, code: str = "isv.MOBILE_NUMBER_ILLEGAL") -> None:
        """Any call including ``phone`` fails with ``code`` (SendSms fails for all its numbers)."""
        key = normalise_number(phone) or phone
        with self._lock:
            self.failing_numbers[key] = code

    # -- replies

    def error_reply(self, code: str | int, message: str | None = None, http_status: int | None = None) -> Reply:
        code = str(code)
        request_id = self.request_id()
        gateway = code in GATEWAY_ERRORS or code.startswith("Missing") or (http_status or 200) != 200
        if gateway:
            status, default = GATEWAY_ERRORS.get(code, (http_status or 400, code))
            return Reply.json(
                http_status or status,
                {
                    "RequestId": request_id,
                    "HostId": self.host_id,
                    "Code": code,
                    "Message": message or default,
                    "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=Dysmsapi&requestId={request_id}",
                },
                code=code,
            )
        return Reply.json(
            200, {"Code": code, "Message": message or SMS_ERRORS.get(code, code), "RequestId": request_id}, code=code
        )

    def _missing(self, name: str) -> Reply:
        return self.error_reply(f"Missing{name}", f"{name} is mandatory for this action.", 400)

    # -- authentication

    def authenticate(self, incoming: Incoming) -> Reply | None:
        problem = verify_acs3(
            method=incoming.method,
            target=incoming.target,
            headers=incoming.headers,
            body=incoming.body,
            secrets_by_key={self.access_key_id: self.access_key_secret},
        )
        if problem is not None:
            return self.error_reply(problem.code, problem.message)
        try:
            sent_at = dt.datetime.strptime(incoming.headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            return self.error_reply("InvalidTimeStamp.Expired")
        if abs(incoming.received_at - sent_at.timestamp()) > self.max_clock_skew:
            return self.error_reply("InvalidTimeStamp.Expired")
        if not self._fresh_nonce(incoming.headers["x-acs-signature-nonce"], incoming.received_at):
            return self.error_reply("SignatureNonceUsed")
        if incoming.headers["x-acs-version"] != "2017-05-25":
            return self.error_reply("InvalidVersion")
        return None

    def _fresh_nonce(self, nonce: str, now: float) -> bool:
        with self._nonce_lock:
            if nonce in self._nonces:
                return False
            self._nonces[nonce] = now
            if len(self._nonces) > 100_000:  # forget nonces older than the clock-skew window
                horizon = now - 2 * self.max_clock_skew
                self._nonces = {k: t for k, t in self._nonces.items() if t >= horizon}
            return True

    # -- the API

    def process(self, incoming: Incoming) -> Reply:
        params = incoming.query()
        if incoming.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(incoming.body.decode("utf-8"), keep_blank_values=True))
        action = incoming.headers["x-acs-action"]
        if action == "SendSms":
            return self._send_sms(params)
        if action == "SendBatchSms":
            return self._send_batch_sms(params)
        if action == "QuerySendDetails":
            return self._query_send_details(params)
        return self.error_reply("InvalidAction.NotFound")

    def _send_sms(self, params: Mapping[str, str]) -> Reply:
        for name in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not params.get(name):
                return self._missing(name)
        phones = [p for p in params["PhoneNumbers"].split(",") if p.strip()]
        if len(phones) > SEND_SMS_LIMIT:
            return self.error_reply("isv.MOBILE_COUNT_OVER_LIMIT")
        variables: dict[str, str] = {}
        if params.get("TemplateParam"):
            parsed = _string_object(params["TemplateParam"])
            if parsed is None:
                return self.error_reply("isv.INVALID_JSON_PARAM")
            variables = parsed
        n = len(phones)
        return self._accept(phones, [params["SignName"]] * n, params["TemplateCode"], [variables] * n, params)

    def _send_batch_sms(self, params: Mapping[str, str]) -> Reply:
        for name in ("PhoneNumberJson", "SignNameJson", "TemplateCode"):
            if not params.get(name):
                return self._missing(name)
        phones = _string_list(params["PhoneNumberJson"])
        signs = _string_list(params["SignNameJson"])
        if phones is None or signs is None:
            return self.error_reply("isv.INVALID_JSON_PARAM")
        if len(phones) > SEND_BATCH_SMS_LIMIT:
            return self.error_reply("isv.MOBILE_COUNT_OVER_LIMIT")
        variables: list[dict[str, str]] = [{} for _ in phones]
        if params.get("TemplateParamJson"):
            try:
                raw = json.loads(params["TemplateParamJson"])
            except ValueError:
                return self.error_reply("isv.INVALID_JSON_PARAM")
            parsed = [_string_object(item) for item in raw] if isinstance(raw, list) else None
            if parsed is None or any(p is None for p in parsed):
                return self.error_reply("isv.INVALID_JSON_PARAM")
            variables = [p for p in parsed if p is not None]
        if not phones or len(signs) != len(phones) or len(variables) != len(phones):
            return self.error_reply("isv.INVALID_PARAMETERS", "手机号码、签名和模板变量的个数必须一致")
        return self._accept(phones, signs, params["TemplateCode"], variables, params)

    def _accept(
        self,
        phones: Sequence[str],
        signs: Sequence[str],
        template: str,
        variables: Sequence[Mapping[str, str]],
        params: Mapping[str, str],
    ) -> Reply:
        numbers = []
        for phone in phones:
            number = normalise_number(phone)
            if number is None:
                return self.error_reply("isv.MOBILE_NUMBER_ILLEGAL", f"非法手机号: {phone}")
            with self._lock:
                failing = self.failing_numbers.get(number)
            if failing:
                return self.error_reply(failing)
            numbers.append(number)
        if self.sign_names is not None and any(s not in self.sign_names for s in signs):
            return self.error_reply("isv.SMS_SIGNATURE_ILLEGAL")
        if self.templates is not None:
            if template not in self.templates:
                return self.error_reply("isv.SMS_TEMPLATE_ILLEGAL")
            needed = self.templates[template]
            if any(name not in v for v in variables for name in needed):
                return self.error_reply("isv.TEMPLATE_MISSING_PARAMETERS")
        biz_id = f"{secrets.randbelow(9 * 10**11) + 10**11}{self.next_id():07d}^0"
        request_id = self.request_id()
        for number, sign, values in zip(numbers, signs, variables, strict=True):
            self.record_sent(
                SentMessage(
                    provider_message_id=biz_id,
                    to=number,
                    template=template,
                    sign_name=sign,
                    params=dict(values),
                    out_id=params.get("OutId", ""),
                    request_id=request_id,
                )
            )
        return Reply.json(200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": request_id}, code="OK")

    def _query_send_details(self, params: Mapping[str, str]) -> Reply:
        for name in ("PhoneNumber", "SendDate", "PageSize", "CurrentPage"):
            if not params.get(name):
                return self._missing(name)
        number = normalise_number(params["PhoneNumber"])
        with self._lock:
            found = [
                m
                for m in self.sent
                if m.to == number
                and (not params.get("BizId") or m.provider_message_id == params["BizId"])
                and _china(m.at).strftime("%Y%m%d") == params["SendDate"]
            ]
        size, page = int(params["PageSize"]), int(params["CurrentPage"])
        shown = found[(page - 1) * size : page * size]
        status = {"pending": 1, "failed": 2, "delivered": 3}
        details = [
            {
                "PhoneNum": m.to,
                "SendStatus": status[m.status],
                "ErrCode": {"pending": "", "failed": "UNDELIV", "delivered": "DELIVERED"}[m.status],
                "TemplateCode": m.template,
                "Content": f"【{m.sign_name}】{m.template} {json.dumps(m.params, ensure_ascii=False)}",
                "SendDate": _china(m.at).strftime("%Y-%m-%d %H:%M:%S"),
                "ReceiveDate": "" if m.status == "pending" else _china(m.at).strftime("%Y-%m-%d %H:%M:%S"),
                "OutId": m.out_id,
            }
            for m in shown
        ]
        return Reply.json(
            200,
            {
                "Code": "OK",
                "Message": "OK",
                "RequestId": self.request_id(),
                "TotalCount": len(found),
                "SmsSendDetailDTOs": {"SmsSendDetailDTO": details},
            },
            code="OK",
        )

    # -- delivery receipts

    def receipt_items(
        self,
        messages: Iterable[SentMessage] | None = None,
        *,
        success: bool = True,
        err_code: str | None = None,
        err_msg: str | None = None,
    ) -> list[dict[str, Any]]:
        """SmsReport items for ``messages`` (default: every one not yet reported), marking them."""
        with self._lock:
            chosen = list(messages) if messages is not None else [m for m in self.sent if m.status == "pending"]
            items = []
            now = dt.datetime.now(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")
            for m in chosen:
                m.status = "delivered" if success else "failed"
                items.append(
                    {
                        "phone_number": m.to,
                        "send_time": _china(m.at).strftime("%Y-%m-%d %H:%M:%S"),
                        "report_time": now,
                        "success": success,
                        "err_code": err_code or ("DELIVERED" if success else "UNDELIV"),
                        "err_msg": err_msg or ("用户接收成功" if success else "用户接收失败"),
                        "sms_size": "1",
                        "biz_id": m.provider_message_id,
                        "out_id": m.out_id,
                    }
                )
        return items

    def push_receipts(
        self, url: str, messages: Iterable[SentMessage] | None = None, *, timeout: float = 5.0, **kw: Any
    ) -> httpx.Response:
        """POST one SmsReport push (a JSON array) to ``url``, as Aliyun's HTTP batch push does.
        Aliyun does not sign its pushes: ``url`` is the callback URL as configured at the provider,
        Guanxi's endpoint secret included (``…/receipts/?token=…``).
        """
        body = json.dumps(self.receipt_items(messages, **kw), ensure_ascii=False).encode("utf-8")
        return httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=timeout)


def _china(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, CHINA_TZ)


def _string_object(raw: Any) -> dict[str, str] | None:
    """Template variables: a JSON object of strings (Aliyun: "只接受字符串值")."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        return None
    return {str(k): v for k, v in raw.items()}


def _string_list(raw: str) -> list[str] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value
