"""The incident as watch keeps it: when it began (on the platform's clock), how long it has
lasted, which escalation steps are due, the restarts it may still try, and when it is over.
Pure bookkeeping over times and check results, so every rule has a fast test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from servicedown.model import CheckResult
from servicedown.runbook.escalation import Escalation, Step
from servicedown.schema import epoch

# Evidence keys that carry the platform's time of a failure: the exit that took the service
# down (running.*: ServiceState.down_since), the first failing log line since the last start.
FAILURE_TIME_KEYS = ("down_since", "first_at")


def failure_times(results: Iterable[CheckResult]) -> list[float]:
    out = []
    for r in results:
        if not r.failed:
            continue
        for key in FAILURE_TIME_KEYS:
            t = epoch(r.evidence.get(key))
            if t is not None:
                out.append(t)
    return out


def failing_since(results: Iterable[CheckResult], seen_at: float, not_before: float | None) -> float:
    """When the service first failed: the earliest platform time of the failing evidence, never
    before it was last seen healthy (`not_before`); when nothing failing carries a time, when
    the failure was seen (`seen_at`)."""
    times = failure_times(results)
    start = min([*times, seen_at])
    return max(start, not_before) if not_before is not None else start


@dataclass
class Backoff:
    """The runbook's quick fix at most `tries` times: the first after the service has been
    unhealthy `first_s`, each next one `factor` times longer after the one before; after the
    last, the same wait again before saying the restart does not help."""

    tries: int = 3
    first_s: float = 10.0
    factor: float = 2.0
    done: list[float] = field(default_factory=list)  # when each try was made (epoch)

    def wait_s(self, n: int) -> float:
        return self.first_s * self.factor ** n

    def due(self, unhealthy_since: float, now: float) -> bool:
        if len(self.done) >= self.tries:
            return False
        last = self.done[-1] if self.done else unhealthy_since
        return now - last >= self.wait_s(len(self.done))

    def next_at(self, unhealthy_since: float) -> float | None:
        if len(self.done) >= self.tries:
            return None
        last = self.done[-1] if self.done else unhealthy_since
        return last + self.wait_s(len(self.done))

    def exhausted(self, now: float) -> bool:
        """Every try made, and the last one given its time to work."""
        return len(self.done) >= self.tries > 0 and now - self.done[-1] >= self.wait_s(self.tries - 1)

    def record(self, now: float) -> int:
        self.done.append(now)
        return len(self.done)


@dataclass
class Incident:
    """One stretch of 'not healthy', from its first failure to health that held."""

    start: float  # epoch on the platform's clock
    seen_at: float  # when watch first saw it
    escalated: set[float] = field(default_factory=set)  # after_s of the steps already taken
    backoff: Backoff = field(default_factory=Backoff)
    gave_up: bool = False  # said that the restart does not help
    healthy_since: float | None = None  # health came back at (not yet held for the settling)

    def downtime_s(self, now: float) -> float:
        end = self.healthy_since if self.healthy_since is not None else now
        return max(end - self.start, 0.0)

    def earlier(self, start: float) -> None:
        """A failure time found later can only move the start back (a log line older than the
        exit that was seen first); it never moves forward while the incident lasts."""
        self.start = min(self.start, start)

    def newly_due(self, escalation: Escalation, now: float) -> list[Step]:
        """Steps whose threshold the downtime has crossed and that were not taken yet."""
        out = [s for s in escalation.due(self.downtime_s(now)) if s.after_s not in self.escalated]
        self.escalated.update(s.after_s for s in out if s.after_s is not None)
        return out

    def settled(self, now: float, settle_s: float) -> bool:
        return self.healthy_since is not None and now - self.healthy_since >= settle_s
