"""A stand-in for the WeChat Official Account API: ``GET /cgi-bin/token`` and
``POST /cgi-bin/message/template/send``.

Tokens are issued for the configured AppID/AppSecret with ``expires_in``; a send checks its
``access_token`` (41001 missing, 40001 unknown or superseded, 42001 expired), the JSON body (47001),
``touser``/``template_id``/``data`` (40003, 40037, 47003), the follower list (43004 require
subscribe) and ``client_msg_id`` (one message per openid + client_msg_id within ten minutes). Every
answer is ``{"errcode", "errmsg"}`` with HTTP 200, as WeChat does; errmsg carries a ``rid``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable
from xml.sax.saxutils import escape

import httpx

from guanxi.messaging.standins.base import Incoming, Reply, SentMessage, StandIn

TOKEN_PATH = "/cgi-bin/token"  # noqa: S105 — a URL path
SEND_PATH = "/cgi-bin/message/template/send"
DEDUPE_SECONDS = 600

ERRMSG: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    45009: "reach max api daily quota limit",
    47001: "data format error",
    47003: "argument invalid!",
}


class WechatStandIn(StandIn):
    """Scripting: ``fail_next(code=-1, path=SEND_PATH)``, ``expire_tokens()`` (next send gets 42001),
    ``revoke_tokens()`` (40001), ``drop_next``, ``set_rate_limit`` (45009). ``sent`` holds accepted
    messages; ``push_events(url)`` posts TEMPLATESENDJOBFINISH events for them."""

    provider = "wechat"
    default_fail_code = -1
    throttle_code = 45009

    def __init__(
        self,
        *,
        app_id: str = "wx-standin",
        app_secret: str = "standin-app-secret",  # noqa: S107 — a test double's credential
        token_ttl: int = 7200,
        followers: Iterable[str] | None = None,
        templates: Iterable[str] | None = None,
        rate_limit: float | None = None,
        original_id: str = "gh_standin",
    ) -> None:
        super().__init__(rate_limit=rate_limit)
        self.app_id = app_id
        self.app_secret = app_secret
        self.token_ttl = token_ttl
        self.followers = set(followers) if followers is not None else None  # None: everyone follows
        self.templates = set(templates) if templates is not None else None
        self.original_id = original_id
        self._tokens: dict[str, float] = {}  # token → expires at
        self._expired: set[str] = set()
        self._dedupe: dict[tuple[str, str], tuple[int, float]] = {}
        self.tokens_issued = 0

    # -- scripting

    def expire_tokens(self) -> None:
        with self._lock:
            self._expired.update(self._tokens)
            self._tokens.clear()

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._expired.clear()

    # -- replies

    def error_reply(self, code: str | int, message: str | None = None, http_status: int | None = None) -> Reply:
        errcode = int(code)
        rid = f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
        text = f"{message or ERRMSG.get(errcode, 'error')} rid: {rid}"
        return Reply.json(http_status or 200, {"errcode": errcode, "errmsg": text}, code=errcode)

    def authenticate(self, incoming: Incoming) -> Reply | None:
        if incoming.path == TOKEN_PATH:
            return self._check_app(incoming)
        token = incoming.query().get("access_token")
        if not token:
            return self.error_reply(41001)
        with self._lock:
            expires_at = self._tokens.get(token)
            expired = token in self._expired
        if expires_at is None:
            return self.error_reply(42001 if expired else 40001)
        if expires_at <= incoming.received_at:
            return self.error_reply(42001)
        return None

    def _check_app(self, incoming: Incoming) -> Reply | None:
        query = incoming.query()
        if incoming.method != "GET" or query.get("grant_type") != "client_credential":
            return self.error_reply(40002)
        if query.get("appid") != self.app_id:
            return self.error_reply(40013)
        if not secrets.compare_digest(query.get("secret", ""), self.app_secret):
            return self.error_reply(40125)
        return None

    def process(self, incoming: Incoming) -> Reply:
        if incoming.path == TOKEN_PATH:
            token = secrets.token_urlsafe(96)[:128]
            with self._lock:
                self._tokens[token] = incoming.received_at + self.token_ttl
                self.tokens_issued += 1
            return Reply.json(200, {"access_token": token, "expires_in": self.token_ttl}, code=0)
        if incoming.path == SEND_PATH and incoming.method == "POST":
            return self._send_template(incoming)
        return Reply.json(404, {"errcode": 404, "errmsg": "Not Found"}, code=404)

    def _send_template(self, incoming: Incoming) -> Reply:
        try:
            message = json.loads(incoming.body)
        except ValueError:
            return self.error_reply(47001)
        if not isinstance(message, dict):
            return self.error_reply(47001)
        touser = message.get("touser")
        if not isinstance(touser, str) or not touser:
            return self.error_reply(40003)
        template = message.get("template_id")
        if (
            not isinstance(template, str)
            or not template
            or (self.templates is not None and template not in self.templates)
        ):
            return self.error_reply(40037)
        data = message.get("data")
        if not isinstance(data, dict):
            return self.error_reply(47003, "argument invalid! data invalid")
        for key, item in data.items():
            if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                return self.error_reply(47003, f"argument invalid! data.{key}.value invalid")
        if self.followers is not None and touser not in self.followers:
            return self.error_reply(43004)
        client_msg_id = str(message.get("client_msg_id") or "")
        now = incoming.received_at
        with self._lock:
            if client_msg_id:
                seen = self._dedupe.get((touser, client_msg_id))
                if seen is not None and now - seen[1] < DEDUPE_SECONDS:
                    # WeChat sends only one message per openid + client_msg_id within ten minutes.
                    return Reply.json(200, {"errcode": 0, "errmsg": "ok", "msgid": seen[0]}, code=0)
            msgid = 2_000_000_000 + self.next_id()
            if client_msg_id:
                self._dedupe[(touser, client_msg_id)] = (msgid, now)
            self.sent.append(
                SentMessage(
                    provider_message_id=str(msgid),
                    to=touser,
                    template=template,
                    params={k: v["value"] for k, v in data.items()},
                    out_id=client_msg_id,
                    at=now,
                )
            )
        return Reply.json(200, {"errcode": 0, "errmsg": "ok", "msgid": msgid}, code=0)

    # -- delivery events

    def event_xml(self, message: SentMessage, status: str = "success") -> bytes:
        """The TEMPLATESENDJOBFINISH push; ``status`` is success, ``failed:user block`` or
        ``failed: system failed``."""
        return (
            "<xml>"
            f"<ToUserName><![CDATA[{escape(self.original_id)}]]></ToUserName>"
            f"<FromUserName><![CDATA[{escape(message.to)}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime>"
            "<MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
            f"<MsgID>{message.provider_message_id}</MsgID>"
            f"<Status><![CDATA[{escape(status)}]]></Status>"
            "</xml>"
        ).encode()

    def push_events(
        self,
        url: str,
        messages: Iterable[SentMessage] | None = None,
        *,
        status: str = "success",
        token: str,
        timeout: float = 5.0,
    ) -> list[httpx.Response]:
        """POST one event per message (WeChat pushes events one at a time), signed as WeChat signs every
        push to a server URL: ``signature`` = SHA-1 of the sorted (``token``, ``timestamp``, ``nonce``)
        in the query string."""
        with self._lock:
            chosen = list(messages) if messages is not None else [m for m in self.sent if m.status == "pending"]
            for m in chosen:
                m.status = "delivered" if status == "success" else "failed"
        responses = []
        for m in chosen:
            timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
            params = {
                "timestamp": timestamp,
                "nonce": nonce,
                "signature": hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest(),  # noqa: S324
            }
            responses.append(
                httpx.post(
                    url,
                    params=params,
                    content=self.event_xml(m, status),
                    headers={"Content-Type": "text/xml"},
                    timeout=timeout,
                )
            )
        return responses
