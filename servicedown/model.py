"""The data every layer passes around: check results, and what triage makes of them."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Outcome(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # not applicable to this target, or the facts could not be read
    ERROR = "error"  # the check itself broke (timeout, unreachable backend)


@dataclass
class CheckResult:
    """One diagnosis check's answer. `message` and `evidence` never hold a secret value."""

    id: str  # e.g. "running.state", "database.ready"
    runbook: str  # meaning ids its check stands for (meanings.py), e.g. "step:memory,oom"
    outcome: Outcome
    message: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    at: float | None = None  # epoch on the platform's clock when the check answered

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAIL

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["outcome"] = self.outcome.value
        d["duration_s"] = round(self.duration_s, 3)
        d["at"] = None if self.at is None else round(self.at, 3)
        return d


@dataclass
class RankedCause:
    id: str
    category: str
    title: str
    score: float
    evidence: list[str]
    resolution: list[str]
    # Whether one of the cause's defining signals matched (the check that measures it failed
    # now, or its defining log line is in the current run): only such a cause can be on top.
    defining: bool = True
    confidence: float = 0.0  # 0..1: its share of the evidence, with defining evidence
    why_not_first: str = ""  # for every cause but the top: why it ranks lower
    in_runbook: bool = True

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"] = round(self.score, 3)
        d["confidence"] = round(self.confidence, 2)
        return d


@dataclass
class Coverage:
    """How much the run could see: a verdict is only as good as the checks behind it."""

    ran: int  # passed or failed: the check could answer
    total: int
    unchecked: dict[str, str]  # area -> why it could not be checked, and what would check it

    @property
    def limited(self) -> bool:
        return self.ran < self.total / 2

    def to_json(self) -> dict[str, Any]:
        return {"ran": self.ran, "total": self.total, "unchecked": self.unchecked,
                "limited": self.limited}


@dataclass
class Triage:
    verdict: str  # "healthy" | "degraded" | "down"
    causes: list[RankedCause]
    checks: list[CheckResult]
    state: str = ""  # how the service is (not) running, with its evidence and time
    inconclusive: bool = False  # not healthy, and no cause has its defining evidence
    decide: list[str] = field(default_factory=list)  # what would decide, when inconclusive
    history: list[str] = field(default_factory=list)  # what happened before, recovered from
    coverage: Coverage | None = None

    @property
    def top(self) -> RankedCause | None:
        """The most likely cause; None when healthy or when no cause has defining evidence."""
        if self.inconclusive or not self.causes:
            return None
        return self.causes[0]

    @property
    def headline(self) -> str:
        """The verdict in one phrase: 'DOWN (cause inconclusive)', 'HEALTHY as far as 1 of 30
        checks could see'."""
        head = self.verdict.upper()
        if self.inconclusive:
            head += " (cause inconclusive)"
        if self.coverage is not None and self.coverage.limited:
            head += f" as far as {self.coverage.ran} of {self.coverage.total} checks could see"
        return head

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "headline": self.headline,
            "cause_inconclusive": self.inconclusive,
            "top_cause": self.top.id if self.top else None,
            "state": self.state,
            "causes": [c.to_json() for c in self.causes],
            "decide": self.decide,
            "history": self.history,
            "coverage": self.coverage.to_json() if self.coverage else None,
            "checks": [c.to_json() for c in self.checks],
        }
