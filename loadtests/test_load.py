"""Load runs for real: the prevention run passes against the reference stack at its documented
load and fails (exit 3, a GATE FAIL line) once a toxiproxy latency toxic pushes p95 past the
gate; master + 2 worker processes combine their statistics; every acknowledged write reads back;
a run under a database outage reports the error budget and the recovery.

Locust always runs as a subprocess (`loadtests.run_load`): it monkey-patches with gevent, which
must stay out of this pytest process. Every run and wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtests import gates, run_load, timeline
from tests.support import ROOT, run, wait_for

pytestmark = [pytest.mark.compose, pytest.mark.slow]

BASE = os.environ.get("LOCUST_HOST", "http://localhost:8000")
TOXIPROXY = os.environ.get("QBITEL_TOXIPROXY_URL", "http://127.0.0.1:8474")
# Short runs at the documented load (users and min-rps gate are the runner's defaults).
SHORT = ["--run-time", "12", "--stop-timeout", "5", "--readback-timeout-s", "30", "--quiet"]


@dataclass
class LoadRun:
    rc: int
    out: str
    dir: Path
    name: str

    def path(self, suffix: str) -> Path:
        return self.dir / f"{self.name}{suffix}"

    @property
    def verdict(self) -> dict[str, Any]:
        return json.loads(self.path("-verdict.json").read_text())


def engine_healthy() -> bool:
    try:
        return httpx.get(f"{BASE}/health", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def need_docker() -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker client: run 'make test', which installs and starts Docker")


@pytest.fixture(scope="session")
def load_stack() -> str:
    need_docker()
    run(["bash", str(ROOT / "scripts" / "stack.sh"), "up"], timeout=240)
    return BASE


def load_run(out_dir: Path, mode: str, *args: str, name: str | None = None, timeout: float = 150,
             wait_healthy: bool = True) -> LoadRun:
    if wait_healthy:  # other sessions may be restarting the shared engine
        wait_for(engine_healthy, 90, interval=1, what="the reference engine healthy before a load run")
    name = name or {"prevention": "load", "distributed": "load-distributed", "fault": "load-fault"}[mode]
    proc = run([sys.executable, "-m", "loadtests.run_load", mode, "--reports-dir", str(out_dir),
                "--name", name, *args], timeout=timeout, check=False, cwd=ROOT,
               env={**os.environ, "PYTHONPATH": str(ROOT)})
    return LoadRun(proc.returncode, proc.stdout + proc.stderr, out_dir, name)


def assert_all_read_back(writes: dict[str, int]) -> None:
    assert writes["acknowledged"] > 0
    assert writes["checked"] == writes["acknowledged"], writes
    assert writes["lost"] == writes["mismatched"] == writes["unverified"] == 0, writes


# The documented p95 gate (500 ms) is a figure of the engine on a quiet machine (bench/,
# docs/load.md); here the run proves the machinery at the documented load, on a machine that
# may be busy, so its latency gate is generous. The breach test below keeps the real gate.
TEST_P95_MS = "3000"


@pytest.fixture(scope="module")
def prevention(load_stack: str, tmp_path_factory: pytest.TempPathFactory) -> LoadRun:
    return load_run(tmp_path_factory.mktemp("load"), "prevention", *SHORT,
                    "--gate-p95-ms", TEST_P95_MS)


@pytest.mark.timeout(200)
def test_prevention_run_passes_at_the_documented_load(prevention: LoadRun) -> None:
    assert prevention.rc == 0, prevention.out[-3000:]
    assert "LOAD GATES: PASS" in prevention.out
    v = prevention.verdict
    assert v["passed"] is True
    assert v["config"]["min_rps"] == run_load.PREVENTION_MIN_RPS  # the documented load, gated
    for suffix in ("_stats.csv", "_stats_history.csv", "_failures.csv", ".html", ".json",
                   "-timeseries.jsonl", "-verdict.json", ".log"):
        assert prevention.path(suffix).stat().st_size > 0, suffix
    # Names group the statistics by kind of traffic.
    assert {n.split(" ", 1)[0] for n in v["stats_names"]} == {"probe", "write", "read", "list"}
    assert {"probe /health", "probe /health/live", "probe /health/ready", "probe /metrics",
            "write POST /api/v1/records", "read GET /api/v1/records/[id]"} <= set(v["stats_names"])
    # The per-second series holds every request Locust counted.
    rows = timeline.read_jsonl(prevention.path("-timeseries.jsonl"))
    assert len(rows) >= 10
    assert sum(r["requests"] for r in rows) == v["figures"]["requests"]


@pytest.mark.timeout(120)
def test_every_acknowledged_write_reads_back(prevention: LoadRun) -> None:
    """The run's own read-back, then again from here, record by record, against the engine."""
    writes = prevention.verdict["figures"]["writes"]
    assert_all_read_back(writes)
    lines = prevention.path("-acks.jsonl").read_text().splitlines()
    acks = [json.loads(line) for line in lines if line.strip()]
    assert len(acks) == writes["acknowledged"]

    def bad(client: httpx.Client, ack: dict[str, Any]) -> str | None:
        resp = client.get(f"/api/v1/records/{ack['id']}")
        if resp.status_code != 200:
            return f"{ack['id']}: HTTP {resp.status_code}"
        doc = resp.json()
        ok = doc["key"] == ack["key"] and doc["value"]["token"] == ack["token"]
        return None if ok else f"{ack['id']}: another key or value"

    with httpx.Client(base_url=BASE, timeout=5) as client, ThreadPoolExecutor(8) as pool:
        problems = [p for p in pool.map(lambda a: bad(client, a), acks) if p]
    assert problems == []


