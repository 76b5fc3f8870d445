"""The runbook's Quick Fix: restart through the platform, then wait (bounded) for health."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from servicedown.config import Settings
from servicedown.diagnosis import http
from servicedown.targets.base import Target

log = logging.getLogger("servicedown.remediation")


@dataclass
class Remediation:
    action: str
    healed: bool
    seconds: float
    last_health: str

    @property
    def message(self) -> str:
        state = "healthy again" if self.healed else "NOT healthy"
        return f"{self.action}; {state} after {self.seconds:.1f}s (last: {self.last_health})"


def wait_healthy(settings: Settings, timeout_s: float, interval_s: float = 0.5) -> tuple[bool, str]:
    """Poll /health until 200 healthy or the bound passes. -> (healthy, last answer)."""
    deadline = time.monotonic() + timeout_s
    last = "no probe yet"
    with http.make_client(min(settings.http_timeout_s, 3.0), settings.verify_tls) as client:
        while True:
            # One probe never carries the wait past its own bound.
            left = max(deadline - time.monotonic(), 0.1)
            a = http.get(client, settings.base + "/health", min(settings.http_timeout_s, left))
            last = a.summary()
            body_ok = isinstance(a.body, dict) and str(a.body.get("status", "")).lower() in (
                "healthy", "pass", "ok")
            if a.status == 200 and body_ok:
                return True, last
            if time.monotonic() >= deadline:
                return False, last
            time.sleep(interval_s)


def restart_and_wait(settings: Settings, target: Target, timeout_s: float = 90.0) -> Remediation:
    """Restart the service through its platform (logged) and wait until it is healthy."""
    start = time.monotonic()
    log.warning("remediation: %s", target.restart_command() or "platform restart")
    action = target.restart()
    log.warning("remediation: %s", action)
    healed, last = wait_healthy(settings, max(timeout_s - (time.monotonic() - start), 1.0))
    return Remediation(action, healed, time.monotonic() - start, last)
