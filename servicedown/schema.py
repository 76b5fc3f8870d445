"""The result files the project writes and reads back, declared once: the writers (the pytest
layer, chaos, load, watch, the receiver's incidents) and the readers (the report, tools) import
what is here, so a field renamed on one side cannot silently vanish on the other.

Writers are strict (they write what is declared); readers are lenient (`from_json` takes what a
file holds, a field missing or of the wrong type becomes None, never an exception).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from servicedown.model import Outcome

# --- file names under reports/ ----------------------------------------------------------------
TRIAGE_FILE = "triage.json"  # pytest checks/ --triage-json
CHAOS_FILE = "chaos.json"  # pytest chaos/ --chaos-json
LOAD_FILE = "load-timeline.json"  # the load runs' per-second series
COVERAGE_FILE = "coverage.json"  # runbook coverage

# --- values -------------------------------------------------------------------------------------
VERDICTS = ("healthy", "degraded", "down")
OUTCOMES = tuple(o.value for o in Outcome)
# The fields of one experiment in chaos.json, first in every entry, in this order.
EXPERIMENT_FIELDS = ("id", "expected_cause", "detected_cause", "detected", "mttd_s", "remediation",
                     "recovered", "mttr_s", "writes_acknowledged", "writes_lost", "verdict")


# --- times -------------------------------------------------------------------------------------
def iso(t: float) -> str:
    """An epoch time as ISO 8601 in UTC, to the millisecond (what every file holds)."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def number(value: Any) -> float | None:
    """A finite float, or None (bools, strings that are not numbers, NaN are not numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


# Times a page can draw: from 1970 to the year 3000 (beyond that, a date has no place on it).
EPOCH_MAX = 32_503_680_000.0


def epoch(value: Any) -> float | None:
    """Epoch seconds from epoch seconds, milli-, micro- or nanoseconds, or an ISO 8601 string;
    None for anything that is not a time a page can draw."""
    f = number(value)
    if f is not None:
        while f > EPOCH_MAX and f > 1e11:  # ms, then µs, then ns, written as seconds
            f /= 1000.0
        return f if 0 <= f <= EPOCH_MAX else None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # the project writes UTC everywhere
    try:
        t = dt.timestamp()
    except (OverflowError, OSError, ValueError):
        return None
    return t if 0 <= t <= EPOCH_MAX else None


# --- the chaos journal -----------------------------------------------------------------------
# The phases of an experiment, in order (Chaos Toolkit's hypothesis, method and rollbacks); the
# report groups the journal by them, so an activity filed under another name would be lost there.
PHASES = ("stack", "steady-state", "inject", "detect", "remediate", "recover", "verify",
          "revert")


@dataclass
class JournalEntry:
    """One activity of a chaos run (Chaos Toolkit's journal.json in spirit): epoch times."""

    experiment: str  # an experiment id, or "" for the stack itself
    phase: str
    name: str
    start: float | None
    end: float | None = None
    status: str = "running"  # running | succeeded | failed | interrupted
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return round(self.end - self.start, 3)

    def to_json(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "phase": self.phase, "name": self.name,
                "start": None if self.start is None else iso(self.start),
                "end": None if self.end is None else iso(self.end),
                "duration_s": self.duration_s, "status": self.status, "detail": self.detail}

    @classmethod
    def from_json(cls, doc: Any, experiment: str = "") -> JournalEntry | None:
        """Leniently: older journals named the times `started`/`ended` and the phase `activity`."""
        if not isinstance(doc, dict):
            return None
        detail = doc.get("detail") if isinstance(doc.get("detail"), dict) else {}
        return cls(
            experiment=str(doc.get("experiment") or experiment),
            phase=str(doc.get("phase") or doc.get("activity") or ""),
            name=str(doc.get("name") or doc.get("activity") or doc.get("phase") or ""),
            start=epoch(doc.get("start", doc.get("started"))),
            end=epoch(doc.get("end", doc.get("ended"))),
            status=str(doc.get("status") or ""),
            detail=detail)


# --- the incident timeline (servicedown watch) ---------------------------------------------------
# reports/incident-timeline.jsonl: one JSON object a line, appended as things happen, so a watch
# cut short still leaves every line it wrote. The README documents the format for other tools.
TIMELINE_FILE = "incident-timeline.jsonl"
TIMELINE_KINDS = ("start", "state", "check", "restart", "remediation", "escalation", "recovery",
                  "end")
TIMELINE_FIELDS = ("time", "kind", "verdict", "top_cause", "detail")  # first in every line


@dataclass
class TimelineEntry:
    """One line of the incident timeline. `time` is when it happened on the platform's clock where
    the platform said (an exit, a restart), else when watch saw it; `data` holds the kind's own
    fields (check id and outcomes, downtime, escalation target...), written after the five."""

    time: float
    kind: str  # one of TIMELINE_KINDS
    verdict: str | None  # healthy | degraded | down, or None before the first run
    top_cause: str | None
    detail: str  # one line for people, masked
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in TIMELINE_KINDS:
            raise ValueError(f"timeline kind {self.kind!r} is not one of {', '.join(TIMELINE_KINDS)}")

    def to_json(self) -> dict[str, Any]:
        head = {"time": iso(self.time), "kind": self.kind, "verdict": self.verdict,
                "top_cause": self.top_cause, "detail": self.detail}
        return head | {k: v for k, v in self.data.items() if k not in head}

    @classmethod
    def from_json(cls, doc: Any) -> TimelineEntry | None:
        """Leniently: a line without a time or with an unknown kind is not an entry (None)."""
        if not isinstance(doc, dict):
            return None
        t = epoch(doc.get("time"))
        kind = doc.get("kind")
        if t is None or kind not in TIMELINE_KINDS:
            return None
        verdict = doc.get("verdict") if doc.get("verdict") in VERDICTS else None
        top = doc.get("top_cause")
        data = {k: v for k, v in doc.items() if k not in TIMELINE_FIELDS}
        return cls(t, str(kind), verdict, str(top) if isinstance(top, str) and top else None,
                   str(doc.get("detail") or ""), data)


# --- incidents: `servicedown serve` (servicedown/receiver) -----------------------------------
# reports/incidents/<id>/ holds one incident: its triage (TRIAGE_FILE, the same format as
# `pytest checks/ --triage-json`), the post-mortem page and draft, the summary posted, and the
# incident with its log of notifications.
INCIDENTS_DIR = "incidents"
INCIDENT_FILE = "incident.json"
POSTMORTEM_HTML = "postmortem.html"
POSTMORTEM_MD = "postmortem.md"
SUMMARY_FILE = "summary.txt"
INCIDENT_STATUSES = ("open", "closed")
# firing: the first notification; repeat: Alertmanager's repeats and group updates; resolved:
# the group resolved (the incident closes); triage: a run of the checks for it; remediation: the
# runbook's restart (only where the receiver's config allows it for the alert).
INCIDENT_EVENTS = ("firing", "repeat", "resolved", "triage", "triage-failed", "remediation")


@dataclass
class IncidentEvent:
    at: float  # epoch, the receiver's clock
    event: str  # one of INCIDENT_EVENTS
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": iso(self.at), "event": self.event, "detail": self.detail}

    @classmethod
    def from_json(cls, doc: Any) -> IncidentEvent | None:
        if not isinstance(doc, dict):
            return None
        at = epoch(doc.get("at"))
        if at is None or not isinstance(doc.get("event"), str):
            return None
        detail = doc.get("detail") if isinstance(doc.get("detail"), dict) else {}
        return cls(at, doc["event"], detail)


@dataclass
class Incident:
    """One alert group about one target, from its first firing notification to its resolution."""

    id: str  # also its folder's name: [A-Za-z0-9-] only
    key: str  # the alert group (Alertmanager's groupKey) and the target: what repeats share
    alertname: str
    target: str  # the configured target's name (never a label's value)
    status: str = "open"
    labels: dict[str, str] = field(default_factory=dict)  # the group's common labels
    started_at: float | None = None  # Alertmanager's startsAt: when the alert fired
    opened_at: float | None = None  # when the receiver got the first notification
    resolved_at: float | None = None  # Alertmanager's endsAt of the resolution
    closed_at: float | None = None  # when the receiver got it
    remediated: bool = False
    repeats: int = 0
    log: list[IncidentEvent] = field(default_factory=list)

    @property
    def recovery_s(self) -> float | None:
        """Time from the alert firing to its resolution, as Alertmanager stamps them."""
        if self.started_at is None or self.resolved_at is None:
            return None
        return round(max(self.resolved_at - self.started_at, 0.0), 3)

    def to_json(self) -> dict[str, Any]:
        def when(t: float | None) -> str | None:
            return None if t is None else iso(t)

        return {"id": self.id, "key": self.key, "alertname": self.alertname, "target": self.target,
                "status": self.status, "labels": self.labels, "started_at": when(self.started_at),
                "opened_at": when(self.opened_at), "resolved_at": when(self.resolved_at),
                "closed_at": when(self.closed_at), "recovery_s": self.recovery_s,
                "remediated": self.remediated, "repeats": self.repeats,
                "log": [e.to_json() for e in self.log]}

    @classmethod
    def from_json(cls, doc: Any) -> Incident | None:
        """Leniently; None when it is not an incident (no id, key or target)."""
        if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) and doc.get(k)
                                                for k in ("id", "key", "target")):
            return None
        labels = doc.get("labels") if isinstance(doc.get("labels"), dict) else {}
        raw_log = doc.get("log") if isinstance(doc.get("log"), list) else []
        events = [IncidentEvent.from_json(e) for e in raw_log]
        repeats = number(doc.get("repeats"))
        return cls(id=doc["id"], key=doc["key"], alertname=str(doc.get("alertname") or ""),
                   target=doc["target"],
                   status="closed" if doc.get("status") == "closed" else "open",
                   labels={str(k): str(v) for k, v in labels.items()},
                   started_at=epoch(doc.get("started_at")), opened_at=epoch(doc.get("opened_at")),
                   resolved_at=epoch(doc.get("resolved_at")), closed_at=epoch(doc.get("closed_at")),
                   remediated=doc.get("remediated") is True,
                   repeats=int(repeats) if repeats is not None else 0,
                   log=[e for e in events if e is not None])
