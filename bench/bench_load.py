"""Load figures, side by side in one run.

1. Locust's own cost: wrk and Locust (FastHttpUser, one worker process per core) at the same
   concurrency against nginx answering a fixed JSON body, a server that is never the
   bottleneck; the ratio of their throughputs says how much the generator itself costs.
2. The engine's capacity, figures of their own: wrk on its `/health/live`, then the real mix
   (loadtests/locustfile.py, distributed) in steps of users until a gate breaks, against the
   throwaway stack.

Noisy on a shared 2-core machine: server and generators share the cores. Every run must end
well (wrk and Locust exit 0, no failed request against the static server; a gate breach is
the capacity search's expected end, any other exit fails the benchmark).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.common import PY, ROOT, BenchFailed, record, run, section
from bench.static_server import static_server
from servicedown.ports import free_port

ENDPOINT = "/health/live"
SECONDS = 15
ROUNDS = 2  # wrk and Locust alternate, median of each: the machine's other load drifts
CONNECTIONS = 64  # wrk connections = Locust users
STEPS = [20, 40, 60, 80, 100, 130, 160, 200]  # users of the real mix
GATE_P95_MS = 500.0
GATE_ERROR_RATIO = 0.01
GATE_BREACHED = 3  # loadtests.run_load's exit code when a gate breaks

# The cheapest Locust can be: FastHttpUser, no think time, one endpoint.
CHEAP_LOCUSTFILE = f'''
from locust import FastHttpUser, task


class CheapEndpointUser(FastHttpUser):
    @task
    def live(self) -> None:
        self.client.get("{ENDPOINT}")
'''


def ensure_wrk() -> str:
    """wrk from Debian; installed here when missing (a new machine), bounded, said clearly."""
    if path := shutil.which("wrk"):
        return path
    if os.geteuid() != 0:
        raise BenchFailed("wrk is missing and installing it needs root: apt-get install -y wrk")
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=120", "install", "-y", "wrk"]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    said = ""
    for argv in (apt, ["apt-get", "update"], apt):  # on a new machine the lists may be missing
        try:
            run(argv, timeout=300, env=env, what=" ".join(argv))
        except BenchFailed as exc:
            said = str(exc)
            continue
        if argv is apt and (path := shutil.which("wrk")):
            return path
    raise BenchFailed(f"could not install wrk: {said[-300:]}")


def wrk(binary: str, url: str, max_error_ratio: float) -> tuple[float, str]:
    """-> (requests/s, detail) of one wrk run; fails on errors above max_error_ratio."""
    _, out = run([binary, f"-t{os.cpu_count() or 1}", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency",
                  url], timeout=SECONDS + 60, what=f"wrk {url}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not rps or not total:
        raise BenchFailed(f"wrk {url}: no throughput in its output: {out[-300:]}")
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(x) for x in sock.groups()) if sock else 0
    errors = non2xx + socket_errors
    if errors > max_error_ratio * max(int(total.group(1)), 1):
        raise BenchFailed(f"wrk {url}: {non2xx} non-2xx answers and {socket_errors} socket errors "
                          f"in {total.group(1)} requests")
    p99 = re.search(r"99%\s+(\S+)", out)
    return float(rps.group(1)), f"p99 {p99.group(1) if p99 else '?'}, errors {errors}"


def locust(workdir: Path, url: str) -> tuple[float, str]:
    """Master + one worker process per core, headless; requests/s from Locust's own JSON."""
    workers = os.cpu_count() or 1
    lf = workdir / "cheap_locustfile.py"
    lf.write_text(CHEAP_LOCUSTFILE)
    base = [PY, "-m", "locust", "-f", str(lf)]
    port = str(free_port())  # not Locust's 5557: another run may hold it
    log = (workdir / "locust-workers.log").open("wb")
    procs = [subprocess.Popen([*base, "--worker", "--master-port", port], stdout=log, stderr=log,
                              stdin=subprocess.DEVNULL, cwd=ROOT) for _ in range(workers)]
    result = workdir / "cheap"
    try:
        run([*base, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
             "--expect-workers", str(workers), "--expect-workers-max-wait", "30",
             "--headless", "-u", str(CONNECTIONS), "-r", str(CONNECTIONS), "-t", f"{SECONDS}s",
             "--stop-timeout", "2", "-H", url, "--only-summary", "--json-file", str(result)],
            timeout=SECONDS + 90, what=f"locust against {url}")
    finally:
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        log.close()
    try:
        entry = json.loads(result.with_suffix(".json").read_text())[0]
    except (OSError, ValueError, IndexError, KeyError) as exc:
        raise BenchFailed(f"locust wrote no result ({exc})") from None
    if entry["num_failures"]:
        raise BenchFailed(f"locust: {entry['num_failures']} of {entry['num_requests']} requests failed")
    span = entry["last_request_timestamp"] - entry["start_time"]
    if span <= 0 or not entry["num_requests"]:
        raise BenchFailed("locust made no requests")
    return entry["num_requests"] / span, f"{workers} workers, {CONNECTIONS} users, failures 0"


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def generator_cost(work: Path, wrk_bin: str) -> float:
    """-> Locust's own ceiling (req/s), its median against the static server."""
    with static_server() as url:
        w_all: list[float] = []
        l_all: list[float] = []
        for _ in range(ROUNDS):
            rps, w_detail = wrk(wrk_bin, url + ENDPOINT, 0.0)
            w_all.append(rps)
            rps, l_detail = locust(work, url)
            l_all.append(rps)
    w_med, l_med = statistics.median(w_all), statistics.median(l_all)
    record("load.static_wrk", f"wrk -t{os.cpu_count()} -c{CONNECTIONS}, static JSON from nginx",
           f"{w_med:.0f} req/s (runs {_runs(w_all)}; {w_detail})", rps=round(w_med, 1), runs=w_all)
    record("load.static_locust", f"Locust FastHttpUser, {CONNECTIONS} users, static JSON from nginx",
           f"{l_med:.0f} req/s (runs {_runs(l_all)}; {l_detail})", rps=round(l_med, 1), runs=l_all)
    record("load.locust_vs_wrk", "Locust vs wrk on a server that is not the bottleneck (ratio)",
           f"{l_med:.0f} vs {w_med:.0f} req/s, ratio {l_med / w_med:.2f}", ratio=round(l_med / w_med, 3))
    return l_med