@pytest.mark.timeout(200)
def test_the_same_run_fails_when_latency_pushes_p95_past_the_gate(load_stack: str, tmp_path: Path) -> None:
    from servicedown.chaos.toxics import Toxic, Toxiproxy

    tp = Toxiproxy(TOXIPROXY)
    name = f"loadtest-latency-{os.getpid()}"
    try:
        wait_for(engine_healthy, 90, interval=1, what="the reference engine healthy")
        tp.add_toxic("postgres", Toxic(name, "latency", "downstream", {"latency": 700, "jitter": 0}))
        result = load_run(tmp_path, "prevention", *SHORT[:1], "10", *SHORT[2:], wait_healthy=False)
    finally:
        tp.remove_toxic("postgres", name)  # always: the stack is shared
        tp.close()
    assert result.rc == gates.EXIT_BREACH, result.out[-3000:]
    assert re.search(r"GATE FAIL p95 latency: \d+ ms > 500 ms", result.out), result.out[-3000:]
    assert "LOAD GATES: FAIL (p95" in result.out
    assert result.verdict["passed"] is False


@pytest.mark.timeout(200)
def test_distributed_run_combines_two_worker_processes(load_stack: str, tmp_path: Path) -> None:
    result = load_run(tmp_path, "distributed", "--workers", "2", *SHORT)
    assert result.rc == 0, result.out[-3000:]
    assert "2 workers connected" in result.path(".log").read_text()
    v = result.verdict
    workers = v["processes"]
    assert len(workers) == 2
    assert all(w["requests"] > 0 and w["writes"]["acknowledged"] > 0 for w in workers.values()), workers
    # The master's totals are the sum of both workers' requests, and so is Locust's own JSON.
    assert sum(w["requests"] for w in workers.values()) == v["figures"]["requests"]
    stats = json.loads(result.path(".json").read_text())
    assert sum(e["num_requests"] for e in stats) == v["figures"]["requests"]
    assert_all_read_back(v["figures"]["writes"])
    for i in (1, 2):
        assert result.path(f"-worker{i}.log").exists()


@pytest.mark.chaos
@pytest.mark.timeout(240)
def test_load_under_a_database_outage_reports_budget_and_recovery(tmp_path: Path) -> None:
    """On a private throwaway stack (the chaos library's), so the outage never hits the shared one."""
    need_docker()
    out = tmp_path / "load-timeline.json"
    result = load_run(tmp_path, "fault", "--fault", "db-down", "--inject-after", "4", "--fault-for", "4",
                      "--run-time", "20", "--stop-timeout", "5", "--quiet", "--timeline-out", str(out),
                      timeout=220, wait_healthy=False)
    assert result.rc == 0, result.out[-3000:]
    doc = json.loads(out.read_text())
    assert {"inject", "revert", "recovered"} <= {m["event"] for m in doc["marks"]}
    window = doc["faults"][0]
    assert window["end"] - window["start"] >= 4
    during = doc["phases"]["during"]["failures"] + doc["phases"]["recovering"]["failures"]
    assert during > 0 or doc["seconds_over_p95_gate"] > 0, "the outage does not show in the series"
    assert doc["error_budget"]["requests"] == sum(r["requests"] for r in doc["series"])
    assert {"t", "rps", "p95_ms", "error_ratio", "users"} <= set(doc["series"][0])
    assert_all_read_back(doc["writes"])
    assert "ERROR BUDGET" in result.out and "FAULT RUN: PASS" in result.out
