"""Tencent Cloud SMS (API 2021-01-11, ``SendSms``) with the TC3-HMAC-SHA256 signature.

Signing follows Tencent Cloud's "签名方法 v3": the canonical request is method, ``/``, the canonical
query string (empty for POST), canonical headers (lower-cased names *and values*, trimmed, sorted —
we sign ``content-type``, ``host`` and ``x-tc-action`` as the official example does), the signed-header
list and the hex SHA-256 of the JSON body. The string to sign is ``TC3-HMAC-SHA256``, the request
timestamp, the credential scope ``<UTC date>/sms/tc3_request`` and the hex SHA-256 of the canonical
request, one per line. The key is derived HMAC-SHA256("TC3" + SecretKey, date) → service →
"tc3_request"; the signature is its hex HMAC of the string to sign.

One call takes up to 200 numbers sharing one ``TemplateParamSet``; the answer has one
``SendStatusSet`` entry per number (``Code`` "Ok" and a ``SerialNo``), or ``Response.Error`` when
the whole request was refused. Never retried here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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

API_VERSION = "2021-01-11"
SERVICE = "sms"
DEFAULT_ENDPOINT = "https://sms.tencentcloudapi.com"
DEFAULT_REGION = "ap-guangzhou"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SEND_SMS_LIMIT = 200
SESSION_CONTEXT_MAX = 512

# LimitExceeded.* is throttling (per number per 30 s / hour / day, per app per day) — except a request
# with too many numbers, which fails the same way every time.
PERMANENT_OVERRIDES = frozenset({"LimitExceeded.PhoneNumberCountLimit"})
# "请求下发短信超时": Tencent timed out handing the message on, so it may still go out — reconcile.
AMBIGUOUS_CODES = frozenset({"InternalError.Timeout"})
TEMPORARY_PREFIXES = ("LimitExceeded.", "RequestLimitExceeded", "InternalError", "ResourceUnavailable")


def classify(code: str) -> Outcome:
    """Map a Tencent code (``SendStatusSet[].Code`` or ``Response.Error.Code``) to an outcome."""
    if code == "Ok":
        return Outcome.ACCEPTED
    if code in PERMANENT_OVERRIDES:
        return Outcome.PERMANENT
    if code == "LimitExceeded" or code.startswith(TEMPORARY_PREFIXES):
        return Outcome.TEMPORARY
    # FailedOperation.*, InvalidParameterValue.*, InvalidParameter*, MissingParameter, AuthFailure.*,
    # UnauthorizedOperation.*, UnsupportedOperation.*: a retry gets the same answer.
    return Outcome.PERMANENT


# ------------------------------------------------------------------------------------- signing


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_signature(*, secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    secret_date = _hmac(("TC3" + secret_key).encode(), date)
    secret_service = _hmac(secret_date, service)
    secret_signing = _hmac(secret_service, "tc3_request")
    return hmac.new(secret_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class TC3Signed:
    authorization: str
    canonical_request: str
    string_to_sign: str


def tc3_sign(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    timestamp: int,
    headers: Mapping[str, str],
    body: bytes,
    method: str = "POST",
    canonical_query: str = "",
) -> TC3Signed:
    """Sign with every header given in ``headers`` (name → value as sent)."""
    lowered = sorted((k.lower(), v.strip().lower()) for k, v in headers.items())
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in lowered)
    signed_headers = ";".join(k for k, _ in lowered)
    canonical_request = "\n".join(
        [method.upper(), "/", canonical_query, canonical_headers, signed_headers, hashlib.sha256(body).hexdigest()]
    )
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    signature = tc3_signature(secret_key=secret_key, date=date, service=service, string_to_sign=string_to_sign)
    authorization = f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    return TC3Signed(authorization, canonical_request, string_to_sign)


# -------------------------------------------------------------------------------------- client


@dataclass(frozen=True)
class TencentReply:
    status_code: int
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def response(self) -> Mapping[str, Any]:
        response = self.body.get("Response")
        return response if isinstance(response, dict) else {}

    @property
    def error_code(self) -> str:
        error = self.response.get("Error")
        return str(error.get("Code") or "") if isinstance(error, dict) else ""

    @property
    def error_message(self) -> str:
        error = self.response.get("Error")
        return str(error.get("Message") or "") if isinstance(error, dict) else ""

    @property
    def request_id(self) -> str:
        return str(self.response.get("RequestId") or "")


class TencentSmsClient:
    """Signs and posts one Tencent Cloud API call. No retries."""

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        region: str = DEFAULT_REGION,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret_id or not secret_key:
            raise ValueError("Tencent Cloud SMS needs a SecretId and SecretKey")
        self.secret_id = secret_id
        self._secret_key = secret_key
        self.region = region
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"bad Tencent Cloud endpoint {endpoint!r}")
        self.endpoint = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.netloc
        self._http = http or shared_http_client()
        self._timeout = http_timeout(timeout)
        self._clock = clock

    def close(self) -> None:
        """Nothing to do for the shared pool; a client passed in is closed by whoever made it."""

    def signed_request(self, action: str, payload: Mapping[str, Any]) -> httpx.Request:
        body = compact_json(payload).encode()
        timestamp = int(self._clock())
        signed_part = {"content-type": CONTENT_TYPE, "host": self.host, "x-tc-action": action}
        signed = tc3_sign(
            secret_id=self.secret_id,
            secret_key=self._secret_key,
            service=SERVICE,
            timestamp=timestamp,
            headers=signed_part,
            body=body,
        )
        headers = {
            "Authorization": signed.authorization,
            "Content-Type": CONTENT_TYPE,
            "Host": self.host,
            "X-TC-Action": action,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": API_VERSION,
            "X-TC-Region": self.region,
        }
        return httpx.Request(
            "POST", f"{self.endpoint}/", headers=headers, content=body, extensions={"timeout": self._timeout.as_dict()}
        )

    def call(self, action: str, payload: Mapping[str, Any]) -> TencentReply:
        """Raises ``httpx.HTTPError`` on transport failure; any HTTP answer comes back as a reply."""
        response = self._http.send(self.signed_request(action, payload))
        try:
            body = response.json()
        except ValueError:
            body = {}
        return TencentReply(response.status_code, body if isinstance(body, dict) else {})


# ------------------------------------------------------------------------------------ provider


def template_param_set(params: Mapping[str, Any]) -> list[str]:
    """Tencent variables are positional ({1}, {2}, …): numeric keys in numeric order, else as given."""
    keys = list(params)
    if keys and all(str(k).isdigit() for k in keys):
        keys.sort(key=lambda k: int(k))
    return [str(params[k]) for k in keys]


class TencentSmsProvider:
    """SendBatch → SendSms calls of ≤200 numbers that share variables; results per number."""

    name = "tencent"
    max_batch = SEND_SMS_LIMIT

    def __init__(self, client: TencentSmsClient, *, sdk_app_id: str, sign_name: str = "") -> None:
        if not sdk_app_id:
            raise ValueError("Tencent Cloud SMS needs an SmsSdkAppId")
        self.client = client
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, sign_name: str = "", **client_kw: Any) -> TencentSmsProvider:
        """``config`` as in settings ``GUANXI_SMS_TENCENT``: secret_id, secret_key, sdk_app_id, region, endpoint."""
        client = TencentSmsClient(
            secret_id=config["secret_id"],
            secret_key=config["secret_key"],
            region=config.get("region") or DEFAULT_REGION,
            endpoint=config.get("endpoint") or DEFAULT_ENDPOINT,
            **client_kw,
        )
        return cls(client, sdk_app_id=str(config["sdk_app_id"]), sign_name=sign_name)

    def send(self, batch: SendBatch) -> list[SendResult]:
        results: dict[int, SendResult] = {}
        groups: dict[tuple[tuple[str, str], ...], list[tuple[int, Recipient]]] = defaultdict(list)
        for i, r in enumerate(batch.recipients):
            if not is_e164(r.to):
                results[i] = SendResult(r, Outcome.PERMANENT, code="guanxi.INVALID_NUMBER", message="not E.164")
            elif not batch.template:
                results[i] = SendResult(r, Outcome.PERMANENT, code="guanxi.CONFIG", message="no template")
            else:
                groups[params_key(r.params)].append((i, r))
        for members in groups.values():
            for call in chunked(members, SEND_SMS_LIMIT):
                recipients = [r for _, r in call]
                for (i, _), result in zip(call, self._call(batch, recipients), strict=True):
                    results[i] = result
        return [results[i] for i in range(len(batch.recipients))]

    def _payload(self, batch: SendBatch, recipients: Sequence[Recipient]) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "PhoneNumberSet": [r.to for r in recipients],
            "SmsSdkAppId": self.sdk_app_id,
            "TemplateId": batch.template,
        }
        sign = batch.sign_name or self.sign_name
        if sign:
            payload["SignName"] = sign
        if recipients[0].params:
            payload["TemplateParamSet"] = template_param_set(recipients[0].params)
        session = recipients[0].out_id if len(recipients) == 1 else batch.out_id
        if session:
            payload["SessionContext"] = session[:SESSION_CONTEXT_MAX]
        for option in ("ExtendCode", "SenderId"):
            if option in batch.options:
                payload[option] = str(batch.options[option])
        return payload

    def _call(self, batch: SendBatch, recipients: Sequence[Recipient]) -> list[SendResult]:
        try:
            reply = self.client.call("SendSms", self._payload(batch, recipients))
        except httpx.HTTPError as exc:
            code, message, maybe_sent = transport_failure(exc)
            return results_for(recipients, Outcome.TEMPORARY, code=code, message=message, maybe_sent=maybe_sent)
        if reply.error_code:
            return results_for(
                recipients,
                classify(reply.error_code),
                code=reply.error_code,
                message=reply.error_message,
                request_id=reply.request_id,
                maybe_sent=reply.error_code in AMBIGUOUS_CODES,
            )
        statuses = reply.response.get("SendStatusSet")
        if not isinstance(statuses, list):
            # No Tencent answer we can read: the numbers may or may not have been sent.
            return results_for(
                recipients,
                Outcome.TEMPORARY,
                code=f"http.{reply.status_code}",
                message="no SendStatusSet in the answer",
                request_id=reply.request_id,
                maybe_sent=True,
            )
        by_phone: dict[str, deque[Mapping[str, Any]]] = defaultdict(deque)
        for status in statuses:
            if isinstance(status, dict):
                by_phone[phone_to_e164(str(status.get("PhoneNumber") or ""))].append(status)
        results = []
        for r in recipients:
            queue = by_phone.get(r.to)
            if not queue:
                results.append(
                    SendResult(
                        r,
                        Outcome.TEMPORARY,
                        code="guanxi.NO_STATUS",
                        message="the answer has no status for this number",
                        request_id=reply.request_id,
                        maybe_sent=True,
                    )
                )
                continue
            status = queue.popleft()
            code = str(status.get("Code") or "")
            outcome = classify(code)
            results.append(
                SendResult(
                    r,
                    outcome,
                    provider_message_id=str(status.get("SerialNo") or "") if outcome is Outcome.ACCEPTED else "",
                    code=code,
                    message=str(status.get("Message") or ""),
                    request_id=reply.request_id,
                    maybe_sent=code in AMBIGUOUS_CODES,
                )
            )
        return results


# ------------------------------------------------------------------------------------ receipts


class TencentReceiptParser:
    """Status callback: a JSON array of {user_receive_time, nationcode, mobile, report_status
    (SUCCESS/FAIL), errmsg, description, sid}; ``sid`` is the SerialNo. Reply ``{"result":0,"errmsg":"OK"}``."""

    provider = "tencent"
    reply_body = compact_json({"result": 0, "errmsg": "OK"}).encode()
    reply_content_type = "application/json; charset=utf-8"

    def parse(self, body: bytes | str) -> list[Receipt]:
        payload = load_json(body)
        if isinstance(payload, dict):
            payload = [payload]
        if not isinstance(payload, list):
            raise ReceiptFormatError("status callback body must be a JSON array")
        receipts = []
        for item in payload:
            if not isinstance(item, dict) or "sid" not in item or "mobile" not in item:
                raise ReceiptFormatError(f"status callback item without sid/mobile: {item!r}")
            status = str(item.get("report_status") or "").upper()
            if status not in ("SUCCESS", "FAIL"):
                raise ReceiptFormatError(f"unknown report_status {status!r}")
            receipts.append(
                Receipt(
                    provider=self.provider,
                    provider_message_id=str(item["sid"]),
                    to=phone_to_e164(str(item["mobile"]), str(item.get("nationcode") or "86")),
                    status=ReceiptStatus.DELIVERED if status == "SUCCESS" else ReceiptStatus.FAILED,
                    error_code=str(item.get("errmsg") or ""),
                    error_text=str(item.get("description") or ""),
                    at=parse_china_time(item.get("user_receive_time")),
                    raw=item,
                )
            )
        return receipts
