"""Load figures (issue 5), side by side in one run: Locust's own throughput against a cheap
endpoint next to wrk's on the same endpoint and machine (the ratio says how much of the machine
the load generator itself costs), and the engine's capacity at the p95 gate with the real mix.

    python -m bench.run bench_load        (or: make bench)

Noisy on a shared 2-core machine: the engine and the load generator share the cores.
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

from bench.common import PY, ROOT, row, section, timed
from servicedown.ports import free_port

HOST = os.environ.get("LOCUST_HOST", "http://localhost:8000")
ENDPOINT = "/health/live"  # answers from memory: no database, no disk
SECONDS = 15
ROUNDS = 2  # wrk and Locust alternate, median of each
CONNECTIONS = 64  # wrk connections = Locust users
STEPS = [20, 40, 60, 80, 100, 130, 160, 200]  # users of the real mix (loadtests/locustfile.py)
GATE_P95_MS = 500.0
GATE_ERROR_RATIO = 0.01

# The cheapest Locust can be: FastHttpUser, no think time, one endpoint.
CHEAP_LOCUSTFILE = f'''
from locust import FastHttpUser, task


class CheapEndpointUser(FastHttpUser):
    @task
    def live(self) -> None:
        self.client.get("{ENDPOINT}")
'''


def ensure_wrk() -> str | None:
    """wrk from Debian; installed here when missing (a new machine), bounded, said clearly."""
    if path := shutil.which("wrk"):
        return path
    if os.geteuid() != 0:
        print("    wrk is missing and installing it needs root: apt-get install -y wrk", flush=True)
        return None
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=120", "install", "-y", "wrk"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (apt, ["apt-get", "update"], apt):  # on a new machine the lists may be missing
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
        except subprocess.TimeoutExpired:
            print(f"    '{' '.join(argv)}' timed out after 300 s", flush=True)
            return None
        if argv is apt and p.returncode == 0:
            return shutil.which("wrk")
    print(f"    could not install wrk (apt-get said: {(p.stdout + p.stderr).strip()[-300:]})", flush=True)
    return None


def wrk_rps(wrk: str) -> tuple[float | None, str]:
    secs, rc, out = timed([wrk, f"-t{os.cpu_count() or 1}", f"-c{CONNECTIONS}", f"-d{SECONDS}s",
                           "--latency", HOST + ENDPOINT], timeout=SECONDS + 60)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    detail = f"p99 {p99.group(1) if p99 else '?'}, non-2xx {errors.group(1) if errors else 0}"
    return (float(m.group(1)) if m and rc == 0 else None), detail


def locust_rps(workdir: Path) -> tuple[float | None, str]:
    """Master + one worker process per core, headless; requests/s from Locust's own JSON."""
    workers = os.cpu_count() or 1
    lf = workdir / "cheap_locustfile.py"
    lf.write_text(CHEAP_LOCUSTFILE)
    base = [PY, "-m", "locust", "-f", str(lf)]
    port = str(free_port())  # not Locust's 5557: another run may hold it
    procs = [subprocess.Popen([*base, "--worker", "--master-port", port], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=ROOT) for _ in range(workers)]
    try:
        secs, rc, out = timed([*base, "--master", "--master-bind-host", "127.0.0.1",
                               "--master-bind-port", port, "--expect-workers", str(workers),
                               "--expect-workers-max-wait", "30",
                               "--headless", "-u", str(CONNECTIONS), "-r", str(CONNECTIONS),
                               "-t", f"{SECONDS}s", "--stop-timeout", "2", "-H", HOST, "--only-summary",
                               "--json-file", str(workdir / "cheap")], timeout=SECONDS + 90)
    finally:
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
    try:
        entry = json.loads((workdir / "cheap.json").read_text())[0]
    except (OSError, ValueError, IndexError):
        return None, f"no Locust result (rc={rc}): {out[-200:]}"
    span = entry["last_request_timestamp"] - entry["start_time"]
    rps = entry["num_requests"] / span if span > 0 else None
    return rps, f"{workers} workers, {CONNECTIONS} users, failures {entry['num_failures']}"


def capacity(workdir: Path) -> None:
    """Step load with the real mix (distributed, workers = cores) until a gate breaks."""
    best: tuple[int, float, float] | None = None
    for users in STEPS:
        name = f"step{users}"
        secs, rc, out = timed([PY, "-m", "loadtests.run_load", "distributed", "--users", str(users),
                               "--spawn-rate", str(users), "--run-time", str(SECONDS), "--stop-timeout", "5",
                               "--gate-p95-ms", str(GATE_P95_MS), "--gate-error-ratio", str(GATE_ERROR_RATIO),
                               "--gate-min-rps", "0", "--reports-dir", str(workdir), "--name", name,
                               "--quiet", "--host", HOST], timeout=SECONDS + 150)
        try:
            fig = json.loads((workdir / f"{name}-verdict.json").read_text())["figures"]
        except (OSError, ValueError, KeyError):
            row(f"  {users} users", f"no verdict (rc={rc})")
            break
        ratio = fig["failures"] / fig["requests"] if fig["requests"] else 1.0
        ok = fig["p95_ms"] <= GATE_P95_MS and ratio <= GATE_ERROR_RATIO
        figure = f"{fig['rps']:.1f} req/s, p95 {fig['p95_ms']:.0f} ms, errors {ratio:.2%}"
        row(f"  mix, {users} users", figure, "within the gates" if ok else "GATE BREACHED")
        if not ok:
            break
        best = (users, fig["rps"], fig["p95_ms"])
    if best:
        figure = f"{best[1]:.1f} req/s at {best[0]} users (p95 {best[2]:.0f} ms)"
        row(f"engine capacity at p95 <= {GATE_P95_MS:.0f} ms (mix)", figure, "largest step within the gates")
    else:
        row(f"engine capacity at p95 <= {GATE_P95_MS:.0f} ms (mix)", "not found: the first step breached")


def _runs(values: list[float]) -> str:
    return "runs " + ", ".join(f"{v:.0f}" for v in values)


def main() -> None:
    section(f"load (issue 5): GET {ENDPOINT}, {SECONDS} s each, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        wrk = ensure_wrk()
        # Alternate the two, ROUNDS times: the machine's other load drifts within a minute.
        w_all: list[float] = []
        l_all: list[float] = []
        w_detail, l_detail = "wrk not available", ""
        for _ in range(ROUNDS):
            if wrk:
                w_rps, w_detail = wrk_rps(wrk)
                w_all += [w_rps] if w_rps else []
            l_rps, l_detail = locust_rps(work)
            l_all += [l_rps] if l_rps else []
        w_med = statistics.median(w_all) if w_all else None
        l_med = statistics.median(l_all) if l_all else None
        row(f"wrk -t{os.cpu_count()} -c{CONNECTIONS} {ENDPOINT}",
            f"{w_med:.0f} req/s ({_runs(w_all)}; {w_detail})" if w_med else w_detail)
        row(f"Locust FastHttpUser {ENDPOINT}",
            f"{l_med:.0f} req/s ({_runs(l_all)}; {l_detail})" if l_med else l_detail)
        if w_med and l_med:
            row("ratio Locust / wrk (medians)", f"{l_med / w_med:.2f}", "aim >= 0.5")
        capacity(work)


if __name__ == "__main__":
    main()
