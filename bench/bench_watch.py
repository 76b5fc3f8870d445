"""`servicedown watch`: detection latency from the platform's event to the verdict change in the
timeline (and on screen: the plain line is printed as the line is written), per fault, beside
today's one-shot `pytest checks/` run; and the idle cost while healthy.

Runs on the throwaway stack of the reference stack's images and shape (ChaosStack: Postgres,
toxiproxy, the engine with the compose file's restart policy and healthcheck), so the shared
`qbitel` project is left alone.

    scripts/bench.sh bench_watch                      (with the other sections: make bench)
    .venv/bin/python -m bench.bench_watch [--repeats 5] [--idle-s 60] [--faults SIGKILL,OOM]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import PY, ROOT, BenchFailed, record, section
from servicedown import polling
from servicedown.chaos.faults import MemoryHog, PostgresStop, ProxyDisabled, SigKill
from servicedown.chaos.stack import ENGINE, POSTGRES, ChaosStack
from servicedown.schema import TimelineEntry
from servicedown.watch.record import read_timeline

# fault name -> (target figure, the container whose first event after the injection is "the
# platform event"; None: no platform event, timed from the injection)
FAULTS: dict[str, tuple[float, str | None]] = {
    "crash (SIGKILL)": (1.0, ENGINE), "OOM kill": (1.0, ENGINE), "container stop": (1.0, ENGINE),
    "database stopped": (3.0, POSTGRES), "db-network (link cut)": (5.0, None)}


class Watch:
    """`servicedown watch --plain` in its own process, as the on-call engineer runs it."""

    def __init__(self, stack: ChaosStack, folder: Path, interval_s: float) -> None:
        self.timeline = folder / "incident-timeline.jsonl"
        argv = [PY, "-m", "servicedown.cli", "watch", "--plain", "--target", "compose",
                "--compose-project", stack.run_id, "--base-url", stack.engine_url,
                "--interval-s", str(interval_s), "--settle-s", "2", "--max-s", "3600",
                "--timeline", str(self.timeline), "--triage-json", str(folder / "triage.json")]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})

    def entries(self) -> list[TimelineEntry]:
        return read_timeline(self.timeline)[0] if self.timeline.exists() else []

    def calm(self, timeout: float = 120) -> bool:
        """Serving: the last verdict is not down. A database fault leaves the engine's own error
        lines "since the last start" for a minute (logs.db_error heals after 60 s quiet), so the
        verdict is degraded a while after every fault; each fault takes it down, which is the
        change measured."""
        def ok() -> bool:
            states = [e for e in self.entries() if e.kind == "state" and e.verdict is not None]
            return bool(states) and states[-1].verdict != "down"
        return bool(polling.until(ok, timeout, 0.2))

    def verdict_change_after(self, t: float, timeout: float = 30) -> TimelineEntry | None:
        def found() -> TimelineEntry | None:
            return next((e for e in self.entries() if e.kind == "state" and e.time >= t
                         and e.verdict == "down"), None)
        return polling.until(found, timeout, 0.05)

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(2)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        end = next((e for e in reversed(self.entries()) if e.kind == "end"), None)
        return end.data if end else {}


def first_event(stack: ChaosStack, service: str, since: float) -> float | None:
    """The platform's time of the first event of this container after `since` (Docker's own)."""
    c = stack.container(service)
    deadline = time.time() + 10
    while time.time() < deadline:
        events = stack.client.api.events(since=f"{since - 0.5:.3f}", until=f"{time.time():.3f}", decode=True,
                                         filters={"type": "container", "container": [c.id],
                                                  "event": ["kill", "oom", "die", "stop"]})
        times = [e["timeNano"] / 1e9 for e in events if e.get("timeNano", 0) / 1e9 >= since - 0.5]
        if times:
            return min(times)
        time.sleep(0.2)
    return None


def full_runs_between(stack: ChaosStack, since: float, until: float) -> int:
    """Full runs, counted where they show on the platform: while nothing happens only a full
    run asks the database `pg_isready` (database.ready), once per run."""
    c = stack.container(POSTGRES)
    events = stack.client.api.events(since=f"{since:.3f}", until=f"{until:.3f}", decode=True,
                                     filters={"type": "container", "container": [c.id],
                                              "event": ["exec_start"]})
    return sum(1 for e in events if "pg_isready" in str(e.get("Action", "")))


def inject(name: str, stack: ChaosStack) -> Callable[[], None]:
    """Make the fault; -> what undoes it."""
    if name == "crash (SIGKILL)":
        f: Any = SigKill()
    elif name == "OOM kill":
        f = MemoryHog()
    elif name == "container stop":
        stack.container(ENGINE).stop(timeout=10)
        return lambda: SigKill().revert(stack)
    elif name == "database stopped":
        f = PostgresStop()
    else:
        f = ProxyDisabled()
    f.inject(stack)
    return lambda: f.revert(stack)


def one_shot(stack: ChaosStack, name: str, folder: Path) -> float | None:
    """Today's way: `pytest checks/` run the moment the fault happens; -> seconds from the
    platform event to its verdict (its triage written)."""
    started = time.time()
    undo = inject(name, stack)
    out = folder / f"one-shot-{time.monotonic_ns()}.json"
    try:
        subprocess.run([PY, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider", "--target", "compose",
                        "--compose-project", stack.run_id, "--base-url", stack.engine_url,
                        f"--triage-json={out}"], cwd=ROOT, capture_output=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        done = out.stat().st_mtime if out.exists() else None
        service = FAULTS[name][1]
        t0 = first_event(stack, service, started) if service else started
        verdict = json.loads(out.read_text()).get("verdict") if out.exists() else None
        return None if done is None or t0 is None or verdict == "healthy" else max(done - t0, 0.0)
    finally:
        undo()
        stack.wait_engine_healthy(120)


def fmt(samples: list[float]) -> str:
    return (f"median {statistics.median(samples):.2f} s (min {min(samples):.2f}, max {max(samples):.2f}, "
            f"n={len(samples)})")


def key(name: str) -> str:
    return "watch." + name.split(" ")[0].replace("-", "_").lower()


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.bench_watch")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--idle-s", type=float, default=60.0)
    p.add_argument("--interval-s", type=float, default=30.0)
    p.add_argument("--faults", default="", help="comma-separated subset of the fault names")
    return p.parse_args(argv)


def main(ctx: Any, argv: list[str] | None = None) -> None:
    args = parse(argv or [])
    names = [n for n in FAULTS if not args.faults or any(f.strip() in n for f in args.faults.split(","))]
    stack = ctx.stack()
    section(f"servicedown watch: platform event -> verdict change, {args.repeats} repeats per fault "
            f"(throwaway stack {stack.run_id})")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        w = Watch(stack, folder, args.interval_s)
        try:
            if not w.calm(180):
                raise BenchFailed("watch did not reach a calm healthy state within 180 s")
            # Idle first: a healthy service, nothing happening.
            import psutil

            proc = psutil.Process(w.proc.pid)
            before = sum(proc.cpu_times()[:4])
            lines_before, idle_from = len(w.entries()), time.time()
            time.sleep(args.idle_s)
            cpu = (sum(proc.cpu_times()[:4]) - before) / args.idle_s
            lines = len(w.entries()) - lines_before
            full_runs = full_runs_between(stack, idle_from, time.time())
            for name in names:
                target, service = FAULTS[name]
                samples, misses = [], []
                for n in range(args.repeats):
                    if not w.calm(180):
                        misses.append(f"repeat {n + 1}: still down 180 s after the last one")
                        break
                    started = time.time()
                    undo = inject(name, stack)
                    change = w.verdict_change_after(started)
                    t0 = first_event(stack, service, started) if service else started
                    if change is not None and t0 is not None:
                        samples.append(max(change.time - t0, 0.0))
                    else:
                        misses.append(f"repeat {n + 1}: " + ("no verdict change within 30 s"
                                                             if change is None else "no platform event"))
                    undo()
                    stack.wait_engine_healthy(120)
                if len(samples) < args.repeats:
                    raise BenchFailed(f"{name}: {len(samples)} of {args.repeats} repeats saw the verdict "
                                      f"change ({'; '.join(misses)})")
                shot = one_shot(stack, name, folder)
                text = fmt(samples) + "; one-shot `pytest checks/` run the moment it happened: " + (
                    "no verdict change" if shot is None else f"{shot:.2f} s")
                record(key(name), f"watch, {name}: platform event to verdict change", text,
                       f"≤ {target:g} s median", median_s=round(statistics.median(samples), 3),
                       samples_s=[round(x, 3) for x in samples],
                       one_shot_s=None if shot is None else round(shot, 3))
        finally:
            end = w.stop()
        runs = end.get("runs") or {}
        record("watch.idle_cpu", f"watch, idle while healthy ({args.idle_s:.0f} s): CPU of its process",
               f"{cpu:.2%} of one core; {full_runs} full run(s), {lines} timeline line(s)",
               f"≤ 2 %; ≤ 1 full run every {args.interval_s:g} s", cpu_share=round(cpu, 4),
               full_runs=full_runs, timeline_lines=lines, interval_s=args.interval_s,
               runs_whole_bench=runs)


if __name__ == "__main__":
    from bench.run import BenchContext

    context = BenchContext()
    try:
        main(context, sys.argv[1:])
    finally:
        context.close()
