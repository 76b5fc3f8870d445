"""The receiver's HTTP side: routes, the token, the limits, TLS. What a request means is the app's.

    POST /alertmanager   Alertmanager's webhook: Bearer token required (401 otherwise)
    GET  /metrics        the checks as Prometheus metrics
    GET  /healthz        the last run of each target (never runs checks)

Bounds: at most `connections` connections at once (more are closed at once), each closed when it
is silent for `timeout_s` and in any case after a few times that (a reaper shuts it), a body of
at most `body_bytes` read within the same bound, and token buckets for the webhook (with the
token) and for everything else (unauthenticated attempts included), answered 429 beyond them.
Nothing a request sends is logged but its method, path and status; never a header.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from servicedown.receiver.config import Limits

if TYPE_CHECKING:
    from servicedown.receiver.app import Receiver

log = logging.getLogger("servicedown.receiver")
WEBHOOK_PATH = "/alertmanager"
LIFETIME_FACTOR = 3  # a connection lives at most this many timeouts, however it trickles


class TokenBucket:
    """`rate` per second sustained, `burst` at once."""

    def __init__(self, rate: float, burst: int, clock: Any = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, float(burst), clock
        self._tokens, self._at = float(burst), clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, host: str, port: int, app: Receiver, limits: Limits,
                 tls: ssl.SSLContext | None) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app, self.limits, self.tls = app, limits, tls
        self.webhook_bucket = TokenBucket(limits.requests_per_s, limits.burst)
        # Everything else: reads, and attempts without the token, on a budget of their own, so a
        # flood of those cannot take the webhook's.
        self.other_bucket = TokenBucket(limits.requests_per_s * 2, limits.burst * 2)
        self._slots = threading.BoundedSemaphore(limits.connections)
        self._live: dict[int, tuple[socket.socket, float]] = {}
        self._live_lock = threading.Lock()
        self._reaping = threading.Event()
        super().__init__((host, port), Handler)
        self._reaper = threading.Thread(target=self._reap, name="reaper", daemon=True)
        self._reaper.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # over the limit: closed at once, no thread
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        key = id(request)
        try:
            request.settimeout(self.limits.timeout_s)
            with self._live_lock:
                self._live[key] = (request, time.monotonic() + self.limits.timeout_s * LIFETIME_FACTOR)
            if self.tls is not None:
                try:  # the handshake here, in this connection's thread, within its timeout
                    request = self.tls.wrap_socket(request, server_side=True)
                except (OSError, ssl.SSLError):
                    self.shutdown_request(request)
                    return
                with self._live_lock:
                    self._live[key] = (request, self._live[key][1])
            super().process_request_thread(request, client_address)
        finally:
            with self._live_lock:
                self._live.pop(key, None)
            self._slots.release()

    def _reap(self) -> None:
        while not self._reaping.wait(0.5):
            now = time.monotonic()
            with self._live_lock:
                late = [s for s, deadline in self._live.values() if deadline < now]
            for sock in late:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def server_close(self) -> None:
        self._reaping.set()
        super().server_close()


class Handler(BaseHTTPRequestHandler):
    server: Server
    server_version = "servicedown-receiver"
    sys_version = ""
    protocol_version = "HTTP/1.0"

    # --- routes ---------------------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802 - the standard library's name
        path = urlsplit(self.path).path
        if path != WEBHOOK_PATH:
            if not self._limited_other():
                self._json(404, {"error": f"no such path; the webhook is POST {WEBHOOK_PATH}"})
            return
        app = self.server.app
        if not app.authorized(self.headers.get("Authorization")):
            if not self._limited_other():
                self._json(401, {"error": "a Bearer token is required (Alertmanager: "
                                          "http_config.authorization with the receiver's token file)"},
                           {"WWW-Authenticate": 'Bearer realm="servicedown"'})
            return
        if not self.server.webhook_bucket.take():
            self._json(429, {"error": "too many notifications: the receiver's rate limit "
                                      f"({self.server.limits.requests_per_s:g}/s) is reached"},
                       {"Retry-After": "1"})
            return
        body = self._body()
        if body is None:
            return
        status, doc = app.webhook(body)
        self._json(status, doc, {"Retry-After": "5"} if status == 503 else None)

    def do_GET(self) -> None:  # noqa: N802
        if self._limited_other():
            return
        path = urlsplit(self.path).path
        app = self.server.app
        if path == "/metrics":
            body, ctype = app.exposition()
            self._send(200, body, ctype)
        elif path == "/healthz":
            status, doc = app.healthz()
            self._json(status, doc)
        else:
            self._json(404, {"error": "no such path: GET /metrics, GET /healthz, POST /alertmanager"})

    def _not_allowed(self) -> None:
        if not self._limited_other():
            self._json(405, {"error": f"{self.command} is not served: GET /metrics, GET /healthz, "
                                      f"POST {WEBHOOK_PATH}"}, {"Allow": "GET, POST"})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed  # noqa: N815

    # --- reading and answering -------------------------------------------------------------------
    def _limited_other(self) -> bool:
        if self.server.other_bucket.take():
            return False
        self._json(429, {"error": "too many requests"}, {"Retry-After": "1"})
        return True

    def _body(self) -> bytes | None:
        raw = self.headers.get("Content-Length")
        if raw is None:
            self._json(411, {"error": "Content-Length is required"})
            return None
        if not raw.strip().isdigit():
            self._json(400, {"error": "Content-Length is not a number"})
            return None
        length, limit = int(raw), self.server.limits.body_bytes
        if length > limit:
            self._json(413, {"error": f"the notification is {length} bytes; at most {limit}"})
            return None
        try:
            body = self.rfile.read(length)
        except OSError:
            self.close_connection = True
            return None
        if len(body) < length:
            self._json(400, {"error": f"the body ended after {len(body)} of {length} bytes"})
            return None
        return body

    def _json(self, status: int, doc: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(status, (json.dumps(doc, default=str) + "\n").encode(), "application/json", headers)

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = "".join(c if c.isprintable() else "?" for c in urlsplit(self.path).path[:80])
        log.info("%s %s %s", self.command, path, code)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
        log.info("bad request: %s", (format % args)[:120])

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # everything worth logging goes through log_request, which never holds a header


def authorized(header: str | None, token: str) -> bool:
    """`Bearer <token>`, compared in constant time."""
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())
