"""The monitoring checks over Prometheus answers in the API's own shapes, and what the triage
makes of them: a memory climb before the engine vanished names oom where nothing else can."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from servicedown.backends import http
from servicedown.backends.network import NetworkBackend
from servicedown.causes import STILL, THEN_EXIT, cause
from servicedown.config import Settings
from servicedown.diagnosis.catalog import all_checks
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.runner import run_checks
from servicedown.model import Outcome
from servicedown.probes import promql
from servicedown.targets.url import UrlTarget
from servicedown.triage import triage

PROM = "http://prometheus.test:9090"
MONITORING = [c for c in all_checks() if c.startswith("monitoring.")]


def matrix(*series: tuple[dict[str, str], list[tuple[float, float]]]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": labels, "values": [[t, repr(v)] for t, v in points]} for labels, points in series]}}


class Recorded(NetworkBackend):
    """Prometheus's answers by query (a recorded incident); anything else is a refused connection."""

    def __init__(self, answers: dict[str, Any], reachable: bool = True) -> None:
        super().__init__(1.0, False)
        self.answers, self.reachable, self.asked = answers, reachable, []

    def get_json(self, url: str, params: dict[str, str], max_bytes: int) -> http.HttpAnswer:
        self.asked.append((url, dict(params)))
        if not self.reachable:
            return http.HttpAnswer(url, error="connection refused (nothing listens on that port)")
        if url.endswith("/api/v1/status/buildinfo"):
            return http.HttpAnswer(url, 200, {"status": "success", "data": {"version": "2.42.0"}})
        for pattern, doc in self.answers.items():
            if re.search(pattern, params.get("query", "")):
                return http.HttpAnswer(url, 200, doc(params) if callable(doc) else doc)
        return http.HttpAnswer(url, 200, matrix())

    def get(self, url: str) -> http.HttpAnswer:
        return http.HttpAnswer(url, error="connection refused (nothing listens on that port)")


def run(answers: dict[str, Any], reachable: bool = True, **settings: Any):
    s = Settings(target="url", base_url="http://engine.test:8000", prometheus_url=PROM, **settings)
    ctx = Context(s, UrlTarget(s), Recorded(answers, reachable))
    return {r.id: r for r in run_checks(s, ctx.target, ctx=ctx)}, ctx


ENGINE = {"job": "qbitel-engine", "instance": "qbitel-engine:8000", "service": "qbitel-engine"}
DB = {"job": "postgres", "instance": "postgres-exporter:9187", "service": "postgres"}
LIMIT = 512 * 2**20


def memory(used: list[tuple[float, float]]) -> dict[str, Any]:
    limit = [(t, LIMIT) for t, _ in used]
    return matrix(({"__name__": "qbitel_memory_working_set_bytes", **ENGINE}, used),
                  ({"__name__": "qbitel_memory_limit_bytes", **ENGINE}, limit))


def climb_then_gone(now: float) -> dict[str, Any]:
    """Memory climbing for 4 minutes to 97 % of its limit, then no scrape answered."""
    ts = [now - 300 + i for i in range(0, 260, 2)]
    used = [(t, LIMIT * min(0.3 + (t - ts[0]) / 240 * 0.67, 0.97)) for t in ts]
    up = [(t, 1.0) for t in ts] + [(t, 0.0) for t in range(int(ts[-1]) + 2, int(now), 2)]
    return {
        "qbitel_memory": memory(used),
        "up\\|process_start": matrix(({"__name__": "up", **ENGINE}, up)),
        "pg_up": matrix((DB, [(t, 1.0) for t in ts])),
        "ALERTS": matrix(({"__name__": "ALERTS", "alertname": "HighMemoryUsage", "alertstate": "firing",
                           "service": "qbitel-engine"}, [(t, 1.0) for t in ts[-60:]]),
                         ({"__name__": "ALERTS", "alertname": "ServiceDown", "alertstate": "firing",
                           "service": "qbitel-engine"}, [(t, 1.0) for t in range(int(now) - 20, int(now))])),
    }


