"""The one rule for what a health answer means, used by every check, wait and probe.

The engine's `/health` says `healthy` or `degraded`; the Kubernetes-style probes say `pass`,
`warn` or `fail`; other services say `ok` or `up`. A wait for health and the health check read
the same words, so a service the checks call healthy is the one every wait waits for.
"""

from __future__ import annotations

import time
from typing import Any

from servicedown import polling
from servicedown.backends import http

HEALTHY_WORDS = ("healthy", "pass", "ok", "up")
DEGRADED_WORDS = ("degraded", "warn")

HEALTHY, DEGRADED, UNHEALTHY, NO_ANSWER = "healthy", "degraded", "unhealthy", "no-answer"


def status_word(body: Any) -> str | None:
    """The body's `status`, lower case, when it is a JSON object that has one."""
    if isinstance(body, dict) and isinstance(body.get("status"), str):
        return body["status"].strip().lower()
    return None


def health_state(status: int | None, body: Any) -> str:
    """healthy | degraded | unhealthy | no-answer, from an HTTP status and its parsed body.

    Healthy needs both: HTTP 200 and a healthy word. A 200 without a status word is not
    healthy: a proxy's default page answers 200 too."""
    if status is None:
        return NO_ANSWER
    word = status_word(body)
    if status == 200 and word in HEALTHY_WORDS:
        return HEALTHY
    if status == 200 and word in DEGRADED_WORDS:
        return DEGRADED
    return UNHEALTHY


def is_healthy(status: int | None, body: Any) -> bool:
    return health_state(status, body) == HEALTHY


def is_serving(status: int | None, body: Any) -> bool:
    """Answering as a working service does, healthy or degraded (what a client still uses)."""
    return health_state(status, body) in (HEALTHY, DEGRADED)


def wait_healthy(base_url: str, timeout_s: float, *, http_timeout_s: float = 3.0,
                 verify: bool = False, interval_s: float = 0.5) -> tuple[bool, str]:
    """Poll `base_url`/health until it is healthy or the bound passes -> (healthy, last answer)."""
    deadline = time.monotonic() + timeout_s

    def probe() -> http.HttpAnswer:
        # One probe never carries the wait past its own bound.
        left = max(deadline - time.monotonic(), 0.1)
        return http.get(client, base_url.rstrip("/") + "/health", min(http_timeout_s, left))

    with http.make_client(min(http_timeout_s, 3.0), verify) as client:
        last = polling.until(probe, timeout_s, interval_s, done=lambda a: is_healthy(a.status, a.body))
    return is_healthy(last.status, last.body), last.summary()