def capacity(work: Path, host: str) -> None:
    """Step load with the real mix (distributed, workers = cores) until a gate breaks."""
    best: tuple[int, float, float] | None = None
    breached = ""
    for users in STEPS:
        name = f"step{users}"
        run([PY, "-m", "loadtests.run_load", "distributed", "--users", str(users), "--spawn-rate",
             str(users), "--run-time", str(SECONDS), "--stop-timeout", "5", "--gate-p95-ms",
             str(GATE_P95_MS), "--gate-error-ratio", str(GATE_ERROR_RATIO), "--gate-min-rps", "0",
             "--reports-dir", str(work), "--name", name, "--quiet", "--host", host],
            timeout=SECONDS + 150, expect=(0, GATE_BREACHED), what=f"the real mix at {users} users")
        try:
            fig = json.loads((work / f"{name}-verdict.json").read_text())["figures"]
        except (OSError, ValueError, KeyError) as exc:
            raise BenchFailed(f"the real mix at {users} users wrote no verdict ({exc})") from None
        ratio = fig["failures"] / fig["requests"] if fig["requests"] else 1.0
        ok = fig["p95_ms"] <= GATE_P95_MS and ratio <= GATE_ERROR_RATIO
        print(f"    mix, {users} users: {fig['rps']:.1f} req/s, p95 {fig['p95_ms']:.0f} ms, "
              f"errors {ratio:.2%} {'within the gates' if ok else 'GATE BREACHED'}", flush=True)
        if not ok:
            breached = f"; {users} users breached (p95 {fig['p95_ms']:.0f} ms, errors {ratio:.1%})"
            break
        best = (users, fig["rps"], fig["p95_ms"])
    label = f"engine capacity at the p95 ≤ {GATE_P95_MS:.0f} ms gate (realistic mix)"
    if best is None:
        raise BenchFailed(f"{label}: the first step ({STEPS[0]} users) already breached a gate")
    record("load.capacity", label, f"{best[1]:.0f} req/s at {best[0]} users (p95 {best[2]:.0f} ms)"
           + (breached or f"; {STEPS[-1]} users, the last step, within the gates"),
           rps=round(best[1], 1), users=best[0], p95_ms=round(best[2]))


def main(ctx: Any) -> None:
    stack = ctx.stack()
    section(f"load: {SECONDS} s per run, {os.cpu_count()} cores")
    wrk_bin = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        locust_rps = generator_cost(work, wrk_bin)
        # The engine's own ceiling on a cheap endpoint: timeouts under saturation are allowed
        # up to 1 %, as the capacity gate allows errors.
        rps, detail = wrk(wrk_bin, stack.engine_url + ENDPOINT, GATE_ERROR_RATIO)
        record("load.engine_live", f"engine `{ENDPOINT}` with wrk -c{CONNECTIONS} (its ceiling)",
               f"{rps:.0f} req/s ({detail})", rps=round(rps, 1))
        # What decides whether a Locust run measures the engine: Locust's ceiling well above it.
        record("load.locust_headroom", "Locust's ceiling over the engine's (Locust not the bottleneck)",
               f"{locust_rps / rps:.1f}x ({locust_rps:.0f} vs {rps:.0f} req/s)", "≥ 2x",
               ratio=round(locust_rps / rps, 2))
        capacity(work, stack.engine_url)
