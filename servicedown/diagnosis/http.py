"""HTTP probes of the service's health endpoints (httpx), each with a hard time bound."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

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
        return f"GET {self.url}: HTTP {self.status} in {self.elapsed_s:.2f}s"

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
    # Connect fails fast; a black-holed listener is bounded by the read timeout.
    timeout = httpx.Timeout(timeout_s, connect=min(2.0, timeout_s))
    # Monitoring-like headers; toxiproxy-style proxies refuse browser user agents.
    return httpx.Client(timeout=timeout, verify=verify, follow_redirects=False,
                        headers={"User-Agent": "servicedown-checks/0.1", "Accept": "application/json"})


def without_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without its userinfo, and the user and password it held. They are sent as an
    Authorization header instead: httpx logs every URL it requests, userinfo included."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=hostport)), (unquote(user), unquote(password))


def get(client: httpx.Client, url: str, deadline_s: float) -> HttpAnswer:
    """GET url; never raises. Stops reading at MAX_BODY and at deadline_s in total."""
    answer = HttpAnswer(redact(url))  # what every message and report shows of it
    start = time.monotonic()
    bare, auth = without_credentials(url)
    try:
        with client.stream("GET", bare, auth=auth) as resp:
            answer.status = resp.status_code
            answer.headers = {k.lower(): v for k, v in resp.headers.items()
                              if k.lower() in ("content-type", "retry-after")}
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_BODY or time.monotonic() - start > deadline_s:
                    break
            raw = b"".join(chunks)[:MAX_BODY]
    except httpx.TimeoutException as exc:
        answer.error = f"timed out ({type(exc).__name__})"
        raw = b""
    except httpx.HTTPError as exc:
        answer.error = _describe(exc)
        raw = b""
    except Exception as exc:  # odd URLs, encodings: never a traceback
        answer.error = clip(f"{type(exc).__name__}: {exc}", 300)
        raw = b""
    answer.elapsed_s = time.monotonic() - start
    if raw:
        text = raw.decode("utf-8", errors="replace")
        try:
            answer.body = json.loads(text)
        except ValueError:
            answer.text = clip(text, 2000)
    return answer


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text.lower():
            return "connection refused (nothing listens on that port)"
        return f"cannot connect: {clip(text, 200)}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server closed the connection or answered garbage: {clip(text, 200)}"
    return f"{type(exc).__name__}: {clip(text, 200)}"
