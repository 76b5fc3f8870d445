"""What one experiment measured, and the pure arithmetic on it (MTTD, MTTR, verdict).

MTTD: from the end of the injection to the end of the first detection poll whose triage puts
the expected cause on top (what an on-call engineer running the checks would have seen).
MTTR: from the start of the remediation to the end of the first poll that finds the service
recovered. Where the platform heals by itself (restart policy), the remediation starts when
the fault took effect, i.e. at the end of the injection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from servicedown.model import CheckResult, Outcome
from servicedown.redact import clip
from servicedown.schema import EXPERIMENT_FIELDS


def elapsed(start: float | None, end: float | None) -> float | None:
    """end - start in seconds (rounded to ms), or None when either is unknown or out of order."""
    if start is None or end is None or end < start:
        return None
    return round(end - start, 3)


def expectation_problems(results: Iterable[CheckResult], must_fail: Iterable[str],
                         must_pass: Iterable[str]) -> list[str]:
    """Each declared expectation the results break, in words."""
    by_id = {r.id: r for r in results}
    problems = []
    for checks, wanted, words in ((must_fail, Outcome.FAIL, "must fail"),
                                  (must_pass, Outcome.PASS, "must stay green")):
        for check in checks:
            r = by_id.get(check)
            if r is None:
                problems.append(f"{check} {words} but was not run")
            elif r.outcome is not wanted:
                problems.append(f"{check} {words} but was {r.outcome}: {clip(r.message, 160)}")
    return problems


@dataclass
class ExperimentResult:
    id: str
    expected_cause: str | None  # None: only history was left, no cause must be named
    fault: str = ""
    remediation: str = ""
    detected_cause: str | None = None
    detected: bool = False
    mttd_s: float | None = None
    recovered: bool = False
    mttr_s: float | None = None
    writes_acknowledged: int = 0
    writes_lost: int = 0
    verdict: str = "not-run"
    # Beyond the report's fields: what a reader of a failure needs.
    steady_state: bool = False
    ranking: list[str] = field(default_factory=list)  # "cause (score)" at detection or last poll
    causes_listed: list[str] = field(default_factory=list)  # every ranked cause, same poll
    checks_failed: list[str] = field(default_factory=list)  # at detection, or at the last poll
    expectation_problems: list[str] = field(default_factory=list)
    detection_polls: int = 0
    writes_acknowledged_during_fault: int = 0
    writes_refused: int = 0
    writes_unverified: int = 0
    writes_resumed: bool | None = None
    reverted: bool = False
    toxics_after_revert: list[str] | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        head = {k: d.pop(k) for k in EXPERIMENT_FIELDS}
        return head | d


def judge(r: ExperimentResult) -> str:
    """pass | fail | aborted (the steady state never held, so nothing was proven either way).
    Detection, the declared check expectations, recovery, no lost or unverifiable write and a
    clean revert are all required for a pass. Time budgets are recorded, not judged here."""
    if not r.steady_state:
        return "aborted"
    ok = (r.detected and not r.expectation_problems and r.recovered and r.writes_lost == 0
          and r.writes_unverified == 0 and r.reverted and not r.toxics_after_revert
          and r.error is None)
    return "pass" if ok else "fail"
