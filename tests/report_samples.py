"""Result files shaped like the chaos harness and the load run write them, for the report's tests.

Two experiments (the database stopped, the engine OOM-killed) on one timeline with a load run
that spans both: the load sees errors and a p95 spike inside each fault window.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def _act(exp: str, phase: str, name: str, start: float, end: float, status: str = "succeeded",
         **detail: Any) -> dict[str, Any]:
    return {"experiment": exp, "phase": phase, "name": name, "start": _iso(start), "end": _iso(end),
            "duration_s": round(end - start, 3), "status": status, "detail": detail}


def chaos_doc(base: float) -> dict[str, Any]:
    """`{"experiments": [...], "journal": [...]}` with two experiments starting at `base`."""
    journal = [
        _act("db-down", "steady-state", "hypothesis: every check green", base + 5, base + 9, failing=[]),
        _act("db-down", "inject", "stop postgres", base + 10, base + 12),
        _act("db-down", "detect", "poll", base + 14, base + 14, top="db-network",
             failed=["database.reachable", "health.endpoint"]),
        _act("db-down", "detect", "expect top cause 'db-down'", base + 12, base + 19, detected=True,
             failed=["database.ready", "database.reachable", "health.endpoint", "health.database"]),
        _act("db-down", "remediate", "start postgres", base + 25, base + 27),
        _act("db-down", "recover", "/health 200", base + 27, base + 41,
             checks={"database.ready": "pass", "database.reachable": "pass", "health.endpoint": "pass",
                     "health.database": "pass"}),
        _act("oom", "inject", "allocate past the 128 MiB limit", base + 70, base + 73),
        _act("oom", "detect", "expect top cause 'oom'", base + 73, base + 80, "failed", detected=False,
             failed=["running.oom_killed", "running.exit_code", "health.endpoint"]),
        _act("oom", "remediate", "docker restart qbitel-engine", base + 82, base + 85),
        _act("oom", "recover", "/health 200", base + 85, base + 97,
             checks={"running.oom_killed": "pass", "running.exit_code": "pass", "health.endpoint": "pass"}),
    ]
    experiments = [
        {"id": "db-down", "expected_cause": "db-down", "detected_cause": "db-down", "detected": True,
         "mttd_s": 7.2, "remediation": "docker-compose start postgres", "recovered": True, "mttr_s": 15.8,
         "writes_acknowledged": 412, "writes_lost": 0, "verdict": "pass"},
        {"id": "oom", "expected_cause": "oom", "detected_cause": "crash", "detected": False,
         "mttd_s": None, "remediation": "docker-compose restart qbitel-engine", "recovered": True,
         "mttr_s": 14.6, "writes_acknowledged": 388, "writes_lost": 3, "verdict": "fail"},
    ]
    return {"experiments": experiments, "journal": journal}


def load_doc(base: float, seconds: int = 110) -> dict[str, Any]:
    series = []
    for i in range(seconds):
        t = base + i
        in_db = 10 <= i < 41
        in_oom = 70 <= i < 97
        rps = 48 + (i * 7) % 5 - (30 if in_db or in_oom else 0)
        errors = (18 if in_db else 25 if in_oom else 0) + (i % 3 if in_db or in_oom else 0)
        p95 = 1200 + (i % 7) * 40 if in_db or in_oom else 38 + (i % 6) * 3
        ratio = round(min(errors / max(rps + errors, 1), 1.0), 3)
        series.append({"t": t, "rps": rps, "p95_ms": p95, "errors": errors, "error_ratio": ratio})
    # The shape loadtests/run_load.py writes for a run under a fault (with two faults here).
    return {"series": series, "faults": [{"name": "stop postgres", "start": base + 10, "end": base + 41},
                                         {"name": "OOM kill", "start": base + 70, "end": base + 97}],
            "marks": [{"event": "inject", "t": base + 10}, {"event": "revert", "t": base + 41},
                      {"event": "recovered", "t": base + 42}],
            "recovered": True, "impact_after_inject_s": 0.4, "recovered_after_revert_s": 1.0,
            "fault_window_s": 31.0, "seconds_without_answer": 0}


def coverage_doc() -> dict[str, Any]:
    """The shape `python -m servicedown.runbook coverage --json` writes (the fields read here)."""
    return {"title": "Runbook: Service Down", "summary": {"required": 3, "covered": 2, "informational": 1},
            "items": [
        {"id": "diagnosis-1", "kind": "diagnosis", "title": "Check if the service is running",
         "checks": ["running.exists", "running.state"], "covered": True, "required": True,
         "experiments": [{"id": "oom", "mttd_s": None, "mttr_s": 14.6, "verdict": "fail"}]},
        {"id": "cause-3.1", "kind": "cause", "title": "Database is down", "checks": ["database.ready"],
         "covered": True, "required": True,
         "experiments": [{"id": "db-down", "mttd_s": 7.2, "mttr_s": 15.8, "verdict": "pass"}]},
        {"id": "cause-2.1", "kind": "cause", "title": "CPU at 100%", "checks": [], "experiments": [],
         "covered": False, "required": True},
        {"id": "escalation-1", "kind": "escalation", "title": "Page on-call engineer", "checks": [],
         "experiments": [], "covered": False, "required": False},
    ]}


def write_all(reports: Path, base: float, coverage: bool = True) -> None:
    """chaos.json, load-timeline.json (and coverage.json) into `reports`."""
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "chaos.json").write_text(json.dumps(chaos_doc(base), indent=1))
    (reports / "load-timeline.json").write_text(json.dumps(load_doc(base), indent=1))
    if coverage:
        (reports / "coverage.json").write_text(json.dumps(coverage_doc(), indent=1))
