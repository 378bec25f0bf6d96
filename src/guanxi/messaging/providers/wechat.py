"""WeChat Official Account template messages (service notices only — never marketing, see DOMAIN.md).

``POST /cgi-bin/message/template/send?access_token=…`` with ``touser``, ``template_id``, ``url``,
``data`` ({"keyword": {"value": "…"}}) and ``client_msg_id`` — WeChat's own dedupe key: for one
openid + client_msg_id it sends only one message within ten minutes, so we pass our message key.
The access token comes from ``GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…``
and is cached until shortly before ``expires_in``; when a send answers 40001/42001/40014 (token
invalid or expired — nothing was sent) the token is fetched again and the send retried once.

The cache here lives in one process. WeChat keeps only the newest token (the previous one stays
valid for five minutes), so several workers each fetching their own will invalidate each other:
production should pass a shared ``token_cache`` (Redis, database) implementing ``TokenCache``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
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
    compact_json,
    http_timeout,
    shared_http_client,
    transport_failure,
)

DEFAULT_ENDPOINT = "https://api.weixin.qq.com"
TOKEN_PATH = "/cgi-bin/token"  # noqa: S105 — a URL path, not a secret
TEMPLATE_SEND_PATH = "/cgi-bin/message/template/send"
CLIENT_MSG_ID_MAX = 64

TOKEN_INVALID = frozenset({40001, 40014, 42001})  # invalid credential / invalid token / token expired
TEMPORARY_ERRCODES = frozenset(
    {
        -1,  # system busy
        45009,  # api freq out of limit (daily quota)
        45011,  # api minute-quota reach limit
    }
)


def classify(errcode: int) -> Outcome:
    """0 accepted; busy and quota answers temporary; anything else (43004 not subscribed, 40003 bad
    openid, 40037 bad template, 47003 bad argument, 40013/40125 bad app credentials) permanent."""
    if errcode == 0:
        return Outcome.ACCEPTED
    if errcode in TEMPORARY_ERRCODES or errcode in TOKEN_INVALID:
        return Outcome.TEMPORARY
    return Outcome.PERMANENT


class WechatError(Exception):
    """No usable answer: the token could not be had (``during="token"``) or the send got no reply."""

    def __init__(
        self, errcode: int, errmsg: str, *, during: str = "send", maybe_sent: bool = False, code: str = ""
    ) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.during = during
        self.maybe_sent = maybe_sent
        self.code = code or str(errcode)  # "network.timeout" etc. when WeChat never answered


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float  # epoch seconds


class TokenCache(Protocol):
    """Where access tokens are kept; must be shared by every process that sends for one app."""

    def get(self, app_id: str) -> AccessToken | None: ...

    def set(self, app_id: str, token: AccessToken) -> None: ...

    def delete(self, app_id: str, value: str) -> None:
        """Forget the token only if it is still ``value`` (another thread may have refreshed it)."""
        ...


class MemoryTokenCache:
    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def get(self, app_id: str) -> AccessToken | None:
        with self._lock:
            return self._tokens.get(app_id)

    def set(self, app_id: str, token: AccessToken) -> None:
        with self._lock:
            self._tokens[app_id] = token

    def delete(self, app_id: str, value: str) -> None:
        with self._lock:
            if (current := self._tokens.get(app_id)) is not None and current.value == value:
                del self._tokens[app_id]


class WechatClient:
    """Access token management and the template-message call."""

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
        token_cache: TokenCache | None = None,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not app_id or not app_secret:
            raise ValueError("WeChat needs an AppID and AppSecret")
        self.app_id = app_id
        self._app_secret = app_secret
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"bad WeChat endpoint {endpoint!r}")
        self.endpoint = f"{parts.scheme}://{parts.netloc}"
        self._http = http or shared_http_client()
        self._timeout = http_timeout(timeout)
        self._tokens = token_cache or MemoryTokenCache()
        self._margin = refresh_margin
        self._clock = clock
        self._fetch_lock = threading.Lock()

    def close(self) -> None:
        """Nothing to do for the shared pool; a client passed in is closed by whoever made it."""

    def access_token(self) -> str:
        """A cached token, fetched once by one thread when missing or close to expiry."""
        token = self._tokens.get(self.app_id)
        if token is not None and token.expires_at > self._clock():
            return token.value
        with self._fetch_lock:
            token = self._tokens.get(self.app_id)
            if token is not None and token.expires_at > self._clock():
                return token.value
            return self._fetch_token()

    def invalidate(self, value: str) -> None:
        self._tokens.delete(self.app_id, value)

    def _fetch_token(self) -> str:
        try:
            response = self._http.get(
                f"{self.endpoint}{TOKEN_PATH}",
                params={"grant_type": "client_credential", "appid": self.app_id, "secret": self._app_secret},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            code, message, _ = transport_failure(exc)
            raise WechatError(-1, f"token: {message}", during="token", code=code) from exc  # nothing was sent
        body = _json(response)
        if not body.get("access_token"):
            errmsg = str(body.get("errmsg") or f"HTTP {response.status_code}")
            raise WechatError(int(body.get("errcode", -1)), errmsg, during="token")
        ttl = float(body.get("expires_in") or 7200)
        fetched = self._clock()
        # Refresh a little early; never treat a short-lived token as already expired.
        expires_at = fetched + max(ttl - self._margin, ttl / 2)
        self._tokens.set(self.app_id, AccessToken(str(body["access_token"]), expires_at))
        return str(body["access_token"])

    def send_template(self, message: Mapping[str, Any]) -> Mapping[str, Any]:
        """POST one template message; on a token error fetch a new token and try once more.

        Returns the WeChat body ({"errcode": 0, "errmsg": "ok", "msgid": …} or an error). Raises
        ``WechatError`` when no answer came back (``maybe_sent`` tells whether it may have gone out).
        """
        body: Mapping[str, Any] = {}
        for attempt in range(2):
            token = self.access_token()
            try:
                response = self._http.post(
                    f"{self.endpoint}{TEMPLATE_SEND_PATH}",
                    params={"access_token": token},
                    content=compact_json(message).encode(),
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    timeout=self._timeout,
                )
            except httpx.HTTPError as exc:
                code, text, maybe_sent = transport_failure(exc)
                raise WechatError(-1, text, maybe_sent=maybe_sent, code=code) from exc
            body = _json(response)
            if not body and response.status_code >= 500:
                raise WechatError(-1, "no WeChat body", maybe_sent=True, code=f"http.{response.status_code}")
            if int(body.get("errcode", 0)) in TOKEN_INVALID and attempt == 0:
                self.invalidate(token)
                continue
            return body
        return body


def _json(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class WechatTemplateProvider:
    """One template-message call per recipient (the API has no batch form)."""

    name = "wechat"
    max_batch = 100  # not an API limit: how many calls one send() makes before the queue checks back

    def __init__(self, client: WechatClient) -> None:
        self.client = client

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **client_kw: Any) -> WechatTemplateProvider:
        """``config`` as in settings ``GUANXI_WECHAT``: app_id, app_secret, endpoint."""
        client = WechatClient(
            app_id=config["app_id"],
            app_secret=config["app_secret"],
            endpoint=config.get("endpoint") or DEFAULT_ENDPOINT,
            **client_kw,
        )
        return cls(client)

    def message(self, batch: SendBatch, recipient: Recipient) -> dict[str, Any]:
        message: dict[str, Any] = {
            "touser": recipient.to,
            "template_id": batch.template,
            "data": {str(k): {"value": str(v)} for k, v in recipient.params.items()},
        }
        if batch.url:
            message["url"] = batch.url
        if "miniprogram" in batch.options:
            message["miniprogram"] = dict(batch.options["miniprogram"])
        if recipient.out_id:
            message["client_msg_id"] = recipient.out_id[:CLIENT_MSG_ID_MAX]
        return message

    def send(self, batch: SendBatch) -> list[SendResult]:
        results: list[SendResult] = []
        for index, recipient in enumerate(batch.recipients):
            try:
                body = self.client.send_template(self.message(batch, recipient))
            except WechatError as exc:
                outcome = Outcome.TEMPORARY if exc.maybe_sent else classify(exc.errcode)
                failed = SendResult(recipient, outcome, code=exc.code, message=exc.errmsg, maybe_sent=exc.maybe_sent)
                results.append(failed)
                if exc.during == "token":
                    # No token, no sends: answer the rest alike instead of asking for a token per recipient.
                    results.extend(
                        SendResult(r, outcome, code=failed.code, message=failed.message)
                        for r in batch.recipients[index + 1 :]
                    )
                    break
                continue
            errcode = int(body.get("errcode", 0))
            outcome = classify(errcode)
            results.append(
                SendResult(
                    recipient,
                    outcome,
                    provider_message_id=str(body.get("msgid") or "") if outcome is Outcome.ACCEPTED else "",
                    code=str(errcode),
                    message=str(body.get("errmsg") or ""),
                )
            )
        return results


# ------------------------------------------------------------------------------------ receipts


def callback_signature_valid(*, token: str, timestamp: str, nonce: str, signature: str) -> bool:
    """WeChat signs pushes to our server URL: sha1 of the sorted (token, timestamp, nonce), hex."""
    expected = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324 — WeChat's scheme
    return hmac.compare_digest(expected, signature)


class WechatTemplateEventParser:
    """TEMPLATESENDJOBFINISH event (XML) pushed when a template message was delivered or not.

    ``Status`` is ``success``, ``failed:user block`` or ``failed: system failed``; reply ``success``.
    """

    provider = "wechat"
    reply_body = b"success"
    reply_content_type = "text/plain; charset=utf-8"

    def parse(self, body: bytes | str) -> list[Receipt]:
        text = body.decode() if isinstance(body, bytes) else body
        if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
            raise ReceiptFormatError("DTDs are not accepted in event pushes")
        try:
            root = ET.fromstring(text)  # noqa: S314 — DTDs refused above; a flat event document
        except ET.ParseError as exc:
            raise ReceiptFormatError(f"not XML: {exc}") from None
        fields = {child.tag: (child.text or "").strip() for child in root}
        if fields.get("Event") != "TEMPLATESENDJOBFINISH":
            return []
        status = fields.get("Status", "")
        delivered = status == "success"
        at = None
        if fields.get("CreateTime", "").isdigit():
            at = dt.datetime.fromtimestamp(int(fields["CreateTime"]), dt.UTC)
        return [
            Receipt(
                provider=self.provider,
                provider_message_id=fields.get("MsgID", ""),
                to=fields.get("FromUserName", ""),
                status=ReceiptStatus.DELIVERED if delivered else ReceiptStatus.FAILED,
                error_code="" if delivered else status,
                error_text="" if delivered else status.partition(":")[2].strip(),
                at=at,
                raw=fields,
            )
        ]
