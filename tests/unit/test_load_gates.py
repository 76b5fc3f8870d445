"""The load gates, the per-second series and the fault-run summary, without Locust or an engine."""

from __future__ import annotations

from types import SimpleNamespace

import configargparse
import pytest

from loadtests import gates, readback, run_load, timeline
from loadtests.gates import GateConfig, RunFigures, WriteCheck

CFG = GateConfig(p95_ms=500, error_ratio=0.01, min_rps=20)


def by_gate(results: list[gates.GateResult]) -> dict[str, gates.GateResult]:
    return {r.gate: r for r in results}


def test_a_healthy_run_passes_every_gate() -> None:
    fig = RunFigures(requests=1000, failures=3, p95_ms=120, rps=33.0, writes=WriteCheck(300, 300))
    results = gates.evaluate(fig, CFG)
    assert [r.gate for r in results] == ["p95", "error_ratio", "min_rps", "writes"]
    assert all(r.passed for r in results)
    assert gates.exit_code(results) == 0
    assert gates.verdict_line(results) == "LOAD GATES: PASS"


def test_p95_breach_fails_with_a_clear_line() -> None:
    results = gates.evaluate(RunFigures(1000, 0, 812.0, 30.0), CFG)
    p95 = by_gate(results)["p95"]
    assert not p95.passed
    assert p95.line == "GATE FAIL p95 latency: 812 ms > 500 ms (all 1000 requests)"
    assert gates.exit_code(results) == gates.EXIT_BREACH != 0
    assert gates.verdict_line(results) == "LOAD GATES: FAIL (p95)"


def test_the_limits_themselves_pass() -> None:
    results = by_gate(gates.evaluate(RunFigures(100, 1, 500.0, 20.0), CFG))
    assert results["p95"].passed and results["error_ratio"].passed and results["min_rps"].passed


@pytest.mark.parametrize(("fig", "gate"), [
    (RunFigures(1000, 11, 100, 30), "error_ratio"),
    (RunFigures(1000, 0, 100, 19.9), "min_rps"),
    (RunFigures(1000, 0, 100, 30, WriteCheck(10, 10, lost=1)), "writes"),
    (RunFigures(1000, 0, 100, 30, WriteCheck(10, 10, mismatched=1)), "writes"),
    (RunFigures(1000, 0, 100, 30, WriteCheck(10, 8, unverified=2)), "writes"),
])
def test_each_breach_fails_its_own_gate(fig: RunFigures, gate: str) -> None:
    results = gates.evaluate(fig, CFG)
    assert [r.gate for r in results if not r.passed] == [gate]
    assert by_gate(results)[gate].line.startswith("GATE FAIL ")


def test_a_run_without_requests_fails() -> None:
    results = gates.evaluate(RunFigures(0, 0, 0.0, 0.0), CFG)
    assert [(r.gate, r.passed) for r in results] == [("requests", False)]
    assert gates.exit_code(results) != 0


def test_min_rps_zero_means_no_throughput_gate() -> None:
    results = gates.evaluate(RunFigures(10, 0, 10, 0.1), GateConfig(min_rps=0))
    assert "min_rps" not in by_gate(results)


def test_write_checks_add_up_across_workers() -> None:
    total = WriteCheck(10, 10).merge(WriteCheck(5, 4, lost=1, unverified=1))
    assert total == WriteCheck(acknowledged=15, checked=14, lost=1, mismatched=0, unverified=1)


def test_gates_read_options_and_their_environment_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = configargparse.ArgumentParser()
    gates.add_arguments(parser)
    assert GateConfig.from_options(parser.parse_args([])) == GateConfig()
    monkeypatch.setenv("LOCUST_GATE_P95_MS", "250")
    monkeypatch.setenv("LOCUST_GATE_MIN_RPS", "12.5")
    opts = parser.parse_args(["--gate-error-ratio", "0.05"])
    assert GateConfig.from_options(opts) == GateConfig(p95_ms=250, error_ratio=0.05, min_rps=12.5)


def test_figures_come_from_locusts_aggregated_entry() -> None:
    total = SimpleNamespace(num_requests=50, num_failures=2, total_rps=9.5,
                            get_response_time_percentile=lambda q: 130 if q == 0.95 else 0)
    assert gates.figures_from_stats(total, None) == RunFigures(50, 2, 130.0, 9.5, None)