def test_no_prometheus_named_is_cannot_tell_and_asks_nothing():
    s = Settings(target="url", base_url="http://engine.test:8000")
    net = Recorded({})
    ctx = Context(s, UrlTarget(s), net)
    results = {r.id: r for r in run_checks(s, ctx.target, only=MONITORING, ctx=ctx)}
    assert {r.outcome for r in results.values()} == {Outcome.SKIP}
    assert all("no Prometheus named" in r.message and r.evidence["skipped"] == "cannot tell on this target"
               for r in results.values())
    assert net.asked == []
    assert "no Prometheus named" in triage(results.values()).coverage.unchecked["monitoring"]


def test_unreachable_prometheus_is_asked_once_and_says_why():
    results, ctx = run({}, reachable=False)
    for check in MONITORING:
        assert results[check].outcome is Outcome.SKIP
        assert results[check].message.startswith(f"Prometheus unreachable: {PROM}: connection refused")
    assert len(ctx.network.asked) == 1  # one answer shared by every check


def test_memory_climb_before_the_engine_vanished_names_oom_from_prometheus_alone():
    now = time.time()
    results, _ = run(climb_then_gone(now))
    mem = results["monitoring.memory"]
    assert mem.outcome is Outcome.FAIL
    assert re.search(THEN_EXIT, mem.message), mem.message
    assert "memory reached 97% of its 512 MiB limit" in mem.message
    assert "HighMemoryUsage" in results["monitoring.alerts"].message
    t = triage(results.values())
    assert t.verdict == "down" and t.top is not None and t.top.id == "oom", [c.id for c in t.causes]
    assert any(e.startswith("monitoring.memory fail") for e in t.top.evidence)


def test_the_same_climb_without_prometheus_is_inconclusive():
    s = Settings(target="url", base_url="http://engine.test:8000")
    ctx = Context(s, UrlTarget(s), Recorded({}))
    t = triage(run_checks(s, ctx.target, ctx=ctx))
    assert t.top is None or t.top.id != "oom"


def test_memory_at_its_limit_now_is_still_there():
    now = time.time()
    ts = [now - 60 + i for i in range(0, 61, 2)]
    answers = {"qbitel_memory": memory([(t, LIMIT * 0.95) for t in ts])}
    mem = run(answers)[0]["monitoring.memory"]
    assert mem.outcome is Outcome.FAIL and re.search(STILL, mem.message), mem.message
    assert not re.search(THEN_EXIT, mem.message)


def test_pg_up_zero_corroborates_db_down_but_does_not_define_it():
    now = time.time()
    ts = [now - 100 + i for i in range(0, 101, 2)]
    answers = {"pg_up": matrix((DB, [(t, 1.0 if t < now - 40 else 0.0) for t in ts]))}
    results, _ = run(answers)
    assert results["monitoring.pg_up"].outcome is Outcome.FAIL
    assert "still 0 now" in results["monitoring.pg_up"].message
    db_down = next(c for c in triage(results.values()).causes if c.id == "db-down")
    assert not db_down.defining


def test_pool_near_max_now_defines_pool_exhaustion():
    now = time.time()
    ts = [now - 100 + i for i in range(0, 101, 2)]
    answers = {"pg_stat_activity": matrix(({**DB}, [(t, 0.93) for t in ts]))}
    results, _ = run(answers)
    assert results["monitoring.pool"].outcome is Outcome.FAIL
    assert any(s.check == "monitoring.pool" and s.defines for s in cause("db-pool-exhausted").signals)
    pool = next(c for c in triage(results.values()).causes if c.id == "db-pool-exhausted")
    assert pool.defining


def test_a_quiet_window_passes_and_ignores_other_services_alerts():
    now = time.time()
    ts = [now - 100 + i for i in range(0, 101, 2)]
    answers = {
        "qbitel_memory": memory([(t, LIMIT * 0.2) for t in ts]),
        "ALERTS": matrix(({"__name__": "ALERTS", "alertname": "HighCPUUsage", "service": "billing"},
                          [(t, 1.0) for t in ts])),
        "pg_up": matrix((DB, [(t, 1.0) for t in ts])),
    }
    results, _ = run(answers)
    assert results["monitoring.memory"].outcome is Outcome.PASS
    assert results["monitoring.alerts"].outcome is Outcome.PASS
    assert results["monitoring.pg_up"].outcome is Outcome.PASS
    assert results["monitoring.cpu"].outcome is Outcome.SKIP  # no series: cannot tell


