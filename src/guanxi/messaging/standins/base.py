"""The machinery every stand-in shares: a stdlib HTTP server on 127.0.0.1 in a background thread,
scripted misbehaviour, a rate limit, and a record of what came in and what was "sent".

A stand-in answers like the provider's documented API, and checks requests the way the provider
does — from the raw request it received, with its own code, so that a signing bug in a client is
not mirrored here. Subclasses implement ``authenticate`` (signature and credentials), ``process``
(the API itself) and ``error_reply`` (the provider's error body).
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from guanxi.messaging.providers.base import compact_json


@dataclass(frozen=True)
class Incoming:
    """A request exactly as the server read it."""

    method: str
    target: str  # the raw request target: path and query string as sent
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    received_at: float

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def raw_query(self) -> str:
        return urlsplit(self.target).query

    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.raw_query, keep_blank_values=True))


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    code: str = ""  # the provider code answered, kept in the request record

    @classmethod
    def json(cls, status: int, value: Any, *, code: str | int = "") -> Reply:
        return cls(status, compact_json(value).encode(), code=str(code))


DROP = Reply(0, b"")  # close the connection without answering


@dataclass
class Script:
    """One scripted misbehaviour for the next request (whose path starts with ``path``, if given)."""

    kind: str  # "fail", "drop" or "stall"
    code: str | int | None = None
    message: str | None = None
    http_status: int | None = None
    seconds: float = 0.0
    after_processing: bool = False
    path: str | None = None


@dataclass
class RecordedRequest:
    incoming: Incoming
    status: int  # 0 when the connection was dropped
    code: str  # the provider code answered ("OK", "SignatureDoesNotMatch", "0", …), "" when dropped
    scripted: bool = False


@dataclass
class SentMessage:
    """A message the stand-in accepted, as a provider would have handed it to the carrier."""

    provider_message_id: str  # BizId / SerialNo / msgid
    to: str  # as received
    template: str
    sign_name: str = ""
    params: Any = None
    out_id: str = ""
    request_id: str = ""
    at: float = field(default_factory=time.time)
    status: str = "pending"  # pending → delivered / failed once a receipt is pushed


class TokenBucket:
    """Requests per second with a burst of one second's worth (at least one request)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, standin: StandIn) -> None:
        self.standin = standin
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Kept-alive connections would otherwise hold a handler thread each after stop()."""
        with self._open_lock:
            open_sockets, self._open = list(self._open), set()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes; don't wait 40 ms for an ACK
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        incoming = Incoming(self.command, self.path, headers, body, time.time())
        reply = self.server.standin.dispatch(incoming)
        if reply is DROP:
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 — http.server's naming

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — signature of the base class
        """Quiet: tests and benchmarks read the records instead."""


class StandIn:
    """Start with ``with AliyunSmsStandIn() as server:`` (or ``start()``/``stop()``); ``base_url`` is
    ``http://127.0.0.1:<free port>``. Thread-safe: many clients may call it at once."""

    provider = "standin"
    default_fail_code: str | int = "InternalError"
    throttle_code: str | int = "Throttling"

    def __init__(self, *, rate_limit: float | None = None) -> None:
        self._lock = threading.RLock()
        self._scripts: list[Script] = []
        self._bucket = TokenBucket(rate_limit) if rate_limit else None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0
        self.requests: list[RecordedRequest] = []
        self.sent: list[SentMessage] = []

    # -- lifecycle

    def start(self) -> Self:
        if self._server is None:
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("stand-in not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting

    def fail_next(
        self,
        n: int = 1,
        *,
        code: str | int | None = None,
        message: str | None = None,
        http_status: int | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``n`` authenticated requests with the provider's error ``code``."""
        with self._lock:
            self._scripts.extend(
                Script("fail", code=code, message=message, http_status=http_status, path=path) for _ in range(n)
            )

    def drop_next(self, n: int = 1, *, after_processing: bool = False, path: str | None = None) -> None:
        """Close the connection without answering. ``after_processing`` first performs the request
        (the message counts as sent) — the case where only the answer is lost."""
        with self._lock:
            self._scripts.extend(Script("drop", after_processing=after_processing, path=path) for _ in range(n))

    def stall_next(self, n: int = 1, *, seconds: float, after_processing: bool = True, path: str | None = None) -> None:
        """Wait ``seconds`` before answering (to run a client into its read timeout)."""
        with self._lock:
            self._scripts.extend(
                Script("stall", seconds=seconds, after_processing=after_processing, path=path) for _ in range(n)
            )

    def set_rate_limit(self, per_second: float | None) -> None:
        """Answer requests beyond ``per_second`` with the provider's throttling error."""
        with self._lock:
            self._bucket = TokenBucket(per_second) if per_second else None

    def clear_scripts(self) -> None:
        with self._lock:
            self._scripts.clear()

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self.requests.clear()
            self.sent.clear()

    # -- records

    def sent_to(self, to: str) -> list[SentMessage]:
        """Messages accepted for ``to``, given as E.164 or as the provider writes it."""
        key = self.normalise_to(to)
        with self._lock:
            return [m for m in self.sent if m.to == key]

    def normalise_to(self, to: str) -> str:
        """How this provider records a recipient (``SentMessage.to``)."""
        return to

    def requests_for(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.incoming.path == path]

    # -- for subclasses

    def next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def record_sent(self, message: SentMessage) -> None:
        with self._lock:
            self.sent.append(message)

    @staticmethod
    def request_id() -> str:
        raw = secrets.token_hex(16).upper()
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"

    def authenticate(self, incoming: Incoming) -> Reply | None:
        """The provider's error reply when credentials or signature are wrong, else None."""
        raise NotImplementedError

    def process(self, incoming: Incoming) -> Reply:
        raise NotImplementedError

    def error_reply(self, code: str | int, message: str | None = None, http_status: int | None = None) -> Reply:
        raise NotImplementedError

    # -- the request path

    def _take_script(self, incoming: Incoming) -> Script | None:
        with self._lock:
            for i, script in enumerate(self._scripts):
                if script.path is None or incoming.path.startswith(script.path):
                    return self._scripts.pop(i)
        return None

    def _record(self, incoming: Incoming, reply: Reply, *, scripted: bool = False) -> Reply:
        with self._lock:
            self.requests.append(RecordedRequest(incoming, reply.status, reply.code, scripted))
        return reply

    def dispatch(self, incoming: Incoming) -> Reply:
        script = self._take_script(incoming)
        if script is not None and not script.after_processing:
            if script.kind == "drop":
                return self._record(incoming, DROP, scripted=True)
            if script.kind == "stall":
                time.sleep(script.seconds)
        denied = self.authenticate(incoming)
        if denied is not None:
            return self._record(incoming, denied)
        with self._lock:
            bucket = self._bucket
        if bucket is not None and not bucket.take():
            return self._record(incoming, self.error_reply(self.throttle_code))
        if script is not None and script.kind == "fail":
            reply = self.error_reply(script.code or self.default_fail_code, script.message, script.http_status)
            return self._record(incoming, reply, scripted=True)
        reply = self.process(incoming)
        if script is not None and script.after_processing:
            if script.kind == "drop":
                return self._record(incoming, DROP, scripted=True)
            if script.kind == "stall":
                time.sleep(script.seconds)
        return self._record(incoming, reply)


class CallbackRecorder(StandIn):
    """A receiving end for pushes (delivery receipts, WeChat events): records each body and answers
    ``reply``. Use it where the real webhook is not running, e.g. in provider tests or benchmarks."""

    provider = "callback"

    def __init__(self, *, reply: bytes = b'{"code":0,"msg":"OK"}', content_type: str = "application/json") -> None:
        super().__init__()
        self.reply = Reply(200, reply, content_type)

    @property
    def bodies(self) -> list[bytes]:
        with self._lock:
            return [r.incoming.body for r in self.requests]

    def authenticate(self, incoming: Incoming) -> Reply | None:
        return None

    def process(self, incoming: Incoming) -> Reply:
        return self.reply

    def error_reply(self, code: str | int, message: str | None = None, http_status: int | None = None) -> Reply:
        return Reply(http_status or 500, str(message or code).encode(), "text/plain")
