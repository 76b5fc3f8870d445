"""The short summary of an incident's triage: verdict, top cause, evidence and the runbook's steps,
in plain lines that read the same in a terminal and in a chat message (no table, no colour,
nothing longer than a chat allows). It holds only what the triage already masked.
"""

from __future__ import annotations

from servicedown.model import Triage
from servicedown.schema import Incident
from servicedown.states import clock

MAX_LINE = 300
MAX_TEXT = 3500  # under every chat's limit for one message
MAX_EVIDENCE = 4
MAX_STEPS = 5


def _cut(text: str, limit: int = MAX_LINE) -> str:
    one = " ".join(str(text).split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(round(seconds))
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


def heading(inc: Incident, what: str) -> str:
    on = inc.labels.get("service") or inc.target
    return _cut(f"servicedown: {inc.alertname} {what} on {on} (target {inc.target}) - incident {inc.id}")


def triage_summary(inc: Incident, t: Triage, page: str, remediation: str = "") -> str:
    lines = [heading(inc, "firing" if inc.status == "open" else "closed")]
    top = t.top
    if t.verdict == "healthy":
        lines.append(f"Verdict: {t.headline}: no check failed")
    elif top is not None:
        lines.append(_cut(f"Verdict: {t.headline}. Top cause: {top.id}, {top.title} "
                          f"(confidence {top.confidence:.0%})"))
    elif t.causes:
        lines.append(_cut(f"Verdict: {t.headline}. Candidates: "
                          + ", ".join(c.id for c in t.causes[:3])))
    else:
        lines.append(f"Verdict: {t.headline}. No runbook cause matches the failures")
    if t.state:
        lines.append(_cut(f"State: {t.state}"))
    cause = top or (t.causes[0] if t.causes else None)
    if cause is not None:
        lines.append("Evidence:")
        # What speaks for it; what counts against it is on the page.
        lines += [f"- {_cut(e)}" for e in cause.evidence if not e.startswith("against:")][:MAX_EVIDENCE]
    if t.inconclusive and t.decide:
        lines.append("What would decide:")
        lines += [f"- {_cut(d)}" for d in t.decide[:3]]
    if top is not None and top.resolution:
        lines.append("Runbook steps:")
        lines += [f"{n}. {_cut(step)}" for n, step in enumerate(top.resolution[:MAX_STEPS], 1)]
    if t.history:
        lines.append(_cut("History: " + "; ".join(t.history[:3])))
    if t.coverage is not None and t.coverage.unchecked:
        lines.append(_cut("Not checked: " + "; ".join(f"{a} ({w})" for a, w in t.coverage.unchecked.items())))
    if remediation:
        lines.append(_cut(f"Remediation: {remediation}"))
    lines.append(f"Page: {page}")
    return _fit(lines)


def resolved_summary(inc: Incident, page: str) -> str:
    fired = clock(inc.started_at) if inc.started_at is not None else "?"
    ended = clock(inc.resolved_at) if inc.resolved_at is not None else "?"
    return _fit([heading(inc, "resolved"),
                 f"Closed: firing for {_duration(inc.recovery_s)} ({fired} to {ended} UTC), "
                 f"{inc.repeats} repeat notification(s)",
                 f"Page: {page}"])


def failed_summary(inc: Incident, reason: str) -> str:
    return _fit([heading(inc, "firing"), _cut(f"The checks could not run: {reason}")])


def _fit(lines: list[str]) -> str:
    text = "\n".join(lines)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
