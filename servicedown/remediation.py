"""The runbook's Quick Fix: restart through the platform, then wait (bounded) for health."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from servicedown.backends.command import BackendError
from servicedown.config import Settings
from servicedown.healthy import wait_healthy
from servicedown.redact import redact
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


def restart_and_wait(settings: Settings, target: Target, timeout_s: float = 90.0) -> Remediation:
    """Restart the service through its platform (logged) and wait until it is healthy. A
    platform that refuses the restart is a result with its message, not a traceback."""
    start = time.monotonic()
    log.warning("remediation: %s", redact(target.restart_command() or "platform restart"))
    try:
        action = redact(target.restart())
    except BackendError as exc:
        return Remediation(f"restart failed: {redact(exc)}", False, time.monotonic() - start,
                           "not waited for")
    log.warning("remediation: %s", action)
    healed, last = wait_healthy(settings.base, max(timeout_s - (time.monotonic() - start), 1.0),
                                http_timeout_s=settings.http_timeout_s, verify=settings.verify_tls)
    return Remediation(action, healed, time.monotonic() - start, last)