@pytest.mark.parametrize(("status", "body", "verdict"), [
    (200, b'{"key": "k", "value": {"token": "t1"}}', "ok"),
    (200, b'{"key": "k", "value": {"token": "other"}}', "mismatched"),
    (200, b'{"key": "k2", "value": {"token": "t1"}}', "mismatched"),
    (404, b'{"detail": "Record not found"}', "lost"),
    (503, b'{"detail": "Database unavailable"}', "retry"),
    (200, b"not json", "retry"),
])
def test_a_read_back_answer_is_judged(status: int, body: bytes, verdict: str) -> None:
    assert readback.check_record(readback.Ack(1, "k", "t1"), status, body) == verdict


# --- the per-second series -------------------------------------------------------------------
def test_percentiles_and_rounding_match_locusts_histogram() -> None:
    assert [timeline.round_ms(x) for x in (7.4, 123.0, 1234.0)] == [7, 120, 1200]
    hist = {10: 90, 200: 5, 900: 5}
    assert timeline.percentile(hist, 0.5) == 10
    assert timeline.percentile(hist, 0.95) == 200
    assert timeline.percentile(hist, 0.99) == 900
    assert timeline.percentile({}, 0.95) == 0


def test_workers_buckets_merge_on_the_master_and_empty_seconds_stay() -> None:
    worker, master = timeline.Timeline(), timeline.Timeline()
    worker.add(100.2, "write POST /api/v1/records", 12, False)
    worker.add(100.7, "probe /health", 30, True)
    worker.add(102.1, "read GET /api/v1/records/[id]", 8, False)
    master.merge_wire(worker.take_wire())
    assert worker.buckets == {}  # shipped once
    master.merge_wire({"100": [1, 0, {"12": 1}, {"write": [1, 0]}]})
    rows = master.rows()
    assert [r["t"] for r in rows] == [100, 101, 102]
    assert rows[0]["requests"] == 3 and rows[0]["failures"] == 1 and rows[0]["rps"] == 3
    assert rows[0]["groups"] == {"probe": {"requests": 1, "failures": 1},
                                 "write": {"requests": 2, "failures": 0}}
    assert rows[1]["requests"] == 0 and rows[1]["error_ratio"] is None  # no answer at all: shown


# --- the fault run's summary ---------------------------------------------------------------------
def series(spec: list[tuple[int, int, float]]) -> list[dict]:
    return [{"t": 1000 + i, "elapsed_s": i, "requests": r, "failures": f, "p95_ms": p}
            for i, (r, f, p) in enumerate(spec)]


def test_outage_recovery_and_error_budget_are_measured() -> None:
    good, bad = (30, 0, 40.0), (10, 10, 5.0)
    rows = series([good] * 10 + [bad] * 5 + [(5, 0, 900.0)] * 2 + [good] * 10)
    marks = [{"event": "inject", "t": 1010.0}, {"event": "revert", "t": 1015.0}]
    s = run_load.summarize(rows, marks, slo=0.999, gate_p95_ms=500)
    assert s["recovered"] is True
    assert s["impact_after_inject_s"] == 0
    assert s["recovered_after_revert_s"] == 2  # two slow seconds after the revert, then good
    assert s["phases"]["during"]["failures"] == 50
    assert s["phases"]["before"]["rps"] == 30
    eb = s["error_budget"]
    assert eb["failures"] == 50 and eb["requests"] == sum(r["requests"] for r in rows)
    assert eb["consumed_of_run_budget"] == pytest.approx(50 / (0.001 * eb["requests"]), rel=1e-3)
    assert eb["consumed_of_30_day_budget"] == pytest.approx(50 / (0.001 * 30 * 30 * 86400), rel=1e-3)
    assert {m["event"] for m in s["marks"]} == {"inject", "revert", "recovered"}


def test_no_recovery_before_the_end_is_reported() -> None:
    rows = series([(30, 0, 40.0)] * 5 + [(10, 10, 5.0)] * 10)
    s = run_load.summarize(rows, [{"event": "inject", "t": 1005.0}, {"event": "revert", "t": 1008.0}],
                           slo=0.999, gate_p95_ms=500)
    assert s["recovered"] is False and s["recovered_after_revert_s"] is None
    assert "NOT recovered" in run_load.report_lines(s | {"fault": {"describe": "x"}, "passed": False})[0]


def test_a_fault_never_injected_is_not_a_pass() -> None:
    s = run_load.summarize(series([(30, 0, 40.0)] * 5), [], slo=0.999, gate_p95_ms=500)
    assert s["recovered"] is False
