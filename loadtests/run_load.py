"""Headless load runs with a verdict: what `make load`, `make load-distributed`, the tests and
the nightly job call. Locust always runs as a subprocess (it monkey-patches with gevent).

    python -m loadtests.run_load prevention                  # one process, gates, reports/load*
    python -m loadtests.run_load distributed --workers 2     # master + 2 worker processes
    python -m loadtests.run_load fault --fault db-down       # load while a chaos fault comes and goes

Exit codes: Locust's own for prevention and distributed runs (0 pass, 3 a gate breached,
1 Locust errors, 124 the run overran its bound); for the fault run 0 when the engine recovered
after the fault and every acknowledged write was read back, else 1. See docs/load.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from loadtests import credentials, gates, timeline  # noqa: E402
from servicedown.backends.command import end_process_group  # noqa: E402
from servicedown.ports import free_port  # noqa: E402

LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"
DEFAULT_HOST = os.environ.get("LOCUST_HOST", "http://localhost:8000")
DEFAULT_TOXIPROXY = os.environ.get("QBITEL_TOXIPROXY_URL", "http://127.0.0.1:8474")
# The documented capacity of the prevention run (docs/load.md, "Figures"): users, and the
# throughput they must reach. Gates left unset here fall to the locustfile's defaults or
# their LOCUST_GATE_* variables.
PREVENTION_USERS = 20
PREVENTION_MIN_RPS = 20.0
RECOVERED_SECONDS = 3  # consecutive good seconds that count as recovered
MONTH_S = 30 * 86400


# --- Locust processes ---------------------------------------------------------------------------
def files(a: argparse.Namespace) -> dict[str, Path]:
    base = Path(a.reports_dir) / a.name
    return {"base": base, "html": base.with_name(f"{a.name}.html"), "json": base.with_name(f"{a.name}.json"),
            "series": base.with_name(f"{a.name}-timeseries.jsonl"),
            "verdict": base.with_name(f"{a.name}-verdict.json"),
            "acks": base.with_name(f"{a.name}-acks.jsonl"), "log": base.with_name(f"{a.name}.log")}


def locust_argv(a: argparse.Namespace, role: list[str]) -> list[str]:
    f = files(a)
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *role, "--headless",
            "-u", str(a.users), "-r", str(a.spawn_rate), "-t", f"{a.run_time}s",
            "--stop-timeout", str(a.stop_timeout), "-H", a.host, "--only-summary",
            "--csv", str(f["base"]), "--csv-full-history", "--html", str(f["html"]),
            "--json-file", str(f["base"]), "--timeline-file", str(f["series"]),
            "--verdict-file", str(f["verdict"]), "--acks-file", str(f["acks"]),
            "--readback-timeout-s", str(a.readback_timeout_s)]
    for opt in ("gate_p95_ms", "gate_error_ratio", "gate_min_rps"):
        value = getattr(a, opt)
        if value is not None:
            argv += [f"--{opt.replace('_', '-')}", str(value)]
    return argv + list(a.locust_args)


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


class LocustRun:
    """Locust (standalone or master + workers) as subprocesses: output to a log (and the
    console), `started` set once users spawn, everything bounded and reaped."""

    def __init__(self, a: argparse.Namespace) -> None:
        f = files(a)
        f["log"].parent.mkdir(parents=True, exist_ok=True)
        self.bound_s = a.run_time + a.stop_timeout + a.readback_timeout_s + 90
        self.echo = not a.quiet
        self.tail: deque[str] = deque(maxlen=60)
        self.started = threading.Event()
        self.workers: list[subprocess.Popen[bytes]] = []
        self._worker_logs: list[IO[bytes]] = []
        role: list[str] = []
        if a.workers:
            port = free_port()  # not 5557: other runs on this machine may hold it
            for i in range(a.workers):
                log = f["log"].with_name(f"{a.name}-worker{i + 1}.log").open("wb")
                self._worker_logs.append(log)
                self.workers.append(subprocess.Popen(
                    [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
                     "--master-host", "127.0.0.1", "--master-port", str(port)],
                    stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=_env(), start_new_session=True))
            role = ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                    "--expect-workers", str(a.workers), "--expect-workers-max-wait", "60"]
        self.argv = locust_argv(a, role)
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT,
                                     env=_env(), start_new_session=True)
        self._log = f["log"].open("w", encoding="utf-8")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            self._log.write(line)
            self.tail.append(line.rstrip())
            if line.startswith(gates.STARTED_LINE):
                self.started.set()
            # The verdict lines show even with --quiet.
            if self.echo or line.startswith(gates.VERDICT_PREFIXES):
                sys.stdout.write(line)
                sys.stdout.flush()

    def wait(self) -> int:
        try:
            rc = self.proc.wait(timeout=self.bound_s)
        except subprocess.TimeoutExpired:
            print(f"ERROR: Locust overran its bound of {self.bound_s:.0f} s; killed", file=sys.stderr)
            end_process_group(self.proc, grace_s=10)
            rc = 124
        self._reader.join(timeout=10)
        self._log.close()
        for w in self.workers:  # workers quit with the master; make sure of it
            try:
                w.wait(timeout=20)
            except subprocess.TimeoutExpired:
                end_process_group(w, grace_s=10)
        for log in self._worker_logs:
            log.close()
        return rc

    def abort(self) -> None:
        for p in [self.proc, *self.workers]:
            end_process_group(p, grace_s=10)


def run_locust(a: argparse.Namespace) -> int:
    run = LocustRun(a)
    try:
        rc = run.wait()
    finally:
        run.abort()
    f = files(a)
    print(f"results: {f['html']}  {f['base']}_stats.csv  {f['json']}  {f['verdict']}  {f['series']}",
          flush=True)
    return rc


# --- load under a fault -------------------------------------------------------------------------
FAULT_SHORTCUTS: dict[str, tuple[str, dict[str, Any]]] = {
    "db-down": ("proxy-disabled", {}),  # the engine-Postgres link cut (toxiproxy enabled=false)
    "db-latency": ("toxic", {"type": "latency", "attributes": {"latency": 800, "jitter": 0}}),
}
PROXY_KINDS = {"proxy-disabled", "toxic"}  # the faults that only need toxiproxy


@dataclass
class ReferenceLink:
    """The reference stack as a `faults.ProxyHost`: what the toxiproxy faults act on."""

    toxiproxy: Any


@contextlib.contextmanager
def fault_target(a: argparse.Namespace, kind: str) -> Iterator[tuple[str, Any]]:
    """-> (engine URL, the object faults act on): a private throwaway stack by default, so the
    outage never hits the stack other people use; `--stack reference` for the shared one."""
    if a.stack == "private":
        from servicedown.chaos.stack import ChaosStack, StackConfig

        with ChaosStack(StackConfig.from_env(), progress=lambda m: print(m, flush=True)) as stack:
            yield stack.engine_url, stack
        return
    if kind not in PROXY_KINDS:
        raise SystemExit(f"fault kind {kind!r} needs a private stack (--stack private)")
    from servicedown.chaos.toxics import Toxiproxy

    tp = Toxiproxy(a.toxiproxy_url)
    try:
        yield a.host, ReferenceLink(tp)
    finally:
        tp.close()


def run_fault(a: argparse.Namespace) -> int:
    try:
        from servicedown.chaos.faults import make_fault
    except ImportError as exc:
        print(f"ERROR: the chaos library (servicedown/chaos) cannot be imported: {exc}", file=sys.stderr)
        return 2
    kind, params = FAULT_SHORTCUTS.get(a.fault, (a.fault, {}))
    params = {**params, **json.loads(a.fault_params or "{}")}
    fault = make_fault(kind, params)
    marks: list[dict[str, Any]] = []
    with fault_target(a, kind) as (host, target):
        a.host = host
        run = LocustRun(a)
        try:
            injected = inject_and_revert(run, fault, target, a, marks)
            rc = run.wait()
        except Exception as exc:  # the fault's own error, said in one line; the run is stopped
            print(f"ERROR: {fault.describe()}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        finally:
            run.abort()
    f = files(a)
    rows = timeline.read_jsonl(f["series"]) if f["series"].exists() else []
    verdict = json.loads(f["verdict"].read_text()) if f["verdict"].exists() else {}
    gate_p95 = float((verdict.get("config") or {}).get("p95_ms") or a.gate_p95_ms or 500.0)
    report = summarize(rows, marks, a.slo, gate_p95)
    window = {"name": fault.describe(), "start": _mark(marks, "inject", "inject_start"),
              "end": _mark(marks, "revert")}
    report |= {"fault": {"name": a.fault, "kind": kind, "params": params, "describe": fault.describe()},
               "faults": [window] if window["start"] else [],
               "stack": a.stack, "host": a.host, "locust_exit_code": rc, "gates": verdict.get("gates", []),
               "writes": (verdict.get("figures") or {}).get("writes"),
               "command": " ".join(sys.argv), "files": {k: str(v) for k, v in f.items()}}
    ok = bool(report["recovered"]) and _writes_ok(report["writes"]) and bool(injected)
    report["passed"] = ok
    out = Path(a.timeline_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for line in report_lines(report):
        print(line, flush=True)
    print(f"timeline: {out}", flush=True)
    return 0 if ok else 1


def inject_and_revert(run: LocustRun, fault: Any, target: Any, a: argparse.Namespace,
                      marks: list[dict[str, Any]]) -> bool:
    """Inject once the load has run `inject_after` s, revert `fault_for` s later, whatever happens."""
    if not run.started.wait(timeout=90):
        raise RuntimeError("Locust did not start its users within 90 s")
    time.sleep(a.inject_after)
    if run.proc.poll() is not None:
        return False
    injected = False
    try:
        print(f"==> injecting {fault.describe()}", flush=True)
        marks.append({"event": "inject_start", "t": time.time()})
        injected = True
        marks.append({"event": "inject", "t": time.time(), "details": fault.inject(target)})
        time.sleep(a.fault_for)
    finally:
        if injected:  # revert is idempotent and safe after a partial inject
            marks.append({"event": "revert_start", "t": time.time()})
            marks.append({"event": "revert", "t": time.time(), "details": fault.revert(target)})
            print(f"==> reverted {fault.describe()}", flush=True)
    return injected


def _mark(marks: list[dict[str, Any]], *events: str) -> float | None:
    return next((m["t"] for e in events for m in marks if m["event"] == e), None)


def _writes_ok(writes: dict[str, int] | None) -> bool:
    # A run whose writes all failed acknowledged none; that is not a lost write.
    return writes is None or writes["lost"] + writes["mismatched"] + writes["unverified"] == 0


# --- what the fault did: phases, error budget, recovery (pure; unit-tested) ----------------------
def _good(row: dict[str, Any], gate_p95_ms: float) -> bool:
    return row["requests"] > 0 and row["failures"] == 0 and row["p95_ms"] <= gate_p95_ms


def _phase(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answered = [r["p95_ms"] for r in rows if r["requests"]]
    req = sum(r["requests"] for r in rows)
    return {"seconds": len(rows), "requests": req, "failures": sum(r["failures"] for r in rows),
            "rps": round(req / len(rows), 1) if rows else 0.0,
            "p95_ms_median_of_seconds": statistics.median(answered) if answered else None,
            "p95_ms_worst_second": max(answered) if answered else None}


def summarize(rows: list[dict[str, Any]], marks: list[dict[str, Any]], slo: float,
              gate_p95_ms: float) -> dict[str, Any]:
    """Phases (before, during, recovering, after), impact and recovery times, error budget."""
    t_in, t_out = _mark(marks, "inject", "inject_start"), _mark(marks, "revert")
    origin = rows[0]["t"] if rows else 0
    out: dict[str, Any] = {"slo": slo, "gate_p95_ms": gate_p95_ms, "series": rows,
                           "marks": [{**m, "elapsed_s": round(m["t"] - origin, 2)} for m in marks]}
    if t_in is None or t_out is None or not rows:
        return out | {"recovered": False, "note": "the fault was not injected and reverted during the run"}
    impact = next((r for r in rows if r["t"] >= int(t_in) and not _good(r, gate_p95_ms)), None)
    recovered_at = None
    last_full = rows[-1]["t"] - 1  # the last second is cut by the stop
    for r in rows:
        if r["t"] < int(t_out) + 1 or r["t"] > last_full:
            continue
        window = [x for x in rows if r["t"] <= x["t"] < r["t"] + RECOVERED_SECONDS]
        if len(window) == RECOVERED_SECONDS and all(_good(x, gate_p95_ms) for x in window):
            recovered_at = r["t"]
            break
    before = [r for r in rows if r["t"] < int(t_in) and r["elapsed_s"] >= 2]  # skip the ramp-up
    during = [r for r in rows if int(t_in) <= r["t"] <= int(t_out)]
    end_rec = recovered_at if recovered_at is not None else last_full + 1
    recovering = [r for r in rows if int(t_out) < r["t"] < end_rec]
    after = [r for r in rows if end_rec <= r["t"] <= last_full]
    requests = sum(r["requests"] for r in rows)
    failures = sum(r["failures"] for r in rows)
    allowed = (1 - slo) * requests
    base_rps = _phase(before)["rps"] or (requests / len(rows))
    month_allowed = (1 - slo) * base_rps * MONTH_S
    if recovered_at is not None:
        out["marks"].append({"event": "recovered", "t": recovered_at, "elapsed_s": recovered_at - origin})
    return out | {
        "recovered": recovered_at is not None,
        "impact_after_inject_s": round(max(0.0, impact["t"] - t_in), 2) if impact else None,
        "recovered_after_revert_s": round(max(0.0, recovered_at - t_out), 2) if recovered_at else None,
        "fault_window_s": round(t_out - t_in, 2),
        "seconds_over_p95_gate": sum(1 for r in rows if r["requests"] and r["p95_ms"] > gate_p95_ms),
        "seconds_without_answer": sum(1 for r in rows[:-1] if not r["requests"]),
        "phases": {"before": _phase(before), "during": _phase(during), "recovering": _phase(recovering),
                   "after": _phase(after)},
        "error_budget": {
            "requests": requests, "failures": failures,
            "allowed_failures_in_run": round(allowed, 1),
            "consumed_of_run_budget": round(failures / allowed, 4) if allowed else None,
            "consumed_of_30_day_budget": round(failures / month_allowed, 6) if month_allowed else None,
            "baseline_rps": base_rps,
        },
    }


def report_lines(r: dict[str, Any]) -> list[str]:
    if "phases" not in r:
        return [f"FAULT RUN: {r.get('note', 'no result')}"]
    eb, ph = r["error_budget"], r["phases"]
    rec = (f"recovered {r['recovered_after_revert_s']} s after the revert" if r["recovered"]
           else "NOT recovered before the run ended")
    lines = [
        f"FAULT {r['fault']['describe']}: {r['fault_window_s']} s; impact "
        f"{r['impact_after_inject_s']} s after inject; {rec}",
        f"ERROR BUDGET (SLO {r['slo']:.2%} of requests succeed): {eb['failures']} failed of {eb['requests']}"
        f" = {_pct(eb['consumed_of_run_budget'])} of this run's budget, "
        f"{_pct(eb['consumed_of_30_day_budget'], 3)} of a 30-day budget at {eb['baseline_rps']} req/s",
    ]
    for name in ("before", "during", "recovering", "after"):
        p = ph[name]
        p95 = (f"p95 median {p['p95_ms_median_of_seconds']:.0f} ms, worst {p['p95_ms_worst_second']:.0f} ms"
               if p["p95_ms_worst_second"] is not None else "no answers")
        lines.append(f"  {name:<10} {p['seconds']:>3} s {p['rps']:>7} req/s  "
                     f"failures {p['failures']:>5}  {p95}")
    w = r.get("writes")
    if w:
        lines.append(f"ACKNOWLEDGED WRITES read back: {w['checked'] - w['lost'] - w['mismatched']}/"
                     f"{w['acknowledged']} (lost {w['lost']}, mismatched {w['mismatched']}, "
                     f"not verified {w['unverified']})")
    lines.append(f"FAULT RUN: {'PASS' if r['passed'] else 'FAIL'}")
    return lines


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}%}"


# --- command line -----------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtests.run_load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["prevention", "distributed", "fault"])
    p.add_argument("--host", default=DEFAULT_HOST, help="the engine's base URL (LOCUST_HOST)")
    p.add_argument("--users", type=int, default=PREVENTION_USERS)
    p.add_argument("--spawn-rate", type=float, default=20.0)
    p.add_argument("--run-time", type=int, default=60, help="seconds of load")
    p.add_argument("--stop-timeout", type=int, default=10,
                   help="seconds users get to finish a call at the end")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (distributed: default one per core; fault: default 0)")
    p.add_argument("--reports-dir", default=str(ROOT / "reports"))
    p.add_argument("--name", default=None,
                   help="file name prefix (default load, load-distributed, load-fault)")
    p.add_argument("--gate-p95-ms", type=float, default=None)
    p.add_argument("--gate-error-ratio", type=float, default=None)
    p.add_argument("--gate-min-rps", type=float, default=None,
                   help=f"default {PREVENTION_MIN_RPS} when --users is {PREVENTION_USERS} (documented)")
    p.add_argument("--readback-timeout-s", type=float, default=30.0)
    p.add_argument("--quiet", action="store_true", help="Locust's output to the log file only")
    g = p.add_argument_group("fault run")
    g.add_argument("--fault", default="db-down",
                   help=f"{', '.join(FAULT_SHORTCUTS)}, or any chaos library kind (private stack)")
    g.add_argument("--fault-params", default="", help="JSON parameters of the fault kind")
    g.add_argument("--inject-after", type=float, default=20.0, help="seconds of load before the fault")
    g.add_argument("--fault-for", type=float, default=15.0, help="seconds the fault stays")
    g.add_argument("--stack", choices=["private", "reference"], default="private",
                   help="private: a throwaway stack (chaos library); reference: the running Compose stack")
    g.add_argument("--toxiproxy-url", default=DEFAULT_TOXIPROXY)
    g.add_argument("--slo", type=float, default=0.999, help="availability SLO for the error budget")
    g.add_argument("--timeline-out", default=None, help="default <reports-dir>/load-timeline.json")
    p.add_argument("locust_args", nargs="*", help="after --: passed to Locust as they are")
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    # Locust prints its host in its reports and logs: it gets the URL without credentials,
    # and its processes (which inherit this environment) get them as a header.
    a.host, pair = credentials.split(a.host)
    if pair:
        os.environ[credentials.AUTH_ENV] = pair
    a.name = a.name or {"prevention": "load", "distributed": "load-distributed",
                        "fault": "load-fault"}[a.mode]
    if a.workers is None:
        a.workers = (os.cpu_count() or 1) if a.mode == "distributed" else 0
    if (a.mode != "fault" and a.gate_min_rps is None and a.users == PREVENTION_USERS
            and "LOCUST_GATE_MIN_RPS" not in os.environ):
        a.gate_min_rps = PREVENTION_MIN_RPS  # the documented capacity goes with its user count
    a.timeline_out = a.timeline_out or str(Path(a.reports_dir) / "load-timeline.json")
    # SIGTERM (CI cancelling) must unwind through the `finally` that reverts a fault.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return run_fault(a) if a.mode == "fault" else run_locust(a)


if __name__ == "__main__":
    sys.exit(main())
