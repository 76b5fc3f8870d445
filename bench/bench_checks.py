"""`pytest checks/` wall time, pytest's own start-up included, in three situations, against
the throwaway stack: healthy, engine stopped, HTTP black-holed. Each run must end as the
situation says (0 when healthy, 1 when the checks find the fault); any other end fails."""

from __future__ import annotations

import socket
import statistics
from typing import Any

from bench.common import PY, BenchFailed, record, run, section, spread

RUNS = 3


def _checks(stack: Any, base_url: str | None = None) -> list[str]:
    return [PY, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider", "--target", "compose",
            "--compose-project", stack.run_id, "--service", "qbitel-engine", "--db-service", "postgres",
            "--base-url", base_url or stack.engine_url]


def run_n(argv: list[str], expect: int, what: str) -> list[float]:
    return [run(argv, timeout=120, expect=(expect,), what=what)[0] for _ in range(RUNS)]


def figure(key: str, label: str, samples: list[float], target: str) -> None:
    record(key, label, f"median {statistics.median(samples):.2f} s", target,
           median_s=round(statistics.median(samples), 3), samples_s=[round(s, 3) for s in samples],
           spread=spread(samples))


def main(ctx: Any) -> None:
    from servicedown.chaos.stack import ENGINE

    stack = ctx.stack()
    section(f"pytest checks/ wall time (throwaway stack {stack.run_id}, {RUNS} runs each)")
    figure("checks.healthy", "`pytest checks/` wall time, healthy stack (pytest start-up included)",
           run_n(_checks(stack), 0, "pytest checks/ against the healthy stack"), "≤ 3 s")

    engine = stack.container(ENGINE)
    engine.stop(timeout=5)
    try:
        figure("checks.engine_stopped", "`pytest checks/`, engine stopped",
               run_n(_checks(stack), 1, "pytest checks/ with the engine stopped"), "≤ 8 s")
    finally:
        stack.container(ENGINE).start()
    healthy, last = stack.wait_engine_healthy(90)
    if not healthy:
        raise BenchFailed(f"the engine did not come back after the stopped-engine runs: {last}")

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(128)  # accepts and never answers
    try:
        url = f"http://127.0.0.1:{hole.getsockname()[1]}"
        figure("checks.black_holed", "`pytest checks/`, HTTP black-holed (accepts, never answers)",
               run_n(_checks(stack, url), 1, "pytest checks/ against a black hole"), "≤ 8 s")
    finally:
        hole.close()
