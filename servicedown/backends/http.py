"""HTTP probes of the service's health endpoints (httpx), each with a hard time bound."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from servicedown.backends import http_deadline
from servicedown.redact import clip, redact

MAX_BODY = 64 * 1024  # a health body larger than this is not a health body


@dataclass
class HttpAnswer:
    url: str
    status: int | None = None  # None: no HTTP answer at all
    body: Any = None  # parsed JSON, or None
    text: str = ""  # the first bytes of a non-JSON body
    elapsed_s: float = 0.0
    error: str = ""  # why there was no answer (refused, timed out, TLS...)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return self.status is not None

    def summary(self) -> str:
        if not self.answered:
            return f"GET {self.url}: no answer ({self.error}) after {self.elapsed_s:.2f}s"
        tail = f" ({self.error})" if self.error else ""
        return f"GET {self.url}: HTTP {self.status} in {self.elapsed_s:.2f}s{tail}"

    def evidence(self) -> dict[str, Any]:
        ev: dict[str, Any] = {"url": self.url, "status": self.status,
                              "elapsed_s": round(self.elapsed_s, 3)}
        if self.error:
            ev["error"] = self.error
        if self.body is not None:
            ev["body"] = self.body
        elif self.text:
            ev["body_text"] = clip(self.text, 500)
        if "retry-after" in self.headers:
            ev["retry_after"] = self.headers["retry-after"]
        return ev


def make_client(timeout_s: float, verify: bool) -> httpx.Client:
    # Connect fails fast; a black-holed listener is bounded by the read timeout, a trickling
    # one by the deadline `get` puts on the whole exchange.
    timeout = httpx.Timeout(timeout_s, connect=min(2.0, timeout_s))
    # Monitoring-like headers; toxiproxy-style proxies refuse browser user agents.
    client = httpx.Client(timeout=timeout, verify=verify, follow_redirects=False,
                          headers={"User-Agent": "servicedown-checks/0.1", "Accept": "application/json"})
    http_deadline.install(client)
    return client


def without_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without its userinfo, and the user and password it held. They are sent as an
    Authorization header instead: httpx logs every URL it requests, userinfo included."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=hostport)), (unquote(user), unquote(password))


def get(client: httpx.Client, url: str, deadline_s: float, max_bytes: int = MAX_BODY,
        params: dict[str, str] | None = None) -> HttpAnswer:
    """GET url; never raises. Stops reading at max_bytes, and the whole exchange (connect,
    request, headers, body) ends within deadline_s however slowly the server sends. A JSON API's
    answer cut at a larger max_bytes is no answer (`error` says so), never half a document."""
    answer = HttpAnswer(redact(url))  # what every message and report shows of it
    start = time.monotonic()
    http_deadline.install(client)
    bare, auth = without_credentials(url)
    raw = b""
    try:
        with http_deadline.deadline(deadline_s), client.stream("GET", bare, auth=auth,
                                                                      params=params) as resp:
            answer.status = resp.status_code
            answer.headers = {k.lower(): v for k, v in resp.headers.items()
                              if k.lower() in ("content-type", "retry-after")}
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in resp.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= max_bytes:
                        break
            except httpx.TimeoutException:
                # The status came in time, the body did not: keep what arrived, say so.
                answer.error = f"the body was not complete within the {deadline_s:g}s deadline"
            raw = b"".join(chunks)[:max_bytes]
            if max_bytes > MAX_BODY and size >= max_bytes:
                answer.error = f"the answer is larger than {max_bytes // 1024} KiB; not read"
                raw = b""
    except httpx.TimeoutException as exc:
        answer.error = _timed_out(exc, deadline_s)
    except httpx.HTTPError as exc:
        answer.error = _describe(exc)
    except Exception as exc:  # odd URLs, encodings: never a traceback
        answer.error = clip(f"{type(exc).__name__}: {exc}", 300)
    answer.elapsed_s = time.monotonic() - start
    if raw:
        text = raw.decode("utf-8", errors="replace")
        try:
            answer.body = json.loads(text)
        except ValueError:
            answer.text = clip(text, 2000)
    return answer


def _timed_out(exc: httpx.TimeoutException, deadline_s: float) -> str:
    if http_deadline.PASSED in str(exc):
        return f"timed out: no complete answer within the {deadline_s:g}s deadline"
    return f"timed out ({type(exc).__name__})"


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text.lower():
            return "connection refused (nothing listens on that port)"
        return f"cannot connect: {clip(text, 200)}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server closed the connection or answered garbage: {clip(text, 200)}"
    return f"{type(exc).__name__}: {clip(text, 200)}"
