"""HTTP probes of the service's health endpoints (httpx), each with a hard time bound."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

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
            ev["body_text"] = self.text[:500]
        if "retry-after" in self.headers:
            ev["retry_after"] = self.headers["retry-after"]
        return ev


def make_client(timeout_s: float, verify: bool) -> httpx.Client:
    # Connect fails fast; a black-holed listener is bounded by the read timeout.
    timeout = httpx.Timeout(timeout_s, connect=min(2.0, timeout_s))
    # Monitoring-like headers; toxiproxy-style proxies refuse browser user agents.
    return httpx.Client(timeout=timeout, verify=verify, follow_redirects=False,
                        headers={"User-Agent": "servicedown-checks/0.1", "Accept": "application/json"})


def get(client: httpx.Client, url: str, deadline_s: float, max_bytes: int = MAX_BODY,
        params: dict[str, str] | None = None) -> HttpAnswer:
    """GET url; never raises. Stops reading at max_bytes and at deadline_s in total; a body cut
    at max_bytes is no answer (`error` says so), never half a JSON document read as whole."""
    answer = HttpAnswer(url)
    start = time.monotonic()
    try:
        with client.stream("GET", url, params=params) as resp:
            answer.status = resp.status_code
            answer.headers = {k.lower(): v for k, v in resp.headers.items()
                              if k.lower() in ("content-type", "retry-after")}
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= max_bytes or time.monotonic() - start > deadline_s:
                    break
            raw = b"".join(chunks)[:max_bytes]
            if max_bytes > MAX_BODY and size >= max_bytes:
                answer.error = f"the answer is larger than {max_bytes // 1024} KiB; not read"
                raw = b""
    except httpx.TimeoutException as exc:
        answer.error = f"timed out ({type(exc).__name__})"
        raw = b""
    except httpx.HTTPError as exc:
        answer.error = _describe(exc)
        raw = b""
    except Exception as exc:  # odd URLs, encodings: never a traceback
        answer.error = f"{type(exc).__name__}: {exc}"[:300]
        raw = b""
    answer.elapsed_s = time.monotonic() - start
    if raw:
        text = raw.decode("utf-8", errors="replace")
        try:
            answer.body = json.loads(text)
        except ValueError:
            answer.text = text[:2000]
    return answer


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text.lower():
            return "connection refused (nothing listens on that port)"
        return f"cannot connect: {text[:200]}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server closed the connection or answered garbage: {text[:200]}"
    return f"{type(exc).__name__}: {text[:200]}"
