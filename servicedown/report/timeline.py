"""One time axis for everything that happened: fault windows (chaos journal, load run), check
states over time and their changes, restarts, detections, recoveries and when load ran.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from servicedown.report.load import Inputs
from servicedown.schema import JournalEntry, TimelineEntry, epoch, number

NEAR_S = 3600.0  # an event further than this from everything else is listed, not drawn
MAX_LANES = 16  # check lanes drawn; more would not read at a glance
# The page opens on the incident: its window plus this share of its length on each side, at
# least MARGIN_MIN_S; whatever ran before (a load run, an earlier incident) stays on the page
# under "the whole period".
MARGIN_SHARE, MARGIN_MIN_S = 0.15, 30.0
WATCH = "watch"
_EVENT_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d) (\w+)(.*)$")  # ServiceState.events: "14:02:11 die exit=137"


@dataclass
class Window:
    start: float
    end: float
    label: str
    source: str


@dataclass
class Event:
    t: float
    kind: str  # fault | checks | change | restart | detect | recover | load | start | die
    text: str
    source: str


@dataclass
class Snapshot:
    t: float
    states: dict[str, str]  # check id -> pass | fail | skip | error | ok (not failing)
    source: str


@dataclass
class Lane:
    label: str
    points: list[tuple[float, str]]  # (time, state), time order


@dataclass
class Timeline:
    windows: list[Window] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    t0: float | None = None
    t1: float | None = None
    incident: Window | None = None  # the incident the view opens on (servicedown watch's last)
    full: tuple[float, float] | None = None  # the whole period, when the view is the incident's

    @property
    def drawable(self) -> bool:
        return self.t0 is not None and self.t1 is not None

    def lanes(self, t0: float | None = None, t1: float | None = None) -> list[Lane]:
        """A lane per check that was ever failing or errored; one 'all checks' lane otherwise.
        With t0/t1, only what shows between them: the state at t0 starts each lane there."""
        lanes = self._lanes()
        if t0 is None or t1 is None:
            return lanes
        out = []
        for lane in lanes:
            before = [p for p in lane.points if p[0] < t0]
            inside = [p for p in lane.points if t0 <= p[0] <= t1]
            points = ([(t0, before[-1][1])] if before else []) + inside
            if points:
                out.append(Lane(lane.label, points))
        return out

    def _lanes(self) -> list[Lane]:
        bad: dict[str, None] = {}
        for s in self.snapshots:
            for check, state in s.states.items():
                if state in ("fail", "error"):
                    bad.setdefault(check, None)
        if not bad:
            return [Lane("all checks", [(s.t, "pass") for s in self.snapshots])] if self.snapshots else []
        lanes = []
        for check in list(bad)[:MAX_LANES]:
            points = [(s.t, s.states.get(check, "ok")) for s in self.snapshots]
            lanes.append(Lane(check, points))
        return lanes

    def in_view(self, t: float) -> bool:
        return self.drawable and self.t0 <= t <= self.t1  # type: ignore[operator]


def _windows(inp: Inputs) -> list[Window]:
    out: list[Window] = []
    by_exp: dict[str, list[JournalEntry]] = {}
    for a in inp.journal:
        by_exp.setdefault(a.experiment, []).append(a)
    for exp, acts in by_exp.items():
        inject = [a for a in acts if a.phase == "inject" and a.start is not None]
        if not inject:
            continue
        start = min(a.start for a in inject)  # type: ignore[type-var]
        # The fault acts until it is reverted or the service is back, whichever comes first.
        ends = [a.end for a in acts if a.phase in ("revert", "recover") and a.end is not None
                and a.end >= start]
        ends = ends or [a.end for a in inject if a.end is not None]
        end = min(ends) if ends else start
        out.append(Window(start, end, exp or "fault", "chaos"))
    journaled = {w.label for w in out}
    for e in inp.experiments:  # experiments that carry their own window and no journal
        start = _first_time(e, ("fault_start", "injected_at", "started", "start"))
        if start is None or e["id"] in journaled:
            continue
        end = _first_time(e, ("fault_end", "reverted_at", "recovered_at", "ended", "end")) or start
        out.append(Window(start, max(start, end), e["id"], "chaos"))
    for f in inp.load_faults:
        end = f["end"] if f["end"] is not None else f["start"]
        w = Window(f["start"], max(f["start"], end), f["name"], "load")
        # The load run marks the same fault the chaos journal records: one window, both names.
        twin = next((c for c in out if c.source == "chaos" and _overlap(c, w) >= 0.5), None)
        if twin is None:
            out.append(w)
        elif w.label not in twin.label:
            twin.label = f"{twin.label} ({w.label})"
    return sorted(out, key=lambda w: w.start)


def _overlap(a: Window, b: Window) -> float:
    """Intersection over union of two windows (0 when disjoint)."""
    inter = min(a.end, b.end) - max(a.start, b.start)
    union = max(a.end, b.end) - min(a.start, b.start)
    return inter / union if inter > 0 and union > 0 else 0.0


def _first_time(e: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for k in keys:
        t = epoch(e.get(k))
        if t is not None:
            return t
    return None


def _journal_events(inp: Inputs) -> list[Event]:
    out = []
    for a in inp.journal:
        head = f"[{a.experiment}] " if a.experiment else ""
        if a.phase == "remediate" and a.start is not None:
            out.append(Event(a.start, "restart", f"{head}remediation: {a.name}", "chaos"))
        elif a.phase == "detect" and a.end is not None and a.status == "succeeded" \
                and a.detail.get("detected", a.name != "poll") is True:  # a poll is not a detection
            out.append(Event(a.end, "detect", f"{head}detected: {a.name}", "chaos"))
        elif a.phase == "recover" and a.end is not None and a.status == "succeeded":
            out.append(Event(a.end, "recover", f"{head}recovered: {a.name}", "chaos"))
        elif a.status in ("failed", "interrupted") and a.end is not None:
            out.append(Event(a.end, "change", f"{head}{a.phase} {a.status}: {a.name}", "chaos"))
    return out


FAILED_KEYS = ("checks_failed", "failed_checks", "failed", "failing")


def _journal_snapshots(inp: Inputs) -> list[Snapshot]:
    """Journal entries that say which checks failed: `checks` as id -> outcome or a list of
    {id, outcome}, or one of FAILED_KEYS as a list of ids (an empty list: nothing failing).
    A recovery that succeeded means nothing was failing when it ended."""
    out = []
    for a in inp.journal:
        t = a.end if a.end is not None else a.start
        if t is None:
            continue
        states: dict[str, str] | None = None
        checks = a.detail.get("checks")
        if isinstance(checks, dict):
            states = {str(k): str(v) for k, v in checks.items()}
        elif isinstance(checks, list):
            states = {str(c["id"]): str(c.get("outcome", "")) for c in checks
                      if isinstance(c, dict) and "id" in c}
        elif a.phase == "recover" and a.status == "succeeded":
            states = {}  # its `failing` is the poll before the one that found it recovered
        else:
            key = next((k for k in FAILED_KEYS if isinstance(a.detail.get(k), list)), None)
            if key is not None:
                states = {str(i): "fail" for i in a.detail[key]}
        if states is not None:
            out.append(Snapshot(t, states, f"chaos {a.experiment}".strip()))
    return out


def _triage_events(inp: Inputs) -> tuple[list[Event], list[Snapshot]]:
    if inp.triage is None or inp.triage_time is None:
        return [], []
    t = inp.triage_time
    checks = inp.triage["checks"]
    failed = [c["id"] for c in checks if c["outcome"] == "fail"]
    verdict = inp.triage.get("verdict") or "unknown"
    text = f"checks ran: verdict {verdict}, {len(failed)} of {len(checks)} failed"
    events = [Event(t, "checks", text + (f" ({', '.join(failed[:6])})" if failed else ""), "checks")]
    state = next((c["evidence"] for c in checks if c["id"] == "running.state"), {})
    uptime = number(state.get("uptime_s"))
    if uptime is not None:
        events.append(Event(t - uptime, "start", f"service started ({state.get('container') or 'engine'}, "
                                                  f"restart count {state.get('restart_count', '?')})",
                            "checks"))
    for line in state.get("recent_events") or []:
        m = _EVENT_LINE.match(str(line))
        if m:
            day = datetime.fromtimestamp(t, UTC)
            at = day.replace(hour=int(m[1]), minute=int(m[2]), second=int(m[3]), microsecond=0)
            if at.timestamp() > t + 1:  # a time of day after the run was yesterday's
                at -= timedelta(days=1)
            kind = "restart" if m[4] in ("die", "kill", "oom") else "change"
            events.append(Event(at.timestamp(), kind, f"container {m[4]}{m[5]}", "checks"))
    snapshot = Snapshot(t, {c["id"]: c["outcome"] for c in checks}, "checks")
    return events, [snapshot] if checks else []


def _changes(snapshots: list[Snapshot]) -> list[Event]:
    out = []
    for before, after in zip(snapshots, snapshots[1:], strict=False):
        for check in sorted(set(before.states) | set(after.states)):
            a = before.states.get(check, "ok")
            b = after.states.get(check, "ok")
            if _bad(a) != _bad(b):
                out.append(Event(after.t, "change", f"{check}: {word(a)} → {word(b)}", after.source))
    return out


def word(state: str) -> str:
    return "not failing" if state == "ok" else state  # "ok": a poll that listed only the failures


def _bad(state: str) -> bool:
    return state in ("fail", "error")


def incident_windows(entries: list[TimelineEntry]) -> list[Window]:
    """Each incident watch recorded: from when the service first failed (the platform's time
    it gave) to the recovery; one that watch left open ends at watch's last line."""
    out: list[Window] = []
    start: float | None = None
    last = 0.0
    for e in entries:
        since = epoch(e.data.get("down_since"))
        if e.kind == "start" and start is not None:  # a watch that died without its end line
            out.append(Window(start, last, "incident (watch ended before recovery)", WATCH))
            start = None
        if e.kind == "state" and e.verdict in ("down", "degraded"):
            t = since if since is not None else e.time
            start = t if start is None else min(start, t)
        elif e.kind == "recovery" and start is not None:
            healthy = epoch(e.data.get("healthy_since")) or e.time
            out.append(Window(min(start, since or start), healthy, "incident", WATCH))
            start = None
        elif e.kind == "end" and start is not None:
            out.append(Window(min(start, since or start), e.time,
                              "incident (not recovered when watch ended)", WATCH))
            start = None
        last = e.time
    if start is not None:
        out.append(Window(start, last, "incident (still open)", WATCH))
    return [w for w in out if w.end >= w.start]


