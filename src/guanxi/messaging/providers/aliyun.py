"""Alibaba Cloud SMS (Dysmsapi, API version 2017-05-25) over HTTPS with the V3 signature.

Signing follows "V3版本请求体&签名机制" (help.aliyun.com, ACS3-HMAC-SHA256): the canonical request is
method, canonical URI ("/" for RPC-style APIs), canonical query string (RFC 3986 encoded, sorted),
canonical headers (``host``, ``content-type`` and every ``x-acs-*`` header: lower-cased names, trimmed
values, sorted), the signed-header list and the hex SHA-256 of the body; the string to sign is
``ACS3-HMAC-SHA256\\n`` + hex SHA-256 of the canonical request; the signature is hex HMAC-SHA256 with
the AccessKey secret. Parameters travel in the query string, as the official SDK sends them
(``dysmsapi20170525`` puts every SendSms/SendBatchSms parameter in ``query``), and the body is empty.

``SendSms`` takes up to 1,000 numbers sharing one set of variables; ``SendBatchSms`` up to 100 numbers
each with its own sign and variables. Both answer once per call (one ``BizId`` for every number), so a
receipt is matched by ``biz_id`` *and* phone. Neither call is idempotent: this module never retries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from guanxi.messaging.providers.base import (
    Outcome,
    Receipt,
    ReceiptFormatError,
    ReceiptStatus,
    Recipient,
    SendBatch,
    SendResult,
    chunked,
    compact_json,
    http_timeout,
    is_e164,
    load_json,
    params_key,
    parse_china_time,
    phone_to_e164,
    results_for,
    shared_http_client,
    transport_failure,
)

API_VERSION = "2017-05-25"
DEFAULT_ENDPOINT = "https://dysmsapi.aliyuncs.com"
ALGORITHM = "ACS3-HMAC-SHA256"
SEND_SMS_LIMIT = 1000
SEND_BATCH_SMS_LIMIT = 100
OUT_ID_MAX = 255  # "外部流水扩展字段，长度小于256的字符串"

# Codes worth another try later. Everything else the provider answers is final for that message.
TEMPORARY_CODES = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",  # flow control (per number per minute/hour/day, or per account)
        "isv.DAY_LIMIT_CONTROL",  # the account's daily cap set in the console
        "isv.MONTH_LIMIT_CONTROL",
        "isp.SYSTEM_ERROR",
        "isp.GATEWAY_ERROR",
        "ServiceUnavailable",
        "InternalError",
        "SignatureNonceUsed",  # our nonce collided; the request was refused, a new one will differ
    }
)
TEMPORARY_PREFIXES = ("Throttling", "ServiceUnavailable", "InternalError", "isp.")


def classify(code: str, http_status: int = 200) -> Outcome:
    """Map an Aliyun answer to an outcome (documented codes: 短信服务 API 错误码)."""
    if code == "OK":
        return Outcome.ACCEPTED
    if code in TEMPORARY_CODES or code.startswith(TEMPORARY_PREFIXES):
        return Outcome.TEMPORARY
    if not code and http_status >= 500:
        return Outcome.TEMPORARY
    return Outcome.PERMANENT


# ------------------------------------------------------------------------------------- signing


def percent_encode(value: str) -> str:
    """RFC 3986: unreserved characters (A-Z a-z 0-9 - _ . ~) stay, everything else is %XX of UTF-8."""
    return quote(value, safe="-_.~")


def canonical_query_string(params: Mapping[str, str]) -> str:
    pairs = sorted((percent_encode(k), percent_encode(v)) for k, v in params.items())
    return "&".join(f"{k}={v}" for k, v in pairs)


def _signed_header_names(headers: Mapping[str, str]) -> list[str]:
    names = {k.lower() for k in headers}
    return sorted(n for n in names if n in ("host", "content-type") or n.startswith("x-acs-"))


def acs3_authorization(
    *,
    method: str,
    canonical_uri: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    access_key_id: str,
    access_key_secret: str,
) -> tuple[str, str]:
    """(Authorization header, canonical request). ``headers`` must hold ``x-acs-content-sha256``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    names = _signed_header_names(lowered)
    canonical_headers = "".join(f"{n}:{lowered[n].strip()}\n" for n in names)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        [
            method.upper(),
            canonical_uri,
            canonical_query_string(query),
            canonical_headers,
            signed_headers,
            lowered["x-acs-content-sha256"],
        ]
    )
    string_to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    signature = hmac.new(access_key_secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = f"{ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}"
    return authorization, canonical_request


def acs3_date(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -------------------------------------------------------------------------------------- client


@dataclass(frozen=True)
class AliyunReply:
    """One HTTP answer: Dysmsapi bodies carry ``Code``/``Message``/``RequestId`` (and ``BizId``)."""

    status_code: int
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return str(self.body.get("Code") or "")

    @property
    def message(self) -> str:
        return str(self.body.get("Message") or "")

    @property
    def request_id(self) -> str:
        return str(self.body.get("RequestId") or "")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AliyunSmsClient:
    """Signs and posts one Dysmsapi call. No retries: SendSms is not idempotent."""

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
        nonce: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        if not access_key_id or not access_key_secret:
            raise ValueError("Aliyun SMS needs an AccessKey id and secret")
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"bad Aliyun endpoint {endpoint!r}")
        self.endpoint = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.netloc
        self._http = http or shared_http_client()
        self._timeout = http_timeout(timeout)
        self._clock = clock
        self._nonce = nonce

    def close(self) -> None:
        """Nothing to do for the shared pool; a client passed in is closed by whoever made it."""

    def signed_request(self, action: str, params: Mapping[str, str]) -> httpx.Request:
        """The exact request ``call`` sends (tests tamper with it to prove the server checks)."""
        query = {k: str(v) for k, v in params.items()}
        body = b""
        headers = {
            "host": self.host,
            "x-acs-action": action,
            "x-acs-version": API_VERSION,
            "x-acs-date": acs3_date(self._clock()),
            "x-acs-signature-nonce": self._nonce(),
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        }
        authorization, _ = acs3_authorization(
            method="POST",
            canonical_uri="/",
            query=query,
            headers=headers,
            access_key_id=self.access_key_id,
            access_key_secret=self._secret,
        )
        url = f"{self.endpoint}/?{canonical_query_string(query)}" if query else f"{self.endpoint}/"
        return httpx.Request(
            "POST",
            url,
            headers={**headers, "authorization": authorization, "accept": "application/json"},
            content=body,
            extensions={"timeout": self._timeout.as_dict()},
        )

    def call(self, action: str, params: Mapping[str, str]) -> AliyunReply:
        """Raises ``httpx.HTTPError`` on transport failure; any HTTP answer comes back as a reply."""
        response = self._http.send(self.signed_request(action, params))
        try:
            body = response.json()
        except ValueError:
            body = {}
        return AliyunReply(response.status_code, body if isinstance(body, dict) else {})

    def query_send_details(
        self, *, phone: str, send_date: dt.date, biz_id: str = "", page_size: int = 50, page: int = 1
    ) -> AliyunReply:
        """QuerySendDetails: how the queue reconciles a send whose answer was lost (``maybe_sent``)."""
        params = {
            "PhoneNumber": _aliyun_number(phone),
            "SendDate": send_date.strftime("%Y%m%d"),
            "PageSize": str(page_size),
            "CurrentPage": str(page),
        }
        if biz_id:
            params["BizId"] = biz_id
        return self.call("QuerySendDetails", params)


# ------------------------------------------------------------------------------------ provider


def _aliyun_number(phone: str) -> str:
    """Dysmsapi wants mainland numbers bare (or with 86) and others as country code + number, no '+'."""
    if phone.startswith("+86"):
        return phone[3:]
    return phone.lstrip("+")


class AliyunSmsProvider:
    """SendBatch → SendSms (recipients sharing variables, ≤1,000) and SendBatchSms (≤100 distinct)."""

    name = "aliyun"
    max_batch = SEND_SMS_LIMIT

    def __init__(self, client: AliyunSmsClient, *, sign_name: str = "") -> None:
        self.client = client
        self.sign_name = sign_name

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, sign_name: str = "", **client_kw: Any) -> AliyunSmsProvider:
        """``config`` as in settings ``GUANXI_SMS_ALIYUN``: access_key_id, access_key_secret, endpoint."""
        client = AliyunSmsClient(
            access_key_id=config["access_key_id"],
            access_key_secret=config["access_key_secret"],
            endpoint=config.get("endpoint") or DEFAULT_ENDPOINT,
            **client_kw,
        )
        return cls(client, sign_name=sign_name)

    def send(self, batch: SendBatch) -> list[SendResult]:
        results: dict[int, SendResult] = {}
        sign = batch.sign_name or self.sign_name
        valid: list[tuple[int, Recipient]] = []
        for i, r in enumerate(batch.recipients):
            if not is_e164(r.to):
                # One illegal number fails the whole SendSms call for everyone; refuse it here instead.
                results[i] = SendResult(r, Outcome.PERMANENT, code="guanxi.INVALID_NUMBER", message="not E.164")
            elif not sign or not batch.template:
                results[i] = SendResult(r, Outcome.PERMANENT, code="guanxi.CONFIG", message="no sign or template")
            else:
                valid.append((i, r))
        for call in self._plan(valid):
            action, params = self._params(batch, sign, [r for _, r in call])
            for (i, _), result in zip(call, self._call(action, params, [r for _, r in call]), strict=True):
                results[i] = result
        return [results[i] for i in range(len(batch.recipients))]

    def _plan(self, valid: list[tuple[int, Recipient]]) -> list[Sequence[tuple[int, Recipient]]]:
        """Group recipients with equal variables into SendSms calls; the rest go 100 at a time by SendBatchSms."""
        groups: dict[tuple[tuple[str, str], ...], list[tuple[int, Recipient]]] = {}
        for item in valid:
            groups.setdefault(params_key(item[1].params), []).append(item)
        calls: list[Sequence[tuple[int, Recipient]]] = []
        singles: list[tuple[int, Recipient]] = []
        for members in groups.values():
            if len(members) == 1:
                singles.append(members[0])
            else:
                calls.extend(chunked(members, SEND_SMS_LIMIT))
        calls.extend(chunked(singles, SEND_BATCH_SMS_LIMIT))
        return calls

    def _params(self, batch: SendBatch, sign: str, recipients: Sequence[Recipient]) -> tuple[str, dict[str, str]]:
        out_id = recipients[0].out_id if len(recipients) == 1 else batch.out_id
        first = recipients[0].params
        same_params = all(params_key(r.params) == params_key(first) for r in recipients)
        if same_params:
            params = {
                "PhoneNumbers": ",".join(_aliyun_number(r.to) for r in recipients),
                "SignName": sign,
                "TemplateCode": batch.template,
            }
            if first:
                params["TemplateParam"] = compact_json({str(k): str(v) for k, v in first.items()})
            if extend := batch.options.get("SmsUpExtendCode"):
                params["SmsUpExtendCode"] = str(extend)
            action = "SendSms"
        else:
            params = {
                "PhoneNumberJson": compact_json([_aliyun_number(r.to) for r in recipients]),
                "SignNameJson": compact_json([sign] * len(recipients)),
                "TemplateCode": batch.template,
                "TemplateParamJson": compact_json([{str(k): str(v) for k, v in r.params.items()} for r in recipients]),
            }
            if extend := batch.options.get("SmsUpExtendCode"):
                params["SmsUpExtendCodeJson"] = compact_json([str(extend)] * len(recipients))
            action = "SendBatchSms"
        if out_id:
            params["OutId"] = out_id[:OUT_ID_MAX]
        return action, params

    def _call(self, action: str, params: Mapping[str, str], recipients: Sequence[Recipient]) -> list[SendResult]:
        try:
            reply = self.client.call(action, params)
        except httpx.HTTPError as exc:
            code, message, maybe_sent = transport_failure(exc)
            return results_for(recipients, Outcome.TEMPORARY, code=code, message=message, maybe_sent=maybe_sent)
        if not reply.code:
            # No Dysmsapi answer in the body (a proxy's 502 page, say): we cannot tell what happened.
            outcome = Outcome.TEMPORARY if reply.status_code >= 500 else Outcome.PERMANENT
            return results_for(
                recipients,
                outcome,
                code=f"http.{reply.status_code}",
                message="no Dysmsapi body",
                maybe_sent=reply.status_code >= 500,
            )
        outcome = classify(reply.code, reply.status_code)
        return results_for(
            recipients,
            outcome,
            provider_message_id=str(reply.body.get("BizId") or "") if reply.code == "OK" else "",
            code=reply.code,
            message=reply.message,
            request_id=reply.request_id,
            # A 500/502/504 may come after the backend acted; only 503 says it was turned away.
            maybe_sent=outcome is Outcome.TEMPORARY and reply.status_code >= 500 and reply.status_code != 503,
        )


