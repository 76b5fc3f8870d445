"""The checks as Prometheus metrics (the official prometheus_client, a registry of its own).

Gauges hold the last run's state per target, as a scraper wants a state rather than a count:

    servicedown_check_ok{target,check,runbook_item}  1 passed, 0 failed, NaN skipped or errored
    servicedown_cause_score{target,cause}             the triage's score (0: not a candidate)
    servicedown_verdict{target,verdict}               1 for the last run's verdict, 0 for the others
    servicedown_last_run_timestamp_seconds{target}    when the last run ended
    servicedown_queue_runs / servicedown_open_incidents
    servicedown_run_duration_seconds{target}          histogram of run durations

`runbook_item` is what the check stands for (meaning ids, e.g. "step:memory,oom").
"""

from __future__ import annotations

import math
import threading

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from servicedown.causes import CAUSES
from servicedown.model import CheckResult, Outcome, Triage
from servicedown.schema import VERDICTS

CONTENT_TYPE = CONTENT_TYPE_LATEST
BUCKETS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60, 120)


class ReceiverMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        r = self.registry
        self.check_ok = Gauge("servicedown_check_ok", "1 when the check passed in the last run, 0 when "
                              "it failed, NaN when it was skipped or could not run",
                              ["target", "check", "runbook_item"], registry=r)
        self.cause_score = Gauge("servicedown_cause_score", "The last run's triage score of each runbook "
                                 "cause (0: not a candidate)", ["target", "cause"], registry=r)
        self.verdict = Gauge("servicedown_verdict", "1 for the last run's verdict, 0 for the others",
                             ["target", "verdict"], registry=r)
        self.last_run = Gauge("servicedown_last_run_timestamp_seconds", "When the last run ended",
                              ["target"], registry=r)
        self.duration = Histogram("servicedown_run_duration_seconds", "How long a run of the checks and "
                                  "the triage took", ["target"], buckets=BUCKETS, registry=r)
        self.queue = Gauge("servicedown_queue_runs", "Runs waiting for their target", registry=r)
        self.open_incidents = Gauge("servicedown_open_incidents", "Incidents not yet resolved",
                                    registry=r)

    def observe(self, target: str, results: list[CheckResult], t: Triage, duration_s: float,
                ended_at: float) -> None:
        with self._lock:
            for res in results:
                value = {Outcome.PASS: 1.0, Outcome.FAIL: 0.0}.get(res.outcome, math.nan)
                self.check_ok.labels(target, res.id, res.runbook).set(value)
            scores = {c.id: c.score for c in t.causes}
            for c in CAUSES:
                self.cause_score.labels(target, c.id).set(scores.get(c.id, 0.0))
            for v in VERDICTS:
                self.verdict.labels(target, v).set(1.0 if v == t.verdict else 0.0)
            self.last_run.labels(target).set(ended_at)
            self.duration.labels(target).observe(duration_s)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
