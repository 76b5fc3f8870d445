"""Rank the runbook's common causes from the pattern of failed and passed checks, honestly.

Scoring (all of it data in causes.py): a cause's score is the sum of the weights of its
signals that match at least one result (each signal counts once, however many results match).
A cause is a candidate when one of its positive FAIL signals matched and its score is above 0.

Only a cause with defining evidence (causes.Signal.defines: the check that measures it failed
now, or its defining log line is in the current run) can be ranked first. Candidates with it
come first (a symptom, such as a dead port, after the causes that explain it), by score, then
by independent corroboration (matched positive FAIL signals), then in the table's order;
candidates without it follow, each saying so. When no candidate has defining evidence the
verdict is "cause inconclusive", with what would decide.

Confidence is a cause's share of the evidence (its score over the candidates' total, where a
candidate without defining evidence counts half), and at most 0.3 without defining evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from servicedown.causes import CAUSES, DEAD_PORT, TOO_MANY, Cause, Signal
from servicedown.diagnosis.catalog import AREAS, all_checks
from servicedown.diagnosis.registry import CANNOT_TELL
from servicedown.model import CheckResult, Coverage, Outcome, RankedCause, Triage
from servicedown.redact import clip, redact

MAX_MESSAGE = 300  # characters of a check's message quoted as evidence
MAX_UNSURE = 0.3  # confidence of a cause without defining evidence, at the most
_HTTP_STATUS_KEYS = ("status_code", "status")
_DB_FULL = re.compile(TOO_MANY, re.IGNORECASE)
_DEAD_PORT = re.compile(DEAD_PORT, re.IGNORECASE)


@dataclass
class _Scored:
    cause: Cause
    index: int
    score: float
    support: int  # matched positive FAIL signals
    defining: bool
    matched: list[tuple[Signal, list[CheckResult]]]


def triage(results: Iterable[CheckResult], causes: Sequence[Cause] = CAUSES) -> Triage:
    checks = list(results)
    status = verdict(checks)
    common = {"state": state_line(checks), "history": history(checks), "coverage": coverage(checks)}
    if status == "healthy":
        return Triage(status, [], checks, **common)
    scored = [s for s in (_score(c, i, checks) for i, c in enumerate(causes)) if s is not None]
    # A symptom that a proven cause explains (a dead port when the open files ran out) follows it.
    explained = any(s.defining and not s.cause.symptom for s in scored)
    scored.sort(key=lambda s: (not s.defining, s.cause.symptom and explained, -s.score, -s.support,
                               s.index))
    # Evidence without a defining check counts half against the others: it is a hint.
    total = sum(s.score * (1.0 if s.defining else 0.5) for s in scored) or 1.0
    ranked = []
    for rank, s in enumerate(scored):
        share = min(s.score / total, 1.0)
        conf = share if s.defining else min(share, MAX_UNSURE)
        ranked.append(_ranked(s, conf, "" if rank == 0 else _why_not_first(s, scored[0], checks)))
    inconclusive = not any(s.defining for s in scored)
    decide = _decide(scored, checks) if inconclusive else []
    return Triage(status, ranked, checks, inconclusive=inconclusive, decide=decide, **common)


def _score(c: Cause, index: int, checks: list[CheckResult]) -> _Scored | None:
    matched = [(s, [r for r in checks if s.matches(r)]) for s in c.signals]
    matched = [(s, rs) for s, rs in matched if rs]
    support = sum(1 for s, _ in matched if s.outcome is Outcome.FAIL and s.weight > 0)
    score = sum(s.weight for s, _ in matched)
    if not support or score <= 0:
        return None
    # Evidence against on the very result that would define the cause takes that away: a
    # pg_isready that fails with "too many clients" says the database is up, not down.
    against = {id(r) for s, rs in matched if s.weight < 0 for r in rs}
    defining = any(s.defines and s.weight > 0 and any(id(r) not in against for r in rs)
                   for s, rs in matched)
    return _Scored(c, index, score, support, defining, matched)


def verdict(results: Sequence[CheckResult]) -> str:
    """"healthy" (nothing failed), "down" (not serving at all) or "degraded".

    Down: not running, /health not answering or answering 5xx, or the database (a critical
    dependency: no API call works without it) down or out of the engine's reach, whatever
    /health says (the real engine's stays 200). A database that is full is degraded, and so is
    a service back after an exit that answers /health healthy before its platform's own
    healthcheck has passed."""
    failed = [r for r in results if r.failed]
    if not failed:
        return "healthy"
    answers = any(r.id == "health.endpoint" and r.passed for r in results)
    for r in failed:
        if r.id == "running.state" and answers and r.evidence.get("running") is True:
            continue  # back after an exit and answering healthy: the exit is recent, not down
        if r.id in ("running.exists", "running.state"):
            return "down"
        if r.id == "health.endpoint":
            status = _http_status(r)
            if status is None or status >= 500:
                return "down"
        if r.id in ("database.ready", "database.reachable") and not _DB_FULL.search(r.message):
            return "down"
    return "degraded"


def _http_status(result: CheckResult) -> int | None:
    for key in _HTTP_STATUS_KEYS:
        value = result.evidence.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def state_line(results: Sequence[CheckResult]) -> str:
    """How the service is (not) running, as the platform recorded it, or as /health answers
    where there is no platform to ask."""
    by_id = {r.id: r for r in results}
    st = by_id.get("running.state")
    health = by_id.get("health.endpoint")
    if st is not None and st.outcome in (Outcome.PASS, Outcome.FAIL):
        detail = st.evidence.get("how_detail")
        line = _one_line(str(detail)) if detail else _one_line(st.message)
        if st.passed and health is not None and health.failed and _DEAD_PORT.search(health.message):
            line += "; yet nothing answers on its HTTP port (the process lives, its port is dead)"
        return line
    if health is not None and health.outcome in (Outcome.PASS, Outcome.FAIL):
        return f"seen only from outside: {_one_line(health.message)}"
    return ""


def history(results: Sequence[CheckResult]) -> list[str]:
    """What happened before and has since passed (an exit recovered from, earlier runs' errors)."""
    out: dict[str, None] = {}
    for r in results:
        for line in r.evidence.get("history") or []:
            if isinstance(line, str):
                out.setdefault(_one_line(line), None)
    return list(out)


def coverage(results: Sequence[CheckResult]) -> Coverage:
    """How many checks could answer, and which areas none could (with why)."""
    ran = sum(1 for r in results if r.outcome in (Outcome.PASS, Outcome.FAIL))
    by_area: dict[str, list[CheckResult]] = {}
    for r in results:
        by_area.setdefault(r.id.split(".")[0], []).append(r)
    unchecked = {}
    for area in [*AREAS, *(a for a in by_area if a not in AREAS)]:
        rs = by_area.get(area, [])
        if rs and all(_unanswered(r) for r in rs):
            unchecked[area] = clip(_one_line(rs[0].message), 200)
    return Coverage(ran, len(results), unchecked)


def _unanswered(r: CheckResult) -> bool:
    return r.outcome is Outcome.ERROR or (
        r.outcome is Outcome.SKIP and r.evidence.get("skipped", CANNOT_TELL) == CANNOT_TELL)


def _why_not_first(s: _Scored, top: _Scored, checks: list[CheckResult]) -> str:
    if not s.defining:
        return "no defining evidence: " + _defining_status(s.cause, checks)
    if s.cause.symptom and not top.cause.symptom:
        return f"a symptom, which {top.cause.id} explains"
    if s.score >= top.score:
        return (f"as strong ({s.score:g} against {top.score:g}): both may be at work; listed in "
                "the table's order")
    return f"lower score ({s.score:g} against {top.score:g})"


def _defining_status(c: Cause, checks: list[CheckResult]) -> str:
    """What the checks that would define this cause said."""
    by_id = {r.id: r for r in checks}
    parts = []
    for check in dict.fromkeys(sig.check for sig in c.signals if sig.defines and sig.weight > 0):
        r = by_id.get(check)
        if r is None:
            parts.append(f"{check} not run")
        elif r.outcome is Outcome.FAIL:
            parts.append(f"{check} failed, but not in the way this cause defines")
        else:
            parts.append(f"{check} {r.outcome}" + (f" ({clip(_one_line(r.message), 120)})"
                                                   if r.outcome in (Outcome.SKIP, Outcome.ERROR) else ""))
    return "; ".join(parts) or "none declared"


def _decide(scored: list[_Scored], checks: list[CheckResult]) -> list[str]:
    """For an inconclusive verdict: the checks that would decide between the candidates, with
    why each could not, and the runbook command that stands in for it."""
    by_id = {r.id: r for r in checks}
    specs = all_checks()
    out: dict[str, None] = {}
    for s in scored[:3]:
        for check in dict.fromkeys(sig.check for sig in s.cause.signals if sig.defines and sig.weight > 0):
            r = by_id.get(check)
            if r is None or r.outcome in (Outcome.SKIP, Outcome.ERROR):
                why = clip(_one_line(r.message), 160) if r is not None else "not run"
                cmd = specs[check].command if check in specs else ""
                out.setdefault(f"{check} would decide {s.cause.id}: it could not run ({why})"
                               + (f"; by hand: `{cmd}`" if cmd else ""), None)
    if not out:
        out["no check can tell these causes apart on this target: read the logs since the last "
            "start and the platform's events by hand"] = None
    return list(out)[:5]


def _ranked(s: _Scored, confidence: float, why_not_first: str) -> RankedCause:
    evidence: dict[str, None] = {}  # ordered set: a check that feeds two signals is quoted once
    for signal, results in sorted(s.matched, key=lambda m: -m[0].weight):
        for r in results:
            prefix = "against: " if signal.weight < 0 else ""
            evidence.setdefault(f"{prefix}{r.id} {r.outcome}: {_message(r)}", None)
    c = s.cause
    return RankedCause(c.id, c.category, c.title, round(s.score, 3), list(evidence),
                       c.resolution_text, s.defining, confidence, why_not_first, c.in_runbook)


def _one_line(text: str) -> str:
    return " ".join(redact(text).split())


def _message(r: CheckResult) -> str:
    return clip(_one_line(r.message), MAX_MESSAGE)


def summary_text(t: Triage, max_causes: int = 3, max_evidence: int = 6) -> str:
    """A compact summary for the end of a pytest run: the verdict and how much was seen, how
    the service is running, the first `max_causes` causes with their evidence, confidence and
    why the others rank lower, the resolution steps of the most likely one, and the history."""
    counts = {o: sum(1 for r in t.checks if r.outcome is o) for o in Outcome}
    lines = [f"Verdict: {t.headline} - {counts[Outcome.FAIL]} failed, {counts[Outcome.PASS]} "
             f"passed, {counts[Outcome.SKIP]} skipped, {counts[Outcome.ERROR]} errored of "
             f"{len(t.checks)} checks"]
    if t.coverage is not None and t.coverage.unchecked:
        lines.append("Not checked: " + "; ".join(f"{area} ({why})"
                                                 for area, why in t.coverage.unchecked.items()))
    if t.state:
        lines.append(f"State: {t.state}")
    failed = [r.id for r in t.checks if r.failed]
    if failed:
        lines.append("Failed: " + ", ".join(dict.fromkeys(failed)))
    errored = [r.id for r in t.checks if r.outcome is Outcome.ERROR]
    if errored:
        lines.append("Could not check: " + ", ".join(dict.fromkeys(errored)))
    if t.history:
        lines.append("History (recovered from, not this incident):")
        lines.extend(f"  - {h}" for h in t.history[:6])
    if t.verdict == "healthy":
        return "\n".join(lines)
    if not t.causes:
        lines.append("No runbook cause matches these failures; read each failure above.")
        return "\n".join(lines)
    if t.inconclusive:
        lines.append("No cause has its defining evidence. What would decide:")
        lines.extend(f"  - {d}" for d in t.decide)
        lines.append("Candidates (not proven):")
    else:
        lines.append("Most likely causes (score = sum of matched signal weights):")
    for n, c in enumerate(t.causes[:max_causes], 1):
        where = "" if c.in_runbook else " (not in the runbook)"
        lines.append(f"{n}. {c.id} [{c.category}] {c.title}{where} - score {c.score:g}, "
                     f"confidence {c.confidence:.0%}")
        if c.why_not_first:
            lines.append(f"     ranked lower: {c.why_not_first}")
        lines.extend(f"     - {e}" for e in c.evidence[:max_evidence])
        if len(c.evidence) > max_evidence:
            lines.append(f"     - ... {len(c.evidence) - max_evidence} more")
        if n == 1 and not t.inconclusive:  # the others' steps are in the JSON report
            lines.append("   Resolution:")
            lines.extend(f"     {i}. {step}" for i, step in enumerate(c.resolution, 1))
    rest = t.causes[max_causes:]
    if rest:
        lines.append("Also possible: " + ", ".join(f"{c.id} ({c.score:g})" for c in rest))
    return "\n".join(lines)
