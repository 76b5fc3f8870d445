"""Runbook "Related Alerts" (HighMemoryUsage, HighCPUUsage, DatabaseConnectionFailures): what the
deployment's own Prometheus saw over the event window, read through its HTTP API.

The other checks see the service as it is now; these see the minutes before, so a cause whose
moment has passed can still be named: memory that climbed to its limit before the process
vanished, when the container's own state no longer shows an OOM kill (a restarted container, a
replaced pod, a plain URL). A past peak the service has recovered from (it serves again) is
history, as running.* treat a past exit.

Series are the ones compose/monitoring/rules.yml alerts on, under the job names docs/monitoring.md
asks for (`qbitel-engine`, `postgres`). Without --prometheus-url every check is skipped as
"cannot tell" (the area is unchecked, and the summary says so); an unreachable Prometheus is
skipped the same way with its reason, and the triage goes on without these signals.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from servicedown import states
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.registry import Finding, bad, check, ok, skip
from servicedown.model import Outcome
from servicedown.probes import promql
from servicedown.probes.promql import Series
from servicedown.redact import redact

ENGINE_JOB = "qbitel-engine"
DB_JOB = "postgres"
MAX_ANSWER = 4 * 2**20  # bytes of one answer; 1000 points of a few series is far less
MAX_POINTS = 1000  # points per series over the window (Prometheus refuses more than 11,000)
EXIT_NEAR_S = 120.0  # a peak this close before the process went away is what ended it
# The alerts of rules.yml that point to a cause; ServiceDown is the symptom every cause shares.
RELATED = ("HighMemoryUsage", "HighCPUUsage", "DiskSpaceLow", "DatabaseConnectionFailures",
           "PostgresDown", "DatabaseConnectionPoolExhausted")
SYMPTOMS = ("ServiceDown",)
# Phrases of the messages that the causes table's signals read (causes.STILL, causes.THEN_EXIT).
STILL = "still at {:.0%} now"
THEN_EXIT = "then the engine {}"

class Unreachable(Exception):
    """No answer from Prometheus: the checks skip with this reason."""


@dataclass(frozen=True)
class Prom:
    url: str
    version: str
    start: float
    end: float
    step: float

    @property
    def shown(self) -> str:
        """What messages show of the URL: a password or token in it masked."""
        return redact(self.url)

    @property
    def window(self) -> str:
        return f"the last {round((self.end - self.start) / 60):g} min"


def _get(ctx: Context, url: str, params: dict[str, str]) -> Any:
    answer = ctx.network.get_json(url, params, MAX_ANSWER)
    if not answer.answered:
        raise Unreachable(answer.error or "no answer")
    if answer.body is None:
        raise Unreachable(f"HTTP {answer.status} without JSON from {redact(url)}")
    return answer.body


def _prometheus(ctx: Context) -> Prom | Finding:
    """The Prometheus of this run (asked once), or the skip every monitoring check gives."""
    base = ctx.settings.prometheus_url.rstrip("/")
    if not base:
        return skip("no Prometheus named: pass --prometheus-url (SERVICEDOWN_PROMETHEUS_URL) to read "
                    "its alerts and series over the event window")

    def reach() -> Prom:
        doc = _get(ctx, f"{base}/api/v1/status/buildinfo", {})
        try:
            version = promql.parse_build(doc)
        except promql.PromError as exc:
            raise Unreachable(f"{redact(base)} does not answer as Prometheus: {exc}") from None
        end = time.time()
        window = float(ctx.settings.event_window_s)
        return Prom(base, version, end - window, end, max(1.0, math.ceil(window / MAX_POINTS)))

    try:
        return ctx.cached("prometheus", reach)
    except Unreachable as exc:
        return skip(f"Prometheus unreachable: {redact(base)}: {exc}")


def _range(ctx: Context, prom: Prom, query: str) -> list[Series]:
    def ask() -> list[Series]:
        params = {"query": query, "start": f"{prom.start:.3f}", "end": f"{prom.end:.3f}",
                  "step": f"{prom.step:g}"}
        return promql.parse_matrix(_get(ctx, f"{prom.url}/api/v1/query_range", params))

    try:
        return ctx.cached("prometheus:" + query, ask)
    except Unreachable as exc:  # it answered the first question: a failure now is an error
        raise RuntimeError(f"Prometheus stopped answering: {exc}") from None


def _instances(series: list[Series]) -> dict[promql.Labels, dict[str, Series]]:
    """Series grouped by target (their labels without the metric name), then by metric name."""
    out: dict[promql.Labels, dict[str, Series]] = {}
    for s in series:
        out.setdefault(s.key(), {})[s.name] = s
    return out


def _since_recovered(line: str, why: str, ev: dict[str, Any]) -> Finding:
    return ok(f"{line}; recovered since ({why})", **ev, history=[line])


def _clock(t: float) -> str:
    return states.clock(t)


def _peak_finding(ctx: Context, prom: Prom, ratio: Series, threshold: float, what: str, of: str,
                  exit_of: Series | None = None, started: Series | None = None, engine: bool = True,
                  **more: Any) -> Finding:
    """A ratio against its limit over the window: fails at or above `threshold`, says when, for
    how long, whether it is still there, and (for the engine's own series) whether the engine
    went away right after.

    When it is no longer there, is it this incident? The database's series say so themselves:
    back below the line now, it recovered. The engine's cannot (they vanish with the engine), so
    a peak is history when the engine came back after it and stayed up past a start, or when it
    serves now, as running.* judge a past exit."""
    top = promql.peak(ratio.points)
    now = promql.at_end(ratio, prom.end, prom.step)
    ev: dict[str, Any] = {"prometheus": prom.shown, "window_s": round(prom.end - prom.start),
                          "instance": ratio.labels.get("instance", ""), **more}
    if top is None:
        return skip(f"no {what} sample in {prom.window}", **ev)
    peak, peak_at = top
    ev |= {"peak_ratio": round(peak, 3), "peak_at": _clock(peak_at),
           "now_ratio": None if now is None else round(now, 3)}
    if peak < threshold:
        tail = "" if now is None else f", {now:.0%} now"
        return ok(f"{what} peaked at {peak:.0%} of {of} in {prom.window}{tail} (below {threshold:.0%})",
                  **ev)
    gap = prom.step * 2.5
    last = promql.runs_at_or_above(ratio.points, threshold, gap_s=gap)[-1]  # the latest episode
    line = (f"{what} reached {last.peak:.0%} of {of} at {_clock(last.peak_at)} (at or above "
            f"{threshold:.0%} for {max(last.end - last.start, prom.step):.0f} s from {_clock(last.start)})")
    if now is not None and now >= threshold:
        return bad(f"{line}; {STILL.format(now)}", **ev)
    gone = promql.first_exit(exit_of, started, last.end, EXIT_NEAR_S)
    if gone is not None:
        line += f", {THEN_EXIT.format(gone[1])} at {_clock(gone[0])}"
        ev["exit_at"] = _clock(gone[0])
        back = promql.up_for(exit_of, gone[0], gap) if exit_of is not None else 0.0
        if back >= states.START_WINDOW_S:
            return _since_recovered(line, f"the engine was back up for {back:.0f} s after", ev)
    if not engine:
        if now is not None:
            return _since_recovered(line, f"{now:.0%} now", ev)
        return bad(f"{line}; no sample now", **ev)
    if ctx.serving_now():
        return _since_recovered(line, "serving now", ev)
    return bad(line, **ev)


def _highest(candidates: list[Finding], prom: Prom, job: str, series: str) -> Finding:
    """Of one finding per instance: a failing one first, then the highest peak; with none, a
    skip that names the `series` of `job` Prometheus has not."""
    if not candidates:
        return skip(f"Prometheus has no {series} of job {job} in {prom.window}", prometheus=prom.shown)
    return max(candidates, key=lambda f: (f.outcome is Outcome.FAIL, f.evidence.get("peak_ratio") or 0.0))


@check("monitoring.alerts", "oom,cpu,category:database", "no related alert fired in the event window")
def alerts(ctx: Context) -> Finding:
    prom = _prometheus(ctx)
    if isinstance(prom, Finding):
        return prom
    series = _range(ctx, prom, 'ALERTS{alertstate="firing"}')
    mine = (ctx.settings.service, ctx.settings.db_service)
    related: list[str] = []
    symptoms: list[str] = []
    names: dict[str, None] = {}
    firing_now = False
    for s in sorted(series, key=lambda s: s.points[0][0] if s.points else 0.0):
        name = s.labels.get("alertname", "")
        service = s.labels.get("service")
        if name not in RELATED + SYMPTOMS or (service is not None and service not in mine) \
                or not s.points:
            continue
        first, last = s.points[0][0], s.points[-1][0]
        on = f" on {service}" if service else ""
        if promql.at_end(s, prom.end, prom.step) is not None:
            line = f"{name}{on} firing since {_clock(first)}"
            firing_now = firing_now or name not in SYMPTOMS
        else:
            line = f"{name}{on} fired {_clock(first)}-{_clock(last)}, resolved"
        if name in SYMPTOMS:
            symptoms.append(line)
        else:
            related.append(line)
            names.setdefault(name, None)
    ev = {"prometheus": prom.shown, "window_s": round(prom.end - prom.start), "alerts": related,
          "symptoms": symptoms, "related": list(names)}
    seen = f" ({'; '.join(symptoms)})" if symptoms else ""
    if not related:
        return ok(f"no related alert fired in {prom.window}{seen}", **ev)
    line = f"related alerts in {prom.window}: {'; '.join(related)}{seen}"
    # Alerts that resolved while the service serves again are history; one firing now is not.
    if not firing_now and ctx.serving_now():
        return ok(f"{line}; all resolved, serving now", **ev, history=related)
    return bad(line, **ev)


@check("monitoring.memory", "oom,step:memory", "memory stayed below its limit over the event window")
def memory(ctx: Context) -> Finding:
    prom = _prometheus(ctx)
    if isinstance(prom, Finding):
        return prom
    job = f'job="{ENGINE_JOB}"'
    mem = _instances(_range(ctx, prom, '{__name__=~"qbitel_memory_working_set_bytes|'
                                       f'qbitel_memory_limit_bytes",{job}}}'))
    life = _instances(_range(ctx, prom, f'{{__name__=~"up|process_start_time_seconds",{job}}}'))
    found = []
    for key, by in mem.items():
        used, limit = by.get("qbitel_memory_working_set_bytes"), by.get("qbitel_memory_limit_bytes")
        if used is None or limit is None:
            continue
        lives = life.get(key, {})
        limit_mib = round(limit.points[-1][1] / 2**20) if limit.points else None
        found.append(_peak_finding(ctx, prom, promql.ratio(used, limit), ctx.settings.memory_threshold,
                                   "memory", f"its {limit_mib} MiB limit", lives.get("up"),
                                   lives.get("process_start_time_seconds"), limit_mib=limit_mib))
    return _highest(found, prom, ENGINE_JOB,
                    "qbitel_memory_working_set_bytes and qbitel_memory_limit_bytes")


@check("monitoring.cpu", "cpu", "CPU below saturation of its quota over the event window")
def cpu(ctx: Context) -> Finding:
    prom = _prometheus(ctx)
    if isinstance(prom, Finding):
        return prom
    job = f'job="{ENGINE_JOB}"'
    series = _range(ctx, prom, f"rate(qbitel_cpu_usage_seconds_total{{{job}}}[1m]) "
                               f"/ qbitel_cpu_limit_cores{{{job}}}")
    found = [_peak_finding(ctx, prom, s, ctx.settings.cpu_threshold, "CPU (1 min rate)", "its quota")
             for s in series]
    return _highest(found, prom, ENGINE_JOB, "qbitel_cpu_usage_seconds_total and qbitel_cpu_limit_cores")


@check("monitoring.pool", "db-pool-exhausted", "database connections below max_connections over "
       "the event window")
def pool(ctx: Context) -> Finding:
    prom = _prometheus(ctx)
    if isinstance(prom, Finding):
        return prom
    job = f'job="{DB_JOB}"'
    series = _range(ctx, prom, f"sum without (datname, state) (pg_stat_activity_count{{{job}}}) "
                               f"/ pg_settings_max_connections{{{job}}}")
    found = [_peak_finding(ctx, prom, s, ctx.settings.connections_threshold,
                           "connections in use", "max_connections", engine=False) for s in series]
    return _highest(found, prom, DB_JOB, "pg_stat_activity_count and pg_settings_max_connections")


@check("monitoring.pg_up", "db-down", "the Postgres exporter reached PostgreSQL over the event window")
def pg_up(ctx: Context) -> Finding:
    prom = _prometheus(ctx)
    if isinstance(prom, Finding):
        return prom
    series = [s for s in _range(ctx, prom, f'pg_up{{job="{DB_JOB}"}}') if s.points]
    if not series:
        return skip(f"Prometheus has no pg_up of job {DB_JOB} in {prom.window}", prometheus=prom.shown)
    ev: dict[str, Any] = {"prometheus": prom.shown, "window_s": round(prom.end - prom.start)}
    downs = []
    for s in series:
        for run in promql.runs_at_or_above([(t, -v) for t, v in s.points], 0.0, gap_s=prom.step * 2.5):
            downs.append((run, promql.at_end(s, prom.end, prom.step), s.labels.get("instance", "")))
    if not downs:
        return ok(f"pg_up 1 throughout {prom.window}", **ev)
    # The latest stretch at 0, a stretch still going first.
    run, now, instance = max(downs, key=lambda d: (d[1] == 0, d[0].end))
    ev |= {"instance": instance, "down_from": _clock(run.start), "pg_up_now": now}
    line = f"pg_up 0 (the exporter could not reach PostgreSQL) from {_clock(run.start)}"
    if now == 0:
        return bad(f"{line}; still 0 now", **ev)
    if now == 1:
        return _since_recovered(f"{line} to {_clock(run.end)}", "pg_up 1 now", ev)
    return bad(f"{line} to {_clock(run.end)}; no pg_up sample now", **ev)