# ------------------------------------------------------------------------------------ receipts


class AliyunReceiptParser:
    """SmsReport push: a JSON array of {phone_number, send_time, report_time, success, err_code, err_msg,
    sms_size, biz_id, out_id}; Aliyun expects ``{"code": 0, "msg": "接收成功"}`` and retries otherwise."""

    provider = "aliyun"
    reply_body = compact_json({"code": 0, "msg": "接收成功"}).encode()
    reply_content_type = "application/json; charset=utf-8"

    def parse(self, body: bytes | str) -> list[Receipt]:
        payload = load_json(body)
        if isinstance(payload, dict):
            payload = [payload]
        if not isinstance(payload, list):
            raise ReceiptFormatError("SmsReport body must be a JSON array")
        receipts = []
        for item in payload:
            if not isinstance(item, dict) or "biz_id" not in item or "phone_number" not in item:
                raise ReceiptFormatError(f"SmsReport item without biz_id/phone_number: {item!r}")
            success = item.get("success")
            delivered = success is True or str(success).lower() == "true"
            receipts.append(
                Receipt(
                    provider=self.provider,
                    provider_message_id=str(item["biz_id"]),
                    to=phone_to_e164(str(item["phone_number"])),
                    status=ReceiptStatus.DELIVERED if delivered else ReceiptStatus.FAILED,
                    error_code=str(item.get("err_code") or ""),
                    error_text=str(item.get("err_msg") or ""),
                    at=parse_china_time(item.get("report_time")),
                    out_id=str(item.get("out_id") or ""),
                    raw=item,
                )
            )
        return receipts
