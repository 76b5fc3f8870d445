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
    runbook: str  # runbook item ids it stands for, e.g. "diagnosis-1" or "cause-3.1"
    outcome: Outcome
    message: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

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
        return d


@dataclass
class RankedCause:
    id: str
    category: str
    title: str
    score: float
    evidence: list[str]
    resolution: list[str]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"] = round(self.score, 3)
        return d


@dataclass
class Triage:
    verdict: str  # "healthy" | "degraded" | "down"
    causes: list[RankedCause]
    checks: list[CheckResult]

    @property
    def top(self) -> RankedCause | None:
        return self.causes[0] if self.causes else None

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "causes": [c.to_json() for c in self.causes],
            "checks": [c.to_json() for c in self.checks],
        }