WATCH_KINDS = {"restart": "restart", "recovery": "recover", "escalation": "escalation"}


def _watch_events(inp: Inputs) -> tuple[list[Event], list[Snapshot]]:
    events, snaps = [], []
    bad = False
    for e in inp.incident:
        kind = WATCH_KINDS.get(e.kind, "change")
        if e.kind == "state" and e.verdict in ("down", "degraded"):
            kind = "change" if bad else "detect"
        if e.kind == "state" and e.verdict is not None:
            bad = e.verdict != "healthy"
            failed = e.data.get("failed")
            if isinstance(failed, list):
                snaps.append(Snapshot(e.time, {str(c): "fail" for c in failed}, WATCH))
        top = f" ({e.top_cause})" if e.top_cause and e.kind == "state" else ""
        events.append(Event(e.time, kind, f"{e.kind}{top}: {e.detail}", WATCH))
    return events, snaps


def build(inp: Inputs) -> Timeline:
    incidents = incident_windows(inp.incident)
    tl = Timeline(windows=sorted(_windows(inp) + incidents, key=lambda w: w.start))
    tri_events, tri_snaps = _triage_events(inp)
    watch_events, watch_snaps = _watch_events(inp)
    tl.snapshots = sorted(_journal_snapshots(inp) + tri_snaps + watch_snaps, key=lambda s: s.t)
    events = [*tri_events, *watch_events, *_journal_events(inp), *_changes(tl.snapshots)]
    for w in tl.windows:
        what = "incident" if w.source == WATCH else "fault window"
        events.append(Event(w.start, "fault", f"{what} starts: {w.label}", w.source))
        if w.end > w.start:
            events.append(Event(w.end, "fault", f"{what} ends: {w.label}", w.source))
    kinds = {"recovered": "recover", "inject": "fault", "revert": "fault"}
    for m in inp.load_marks:
        events.append(Event(m["t"], kinds.get(m["event"], "load"), f"load run: {m['event']}", "load"))
    if inp.series:
        events.append(Event(inp.series[0]["t"], "load", "load starts", "load"))  # type: ignore[arg-type]
        events.append(Event(inp.series[-1]["t"], "load", "load ends", "load"))  # type: ignore[arg-type]
    tl.events = sorted(events, key=lambda e: e.t)
    core = [w.start for w in tl.windows] + [w.end for w in tl.windows]
    core += [p["t"] for p in inp.series if p["t"] is not None]
    core += [s.t for s in tl.snapshots]
    core += [e.t for e in tl.events if e.source != "checks"]
    if not core:
        core = [e.t for e in tl.events]
    if core:
        lo, hi = min(core), max(core)
        # Events close to the rest widen the view: with only a checks run, a restart within the
        # hour before it is the story; beside chaos or load, only what is close to them is.
        # Anything further (an engine started days ago) is listed in the table only.
        reach = NEAR_S if hi - lo < 1 else max(60.0, (hi - lo) / 2)
        near = [e.t for e in tl.events if lo - reach <= e.t <= hi + reach]
        lo, hi = min([lo, *near]), max([hi, *near])
        pad = max((hi - lo) * 0.03, 1.0)
        tl.t0, tl.t1 = lo - pad, hi + pad
    if incidents and tl.drawable:
        w = incidents[-1]
        margin = max((w.end - w.start) * MARGIN_SHARE, MARGIN_MIN_S)
        tl.incident = w
        tl.full = (min(tl.t0, w.start - margin), max(tl.t1, w.end + margin))  # type: ignore[type-var]
        tl.t0, tl.t1 = w.start - margin, w.end + margin
    return tl