def test_queries_cover_the_event_window_in_bounded_points():
    _, ctx = run({}, event_window_s=3600)
    ranges = [p for url, p in ctx.network.asked if url.endswith("query_range")]
    assert ranges
    for p in ranges:
        span = float(p["end"]) - float(p["start"])
        assert span == pytest.approx(3600, abs=1)
        assert span / float(p["step"]) <= 1000


# --- the parsers ---------------------------------------------------------------------------------

def test_parse_matrix_refuses_errors_and_other_shapes():
    with pytest.raises(promql.PromError, match="bad_data"):
        promql.parse_matrix({"status": "error", "errorType": "bad_data", "error": "parse error"})
    with pytest.raises(promql.PromError, match="expected a matrix"):
        promql.parse_matrix({"status": "success", "data": {"resultType": "vector", "result": []}})
    s = promql.parse_matrix({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"a": "b"}, "values": [[2, "NaN"], [1, "0.5"], ["x", "1"], [3, "+Inf"]]}]}})
    assert s[0].points == ((1.0, 0.5),)


def test_runs_break_at_gaps_and_first_exit_is_the_earliest_within_reach():
    pts = [(0, 0.95), (2, 0.96), (4, 0.5), (6, 0.97), (20, 0.99)]
    runs = promql.runs_at_or_above(pts, 0.9, gap_s=5)
    assert [(r.start, r.end, r.peak) for r in runs] == [(0, 2, 0.96), (6, 6, 0.97), (20, 20, 0.99)]
    up = promql.Series({"__name__": "up"}, ((10, 1.0), (12, 0.0), (14, 0.0)))
    started = promql.Series({}, ((10, 100.0), (11, 111.0)))
    restarted = (11, "restarted (a new process started)")
    assert promql.first_exit(up, started, after=10.5, within_s=60) == restarted
    assert promql.first_exit(up, None, after=10, within_s=1) is None


def test_a_climb_and_exit_the_engine_came_back_from_is_history():
    """An OOM kill minutes ago, the engine back up for a while, then down for another reason:
    the old peak is not this incident."""
    now = time.time()
    doc = climb_then_gone(now - 120)  # the kill two minutes before the window's end
    gone_at = max(t for t, v in doc["up\\|process_start"]["data"]["result"][0]["values"] if v == "0.0")
    back = [(t, 1.0) for t in range(int(gone_at) + 2, int(now) - 10, 2)]
    doc["up\\|process_start"] = matrix(({"__name__": "up", **ENGINE}, [
        (t, float(v)) for t, v in doc["up\\|process_start"]["data"]["result"][0]["values"]
        if t <= gone_at] + back))
    results, _ = run(doc)
    mem = results["monitoring.memory"]
    assert mem.outcome is Outcome.PASS and "recovered since (the engine was back up for" in mem.message
    assert mem.evidence["history"] and re.search(THEN_EXIT, mem.evidence["history"][0])


def test_the_databases_series_recover_by_themselves():
    now = time.time()
    ts = [now - 100 + i for i in range(0, 101, 2)]
    answers = {"pg_stat_activity": matrix((DB, [(t, 0.95 if t < now - 50 else 0.3) for t in ts])),
               "pg_up": matrix((DB, [(t, 0.0 if t < now - 50 else 1.0) for t in ts]))}
    results, _ = run(answers)
    assert results["monitoring.pool"].outcome is Outcome.PASS
    assert "recovered since (30% now)" in results["monitoring.pool"].message
    assert results["monitoring.pg_up"].outcome is Outcome.PASS
    answers["pg_up"] = matrix((DB, [(t, 0.0) for t in ts if t < now - 50]))  # no sample since
    assert "no pg_up sample now" in run(answers)[0]["monitoring.pg_up"].message
