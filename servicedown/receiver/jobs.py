"""One run for one target: the checks and the triage (run_checks + triage, as `pytest checks/`
does), the runbook's restart where the config allows it for the alert, then for each incident
that asked: triage.json, the summary, the post-mortem page, the log entry, the summary posted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from servicedown.diagnosis.runner import run_checks
from servicedown.files import write_atomic
from servicedown.model import Triage
from servicedown.receiver import page
from servicedown.receiver.config import ReceiverConfig, TargetConfig
from servicedown.receiver.incidents import IncidentStore
from servicedown.receiver.metrics import ReceiverMetrics
from servicedown.receiver.poster import SummaryPoster
from servicedown.receiver.scheduler import Job
from servicedown.receiver.summary import failed_summary, triage_summary
from servicedown.redact import redact
from servicedown.remediation import restart_and_wait
from servicedown.schema import POSTMORTEM_HTML, SUMMARY_FILE, TRIAGE_FILE, iso
from servicedown.targets import make_target
from servicedown.targets.base import Target
from servicedown.triage import triage

log = logging.getLogger("servicedown.receiver")


@dataclass
class LastRun:
    at: float
    verdict: str
    headline: str
    top_cause: str | None
    duration_s: float
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"at": iso(self.at), "age_s": round(time.time() - self.at, 1), "verdict": self.verdict,
                "headline": self.headline, "top_cause": self.top_cause,
                "duration_s": round(self.duration_s, 3), "error": self.error}


class Board:
    """The last run of each target: what /healthz answers from (it never runs checks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, LastRun] = {}

    def record(self, target: str, run: LastRun) -> None:
        with self._lock:
            self._runs[target] = run

    def snapshot(self) -> dict[str, LastRun]:
        with self._lock:
            return dict(self._runs)


class Runner:
    def __init__(self, conf: ReceiverConfig, store: IncidentStore, metrics: ReceiverMetrics,
                 poster: SummaryPoster, board: Board, say: Callable[[str], None]) -> None:
        self.conf, self.store, self.metrics = conf, store, metrics
        self.poster, self.board, self.say = poster, board, say

    def __call__(self, job: Job) -> None:
        tc = self.conf.targets[job.target]
        started_at, start = time.time(), time.monotonic()
        target: Target | None = None
        try:
            target = make_target(tc.settings)
            described = target.describe()
            results = run_checks(tc.settings, target)
            tri = triage(results)
            remediation = self._remediate(job, tc, tri, target)
        except Exception as exc:  # the platform could not be asked at all: the incidents say so
            reason = redact(f"{type(exc).__name__}: {exc}")[:300]
            self.board.record(job.target, LastRun(time.time(), "unknown", "could not run the checks",
                                                  None, time.monotonic() - start, reason))
            for iid in job.incidents:
                inc = self.store.add_event(iid, "triage-failed", {"reason": reason})
                if inc is not None:
                    self._publish(failed_summary(inc, reason))
            return
        finally:
            if target is not None:
                with contextlib.suppress(Exception):
                    target.close()
        duration, ended = time.monotonic() - start, time.time()
        self.metrics.observe(job.target, results, tri, duration, ended)
        top = tri.top.id if tri.top else None
        self.board.record(job.target, LastRun(ended, tri.verdict, tri.headline, top, duration))
        doc = tri.to_json() | {"target": described, "time": iso(started_at), "alerts": job.alerts}
        for iid in job.incidents:
            self._write(iid, doc, tri, duration, remediation)

    def _write(self, iid: str, doc: dict[str, Any], tri: Triage, duration: float, remediation: str) -> None:
        folder = self.store.folder(iid)
        write_atomic(folder / TRIAGE_FILE, json.dumps(doc | {"incident": iid}, indent=2, default=str))
        written = time.time()
        inc = self.store.add_event(iid, "triage", {
            "verdict": tri.verdict, "headline": tri.headline,
            "top_cause": tri.top.id if tri.top else None, "duration_s": round(duration, 3),
            "checks": {r.id: r.outcome.value for r in tri.checks}}, now=written)
        if inc is None:
            return
        text = triage_summary(inc, tri, str(folder / POSTMORTEM_HTML), remediation)
        write_atomic(folder / SUMMARY_FILE, text + "\n")
        page.write(folder, self.store.snapshot(iid) or inc, write_atomic)
        self._publish(text)

    def _publish(self, text: str) -> None:
        self.say(text)
        self.poster.post(text)

    def _remediate(self, job: Job, tc: TargetConfig, tri: Triage, target: Target) -> str:
        """The runbook's restart, only for an alert the target's `remediate` list names, once per
        incident, and only when the service is not healthy."""
        if not tc.remediate or tri.verdict == "healthy":
            return ""
        iid = self.store.claim_remediation(job.incidents, tc.remediate)
        if iid is None:
            return ""
        r = restart_and_wait(tc.settings, target, timeout_s=self.conf.limits.restart_wait_s)
        self.store.add_event(iid, "remediation", {"action": redact(r.action)[:300], "healed": r.healed,
                                                  "seconds": round(r.seconds, 1)})
        return redact(r.message)
