"""The triage queue: one run at a time per target, a limit on what waits, repeats folded in.

A notification asks for a run of its target. While one waits, later requests for that target
join it (their incidents get its result): a flood of repeats costs one run, not one each. A run
in progress is not joined: it started before the notification, so one more run follows it.
Beyond `limit` targets waiting, a request is refused (QueueFull: the receiver answers 503, and
Alertmanager retries).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from servicedown.redact import redact

log = logging.getLogger("servicedown.receiver")


class QueueFull(RuntimeError):
    pass


@dataclass
class Job:
    target: str
    queued_at: float
    incidents: list[str] = field(default_factory=list)  # ids, in the order they asked
    alerts: list[str] = field(default_factory=list)  # the alert names that asked

    def join(self, incidents: Iterable[str], alerts: Iterable[str]) -> None:
        self.incidents += [i for i in incidents if i not in self.incidents]
        self.alerts += [a for a in alerts if a not in self.alerts]


class Scheduler:
    def __init__(self, run: Callable[[Job], None], limit: int, workers: int = 2,
                 on_change: Callable[[int], None] | None = None) -> None:
        self._run = run
        self.limit = limit
        self._on_change = on_change or (lambda _n: None)
        self._pending: OrderedDict[str, Job] = OrderedDict()  # target -> its waiting job
        self._running: set[str] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [threading.Thread(target=self._loop, name=f"triage-{n}", daemon=True)
                         for n in range(max(workers, 1))]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def submit(self, target: str, incidents: Iterable[str] = (), alerts: Iterable[str] = ()) -> str:
        """-> "queued" (a new run) or "joined" (the target's waiting run); QueueFull beyond the limit."""
        with self._cond:
            job = self._pending.get(target)
            if job is not None:
                job.join(incidents, alerts)
                return "joined"
            if len(self._pending) >= self.limit:
                raise QueueFull(f"{len(self._pending)} runs are waiting (limit {self.limit})")
            job = Job(target, time.time())
            job.join(incidents, alerts)
            self._pending[target] = job
            self._on_change(len(self._pending))
            self._cond.notify_all()
            return "queued"

    def waiting(self) -> int:
        with self._cond:
            return len(self._pending)

    def busy(self) -> bool:
        with self._cond:
            return bool(self._pending or self._running)

    def stop(self, timeout_s: float) -> bool:
        """Stop taking runs; wait (bounded) for those in progress. -> whether all ended."""
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            if t.is_alive():
                t.join(max(deadline - time.monotonic(), 0.0))
        return not any(t.is_alive() for t in self._threads)

    def _next(self) -> Job | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                job = next((j for t, j in self._pending.items() if t not in self._running), None)
                if job is not None:
                    del self._pending[job.target]
                    self._running.add(job.target)
                    self._on_change(len(self._pending))
                    return job
                self._cond.wait()

    def _loop(self) -> None:
        while (job := self._next()) is not None:
            try:
                self._run(job)
            except Exception as exc:  # one broken run must not stop the receiver; no traceback
                log.error("the run for target %s failed: %s", job.target,
                          redact(f"{type(exc).__name__}: {exc}")[:300])
            finally:
                with self._cond:
                    self._running.discard(job.target)
                    self._cond.notify_all()
