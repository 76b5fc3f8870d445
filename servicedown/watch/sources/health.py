"""Every target: /health asked every second; a change of its answer is an event (a URL target
has nothing else)."""

from __future__ import annotations

import time
from typing import Any

from servicedown.backends import http
from servicedown.config import Settings
from servicedown.healthy import health_state
from servicedown.watch.sources.base import Emit, Source, WatchEvent

PULSE_S = 1.0  # /health is asked this often

def health_signature(status: int | None, body: Any) -> tuple[Any, ...]:
    """What of a /health answer makes a difference: its meaning, its HTTP status, and the state
    of each dependency it reports (the engine's database)."""
    parts: list[tuple[str, str]] = []
    if isinstance(body, dict):
        for c in body.get("checks") or [] if isinstance(body.get("checks"), list) else []:
            if isinstance(c, dict):
                parts.append((str(c.get("component") or c.get("name")), str(c.get("status"))))
        services = body.get("services")
        if isinstance(services, dict):
            parts += [(str(k), str(v)) for k, v in services.items()]
    return (health_state(status, body), status, tuple(sorted(parts)))


def signature_words(sig: tuple[Any, ...]) -> str:
    state, status, parts = sig
    deps = ", ".join(f"{k} {v}" for k, v in parts)
    return f"{state} (HTTP {status if status is not None else '-'}{'; ' + deps if deps else ''})"


class HealthPulse(Source):
    name_word = "health"

    def __init__(self, emit: Emit, settings: Settings) -> None:
        super().__init__(emit)
        self.settings = settings
        self.last: tuple[Any, ...] | None = None

    def follow(self) -> None:
        bound = min(self.settings.http_timeout_s, 2.0)
        url = self.settings.base + "/health"
        with http.make_client(bound, self.settings.verify_tls) as client:
            while not self.stopping.is_set():
                started = time.monotonic()
                answer = http.get(client, url, bound)
                sig = health_signature(answer.status, answer.body)
                if self.last is not None and sig != self.last:
                    self.emit(WatchEvent(time.time(), "health", f"/health: {signature_words(self.last)} "
                                         f"→ {signature_words(sig)}", "health"))
                self.last = sig
                self.stopping.wait(max(PULSE_S - (time.monotonic() - started), 0.05))
