"""Rank the runbook's common causes from the pattern of failed and passed checks.

Scoring (all of it data in causes.py): a cause's score is the sum of the weights of its
signals that match at least one result (each signal counts once, however many results match).
A cause is ranked only when one of its positive FAIL signals matched and its score is above 0.
Order: higher score first; on a tie, the cause with more matched positive FAIL signals (more
independent corroboration); then the table's (the runbook's) order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from servicedown.causes import CAUSES, Cause, Signal
from servicedown.model import CheckResult, Outcome, RankedCause, Triage
from servicedown.redact import clip

MAX_MESSAGE = 300  # characters of a check's message quoted as evidence

# The service is not serving at all when one of these failed; /health only counts when it did
# not answer or answered 5xx (a slow 200 or a 429 is a degraded service, not a dead one).
_NOT_RUNNING = ("running.exists", "running.state")
_HTTP_STATUS_KEYS = ("status_code", "status")


def triage(results: Iterable[CheckResult], causes: Sequence[Cause] = CAUSES) -> Triage:
    checks = list(results)
    status = verdict(checks)
    if status == "healthy":
        return Triage(status, [], checks)
    scored = []
    for index, c in enumerate(causes):
        matched = [(s, [r for r in checks if s.matches(r)]) for s in c.signals]
        matched = [(s, rs) for s, rs in matched if rs]
        support = sum(1 for s, _ in matched if s.outcome is Outcome.FAIL and s.weight > 0)
        score = sum(s.weight for s, _ in matched)
        if support and score > 0:
            scored.append(((-score, -support, index), _ranked(c, score, matched)))
    scored.sort(key=lambda item: item[0])
    return Triage(status, [rc for _, rc in scored], checks)


def verdict(results: Sequence[CheckResult]) -> str:
    """"healthy" (nothing failed), "down" (not serving at all) or "degraded"."""
    failed = [r for r in results if r.failed]
    if not failed:
        return "healthy"
    for r in failed:
        if r.id in _NOT_RUNNING:
            return "down"
        if r.id == "health.endpoint":
            status = _http_status(r)
            if status is None or status >= 500:
                return "down"
    return "degraded"


def _http_status(result: CheckResult) -> int | None:
    for key in _HTTP_STATUS_KEYS:
        value = result.evidence.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _ranked(c: Cause, score: float, matched: list[tuple[Signal, list[CheckResult]]]) -> RankedCause:
    evidence: dict[str, None] = {}  # ordered set: a check that feeds two signals is quoted once
    for signal, results in sorted(matched, key=lambda m: -m[0].weight):
        for r in results:
            prefix = "against: " if signal.weight < 0 else ""
            evidence.setdefault(f"{prefix}{r.id} {r.outcome}: {_message(r)}", None)
    return RankedCause(c.id, c.category, c.title, round(score, 3), list(evidence),
                       c.resolution_text)


def _message(r: CheckResult) -> str:
    return clip(" ".join(r.message.split()), MAX_MESSAGE)  # one line, whatever the check wrote


def summary_text(t: Triage, max_causes: int = 3, max_evidence: int = 6) -> str:
    """A compact summary for the end of a pytest run: the verdict, the first `max_causes`
    causes with their evidence, and the resolution steps of the most likely one."""
    counts = {o: sum(1 for r in t.checks if r.outcome is o) for o in Outcome}
    head = (f"Verdict: {t.verdict.upper()} - {counts[Outcome.FAIL]} failed, "
            f"{counts[Outcome.PASS]} passed, {counts[Outcome.SKIP]} skipped, "
            f"{counts[Outcome.ERROR]} errored of {len(t.checks)} checks")
    lines = [head]
    failed = [r.id for r in t.checks if r.failed]
    if failed:
        lines.append("Failed: " + ", ".join(dict.fromkeys(failed)))
    errored = [r.id for r in t.checks if r.outcome is Outcome.ERROR]
    if errored:
        lines.append("Could not check: " + ", ".join(dict.fromkeys(errored)))
    if t.verdict == "healthy":
        return "\n".join(lines)
    if not t.causes:
        lines.append("No runbook cause matches these failures; read each failure above.")
        return "\n".join(lines)
    lines.append("Most likely causes (score = sum of matched signal weights):")
    for n, c in enumerate(t.causes[:max_causes], 1):
        lines.append(f"{n}. {c.id} [{c.category}] {c.title} - score {c.score:g}")
        lines.extend(f"     - {e}" for e in c.evidence[:max_evidence])
        if len(c.evidence) > max_evidence:
            lines.append(f"     - ... {len(c.evidence) - max_evidence} more")
        if n == 1:  # the others' steps are in the JSON report; here they would bury the first's
            lines.append("   Resolution:")
            lines.extend(f"     {i}. {step}" for i, step in enumerate(c.resolution, 1))
    rest = t.causes[max_causes:]
    if rest:
        lines.append("Also possible: " + ", ".join(f"{c.id} ({c.score:g})" for c in rest))
    return "\n".join(lines)
