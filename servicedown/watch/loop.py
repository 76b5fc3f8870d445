"""`servicedown watch`: the checks, then the platform's events, until the incident is over.

One loop, on one thread: a full run of the checks; then each burst of events from the sources
(watch/sources.py) re-runs the checks they can change (watch/affected.py) and triages the
merged results; a full run every `interval_s` is the floor. After each run: what changed goes
to the timeline (watch/record.py), the incident's clock and escalation steps are kept
(watch/incident.py), the quick fix is tried with back-off when asked to, and health that held
for `settle_s` closes the incident. The time bound, recovery (with --until-healthy) or Ctrl-C
end it; the final triage and the timeline are written whatever ends it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from servicedown.backends.command import within
from servicedown.config import Settings
from servicedown.diagnosis.catalog import all_checks
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.runner import run_checks
from servicedown.model import CheckResult, Triage
from servicedown.redact import Redactor
from servicedown.runbook.escalation import Escalation, Step
from servicedown.schema import TimelineEntry, iso
from servicedown.targets import make_target
from servicedown.targets.base import Target
from servicedown.triage import triage
from servicedown.watch.affected import checks_for, waves
from servicedown.watch.incident import Backoff, Incident, failing_since
from servicedown.watch.record import TimelineWriter
from servicedown.watch.sources import EventQueue, Source, WatchEvent, sources_for

TICK_S = 1.0  # the loop wakes at least this often: the clock, escalation, back-off, settling
OWN_RESTART_S = 15.0  # platform starts this soon after watch's own restart are that restart
HOOK_TIMEOUT_S = 10.0
RESTART_TIMEOUT_S = 90.0
CHANGES_SHOWN = 12


@dataclass
class WatchOptions:
    interval_s: float = 30.0  # a full run at least this often
    max_s: float = 7200.0  # the time bound
    until_healthy: bool = False  # stop at recovery
    settle_s: float = 10.0  # healthy this long is recovered
    max_restarts: int = 3  # K: quick fixes tried at most (with the settings' remediate)
    backoff_s: float = 10.0  # unhealthy this long before the first; doubled after each
    escalation_hook: str = ""  # a shell command run at each escalation step
    timeline: str = "reports/incident-timeline.jsonl"
    triage_json: str = "reports/triage.json"


@dataclass
class Snapshot:
    """What the views show, as of the last run (the clock they compute as they draw)."""

    target: str
    triage: Triage | None
    incident: Incident | None
    escalation: Escalation
    changes: list[tuple[float, str]]
    sources: list[tuple[str, str]]  # (name, "ok" | why not)
    last_run: tuple[float, str] | None  # (when, which checks)
    next_full_in_s: float | None
    remediation: str
    remediate: bool
    steps: list[str] = field(default_factory=list)  # the resolution steps once restart gave up


class View(Protocol):
    def __enter__(self) -> View: ...

    def __exit__(self, *exc: object) -> None: ...

    def entry(self, entry: TimelineEntry) -> None: ...

    def update(self, snap: Snapshot) -> None: ...


class Watcher:
    def __init__(self, settings: Settings, options: WatchOptions, view: View,
                 escalation: Escalation, target: Target | None = None,
                 sources: bool = True, fallback_steps: list[str] | None = None) -> None:
        self.settings = settings
        self.opts = options
        self.view = view
        self.escalation = escalation
        # The runbook's "If Restart Doesn't Help" steps, for when the triage names no cause.
        self.fallback_steps = list(fallback_steps or [])
        self.target = target or make_target(settings)
        self.queue = EventQueue()
        self.sources: list[Source] = sources_for(settings, self.queue.put) if sources else []
        self.results: dict[str, CheckResult] = {}
        self.tri: Triage | None = None
        self.incident: Incident | None = None
        self.last_healthy_at: float | None = None
        self.changes: deque[tuple[float, str]] = deque(maxlen=CHANGES_SHOWN)
        self.redactor = Redactor()
        self.writer: TimelineWriter | None = None
        self.last_run: tuple[float, str] | None = None
        self.last_run_at = 0.0
        self.full_due = 0.0  # monotonic
        self.own_restart_until = 0.0
        self.remediation = ""
        self.steps: list[str] = []
        self.stop_reason = ""
        self.done = False
        self.runs = {"full": 0, "affected": 0}  # for the end line: what the watch cost

    # --- the timeline ---------------------------------------------------------------------------
    def record(self, when: float, kind: str, detail: str, **data: Any) -> None:
        assert self.writer is not None
        tri = self.tri
        self.writer.write(when, kind, tri.verdict if tri else None,
                          tri.top.id if tri and tri.top else None, detail, **data)

    # --- the loop ---------------------------------------------------------------------------------
    def run(self) -> int:
        deadline = time.monotonic() + self.opts.max_s
        interrupted = False
        previous = _sigterm_as_interrupt()
        try:
            self.redactor = _redactor(self.settings, self.target)
            self.writer = TimelineWriter(Path(self.opts.timeline), self.redactor, self.view.entry)
            with self.view:
                self.record(time.time(), "start", f"watching {self.target.describe()}; events from "
                            f"{', '.join(s.name_word for s in self.sources) or 'none'}; full run every "
                            f"{self.opts.interval_s:g} s; {self._escalation_words()}",
                            target=self.target.describe(), remediate=self.settings.remediate,
                            escalation=[{"after_s": s.after_s, "who": s.who}
                                        for s in self.escalation.steps])
                # The sources first: what happens while the first run reads is queued for the
                # run after it, and /health's first answer is taken before the fault can come.
                for s in self.sources:
                    s.start()
                self._run(None, "first run")
                while not self.done:
                    now = time.monotonic()
                    if now >= deadline:
                        self.stop_reason = f"time bound of {self.opts.max_s:g} s reached"
                        break
                    events = self.queue.wait(min(deadline, self.full_due, now + TICK_S) - now)
                    if events:
                        self._on_events(events)
                    elif time.monotonic() >= self.full_due:
                        self._run(None, "full run (floor)")
                    elif self._settle_due():
                        self._run(None, "full run (settling)")
                    self._tick()
        except KeyboardInterrupt:
            interrupted = True
            self.stop_reason = "interrupted (Ctrl-C)"
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            self._finish()
        if interrupted:
            return 130
        return 0 if self.tri is not None and self.tri.verdict == "healthy" else 1

    def _finish(self) -> None:
        for s in self.sources:
            s.stop()
        try:
            if self.tri is not None:
                self._write_triage()
            if self.writer is not None:
                inc = self.incident
                self.record(time.time(), "end", self.stop_reason or "stopped",
                            reason=self.stop_reason or "stopped",
                            downtime_s=None if inc is None else round(inc.downtime_s(time.time()), 1),
                            down_since=None if inc is None else iso(inc.start),
                            triage_json=self.opts.triage_json, runs=dict(self.runs))
                self.view.update(self.snapshot())
        finally:
            if self.writer is not None:
                self.writer.close()
            with contextlib.suppress(Exception):
                self.target.close()

    def _write_triage(self) -> None:
        assert self.tri is not None
        out = Path(self.opts.triage_json)
        out.parent.mkdir(parents=True, exist_ok=True)
        when = self.last_run[0] if self.last_run else time.time()
        doc = self.tri.to_json() | {"target": self.target.describe(), "time": iso(when)}
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(self.redactor.mask_json(doc), indent=2, default=str))
        os.replace(tmp, out)

    # --- runs -------------------------------------------------------------------------------------
    def _on_events(self, events: list[WatchEvent]) -> None:
        for e in events:
            self.changes.append((e.at, e.what))
            if e.kind == "platform":
                self.record(e.at, "state", e.what, source=e.source, platform_answering=e.up)
            if e.restart and e.at > self.own_restart_until:
                self.record(e.at, "restart", f"restarted by the platform: {e.what}", by="platform",
                            source=e.source)
        kinds = {e.kind for e in events}
        if any(e.kind == "platform" and not e.up for e in events) and kinds <= {"platform"}:
            self._push_view()  # nothing to re-read from a platform that does not answer
            return
        heard = "; ".join(dict.fromkeys(e.what for e in events))
        ids = checks_for(kinds)
        for wave in [None] if ids is None else waves(ids):
            self._run(wave, heard)

    def _run(self, only: set[str] | None, why: str) -> None:
        results = run_checks(self.settings, self.target, only=only)
        self.runs["full" if only is None else "affected"] += 1
        now = time.time()
        first = not self.results
        before = dict(self.results)
        self.results.update({r.id: r for r in results})
        order = list(all_checks())
        merged = sorted(self.results.values(),
                        key=lambda r: order.index(r.id) if r.id in order else len(order))
        old = self.tri
        self.tri = triage(merged)
        at = max((r.at for r in results if r.at is not None), default=now)
        self.last_run = (at, "every check" if only is None else
                         ", ".join(sorted({c.split(".")[0] for c in only})))
        self.last_run_at = at
        if only is None:
            self.full_due = time.monotonic() + self.opts.interval_s
        if not first:
            for r in results:
                prev = before.get(r.id)
                if prev is not None and prev.outcome is not r.outcome:
                    text = f"{r.id}: {prev.outcome.value} → {r.outcome.value}: {r.message}"
                    self.changes.append((r.at or now, text))
                    self.record(r.at or now, "check", text[:400], check=r.id, before=prev.outcome.value,
                                after=r.outcome.value)
        self._follow_incident(results, at)
        if first or _key(old) != _key(self.tri):
            tri = self.tri
            inc = self.incident
            head = f"{tri.headline}" + (f", most likely {tri.top.id}" if tri.top else "")
            self.record(at, "state", f"{head}: {tri.state or 'no platform state'} (after {why})"[:600],
                        state=tri.state, failed=[r.id for r in merged if r.failed],
                        down_since=None if inc is None else iso(inc.start),
                        downtime_s=None if inc is None else round(inc.downtime_s(at), 1),
                        trigger=why[:300])
        self._push_view()

    def _follow_incident(self, results: list[CheckResult], at: float) -> None:
        assert self.tri is not None
        if self.tri.verdict == "healthy":
            self.last_healthy_at = at
            if self.incident is not None and self.incident.healthy_since is None:
                self.incident.healthy_since = at
            return
        start = failing_since(self.results.values(), at, self.last_healthy_at)
        if self.incident is None:
            backoff = Backoff(self.opts.max_restarts, self.opts.backoff_s)
            self.incident = Incident(start, at, backoff=backoff)
            self.remediation, self.steps = "", []
        else:
            self.incident.healthy_since = None
            self.incident.earlier(start)

    def _settle_due(self) -> bool:
        inc = self.incident
        return (inc is not None and inc.healthy_since is not None
                and time.time() - inc.healthy_since >= self.opts.settle_s
                and self.last_run_at - inc.healthy_since < self.opts.settle_s)

    # --- the clock --------------------------------------------------------------------------------
    def _tick(self) -> None:
        inc, tri = self.incident, self.tri
        now = time.time()
        if inc is None or tri is None:
            self._push_view()
            return
        if tri.verdict != "healthy":
            for step in inc.newly_due(self.escalation, now):
                self._escalate(step, inc, now)
            if self.settings.remediate and tri.verdict == "down":
                # Only a service that is down: a degraded one still serves, and a restart
                # would take that away (one coming back from a restart is often degraded).
                self._remediate(inc, now)
        elif inc.healthy_since is not None and self.last_run_at - inc.healthy_since >= self.opts.settle_s:
            self.record(self.last_run_at, "recovery",
                        f"recovered: healthy since {iso(inc.healthy_since)} and held "
                        f"{self.opts.settle_s:g} s; down {inc.downtime_s(now):.0f} s as users saw it "
                        f"(from {iso(inc.start)})",
                        down_since=iso(inc.start), healthy_since=iso(inc.healthy_since),
                        downtime_s=round(inc.downtime_s(now), 1), restarts_tried=len(inc.backoff.done))
            self.incident = None
            if self.opts.until_healthy:
                self.stop_reason = "recovered (--until-healthy)"
                self.done = True
        self._push_view()

    def _escalate(self, step: Step, inc: Incident, now: float) -> None:
        crossed = inc.start + (step.after_s or 0.0)
        detail = (f"down {inc.downtime_s(now) / 60:.1f} min (since {iso(inc.start)}): "
                  f"{step.when()} reached: {step.text}")
        hook = self._hook(step, inc, now) if self.opts.escalation_hook else None
        self.changes.append((now, f"escalation: {step.who} ({step.when()})"))
        self.record(now, "escalation", detail, who=step.who, after_s=step.after_s,
                    crossed_at=iso(crossed), downtime_s=round(inc.downtime_s(now), 1), hook=hook)

    def _hook(self, step: Step, inc: Incident, now: float) -> dict[str, Any]:
        """The user's command (e.g. a page), bounded; what it printed is not kept (it is theirs)."""
        tri = self.tri
        env = {**os.environ, "SERVICEDOWN_ESCALATE_TO": step.who,
               "SERVICEDOWN_ESCALATION_STEP": step.text, "SERVICEDOWN_AFTER_S": f"{step.after_s:g}",
               "SERVICEDOWN_DOWNTIME_S": f"{inc.downtime_s(now):.0f}",
               "SERVICEDOWN_DOWN_SINCE": iso(inc.start),
               "SERVICEDOWN_VERDICT": tri.verdict if tri else "",
               "SERVICEDOWN_TOP_CAUSE": tri.top.id if tri and tri.top else "",
               "SERVICEDOWN_TARGET": self.target.describe()}
        try:
            proc = subprocess.run(["sh", "-c", self.opts.escalation_hook], env=env, timeout=HOOK_TIMEOUT_S,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, check=False)
            return {"rc": proc.returncode}
        except subprocess.TimeoutExpired:
            return {"rc": None, "error": f"did not finish within {HOOK_TIMEOUT_S:g} s"}
        except OSError as exc:
            return {"rc": None, "error": str(exc)[:200]}

    def _remediate(self, inc: Incident, now: float) -> None:
        b = inc.backoff
        if b.due(inc.seen_at, now):
            n = b.record(now)
            command = self.target.restart_command() or "the platform's restart"
            self.remediation = f"quick fix {n}/{b.tries}: {command}"
            self.record(now, "remediation", f"quick fix {n} of {b.tries}: {command}", attempt=n,
                        of=b.tries, command=command)
            try:
                action = within(self.target.restart, RESTART_TIMEOUT_S, "the restart")
                self.own_restart_until = time.time() + OWN_RESTART_S
                self.record(time.time(), "restart", f"restarted by watch --remediate: {action}",
                            by="remediate", attempt=n)
            except Exception as exc:  # a restart the platform refused is a finding, not a crash
                self.remediation = f"quick fix {n}/{b.tries} failed: {str(exc)[:160]}"
                self.record(time.time(), "remediation", self.remediation, attempt=n, failed=True)
            for wave in waves(checks_for(["service"]) or set()):
                self._run(wave, f"quick fix {n}")
        elif b.exhausted(now) and not inc.gave_up:
            inc.gave_up = True
            tri = self.tri
            cause = tri.top if tri and tri.top else None
            self.steps = list(cause.resolution) if cause else self.fallback_steps
            upto = f"1-{len(self.steps)}" if len(self.steps) > 1 else "1" if self.steps else ""
            self.remediation = (f"restart does not help: follow Resolution steps {upto}"
                                + (f" ({cause.id})" if cause else ""))
            self.record(now, "remediation", self.remediation + ": " + " ".join(
                f"{i}. {s}" for i, s in enumerate(self.steps, 1)), gave_up=True,
                        tried=len(b.done), steps=self.steps, cause=cause.id if cause else None)

    # --- the view ---------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        sources = [(s.name_word, "ok" if s.answering is not False else f"not answering: {s.problem}")
                   for s in self.sources]
        inc = self.incident
        remediation = self.remediation
        if self.settings.remediate and inc is not None and not inc.gave_up and self.tri is not None \
                and self.tri.verdict != "healthy":
            nxt = inc.backoff.next_at(inc.seen_at)
            if nxt is not None:
                remediation = (remediation + "; " if remediation else "") + \
                    f"next quick fix in {max(nxt - time.time(), 0):.0f} s"
        return Snapshot(self.target.describe(), self.tri, inc, self.escalation, list(self.changes),
                        sources, self.last_run, max(self.full_due - time.monotonic(), 0.0), remediation,
                        self.settings.remediate, list(self.steps))

    def _push_view(self) -> None:
        self.view.update(self.snapshot())

    def _escalation_words(self) -> str:
        steps = self.escalation.thresholds
        if not steps:
            return f"no escalation thresholds ({self.escalation.note or 'none timed'})"
        return "escalation: " + ", ".join(f"{s.who} after {s.when()}" for s in steps)


def _key(tri: Triage | None) -> tuple[Any, ...]:
    if tri is None:
        return ()
    return (tri.verdict, tri.top.id if tri.top else None, tri.inconclusive)


def _redactor(settings: Settings, target: Target) -> Redactor:
    """Masks the service's secret values wherever watch writes (events and journal lines too)."""
    ctx = Context(settings, target)
    try:
        return ctx.redactor
    finally:
        ctx.close()


def _sigterm_as_interrupt() -> Any:
    """A SIGTERM (a CI job cancelled, a terminal closed) ends watch as Ctrl-C does: files written."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        return None
