"""The result files the project writes and reads back, declared once: the writers (the pytest
layer, chaos, load, watch) and the readers (the report, tools) import what is here, so a field
renamed on one side cannot silently vanish on the other.

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
