"""A background writer that records the writes the engine acknowledged, and reads them back.

A write counts as acknowledged only on `201` with an id: the engine answers that only after
the row is committed. A refused write (5xx, 507, no answer) is allowed during a fault; an
acknowledged write that cannot be read back afterwards is a lost write.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from servicedown import polling
from servicedown.backends.http import make_client
from servicedown.records import PATH, ReadBack, read_back_outcome


@dataclass
class ReadBackCount:
    checked: int = 0
    lost: list[int] = field(default_factory=list)  # 404, or a different value
    unverified: list[int] = field(default_factory=list)  # no definite answer before the bound


class Writer:
    def __init__(self, base_url: Callable[[], str], key: str, interval_s: float = 0.2,
                 timeout_s: float = 2.0) -> None:
        self.base_url = base_url  # a callable: the engine's URL may change (TLS experiments)
        self.key = key
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.acked: dict[int, tuple[float, Any]] = {}  # id -> (monotonic time, value)
        self.refused = 0
        self.no_answer = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> Writer:
        self._thread = threading.Thread(target=self._run, name="chaos-writer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout_s + 2)

    def _run(self) -> None:
        seq = 0
        with make_client(self.timeout_s, verify=False) as client:
            while not self._stop.is_set():
                seq += 1
                value = {"seq": seq, "nonce": secrets.token_hex(6)}
                try:
                    resp = client.post(self.base_url() + PATH, json={"key": self.key,
                                                                     "value": value})
                    body = resp.json() if resp.status_code == 201 else None
                    if isinstance(body, dict) and isinstance(body.get("id"), int):
                        with self._lock:
                            self.acked[body["id"]] = (time.monotonic(), value)
                    else:
                        self.refused += 1
                except (httpx.HTTPError, ValueError):
                    self.no_answer += 1
                self._stop.wait(self.interval_s)

    def acked_between(self, start: float, end: float | None = None) -> int:
        with self._lock:
            return sum(1 for t, _ in self.acked.values() if t >= start and (end is None or t < end))

    def wait_acked(self, count: int, timeout_s: float, since: float = 0.0) -> bool:
        return polling.until(lambda: self.acked_between(since) >= count, timeout_s, 0.05)

    def read_back(self, timeout_s: float) -> ReadBackCount:
        """GET every acknowledged id; ask again where the answer said nothing (5xx, no answer)
        until the bound, so a recovering engine is not mistaken for a lost write."""
        with self._lock:
            pending = {i: v for i, (_, v) in self.acked.items()}
        out = ReadBackCount(checked=len(pending))
        with make_client(self.timeout_s, verify=False) as client:

            def one_round() -> bool:
                for rid in list(pending):
                    try:
                        resp = client.get(f"{self.base_url()}{PATH}/{rid}")
                    except httpx.HTTPError:
                        continue
                    outcome = read_back_outcome(resp.status_code, resp.content,
                                                lambda doc, v=pending[rid]: doc.get("value") == v)
                    if outcome is not ReadBack.RETRY:
                        if outcome is not ReadBack.OK:
                            out.lost.append(rid)  # gone, or there with another value
                        del pending[rid]
                return not pending

            polling.until(one_round, timeout_s, 0.3)
        out.unverified = sorted(pending)
        out.lost.sort()
        return out
