"""Foundation figures: warm bootstrap, the throwaway stack up with cached images, the
reference stack's `make stack-up` (only when asked: it takes the shared stack down first),
and the engine's fail-fast exit without JWT_SECRET."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
from typing import Any

from bench.common import BenchFailed, record, run, section, skipped

# `make stack-up` after `make stack-down` means taking the reference stack down, which others
# on a shared machine may be using: measured only when BENCH_REFERENCE_STACK=1.
REFERENCE_STACK = os.environ.get("BENCH_REFERENCE_STACK") == "1"


def bootstrap_warm() -> None:
    secs, _ = run(["bash", "scripts/bootstrap.sh", "all"], timeout=1800, what="scripts/bootstrap.sh all")
    record("stack.bootstrap_warm", "bootstrap, warm (`scripts/bootstrap.sh all`)", f"{secs:.1f} s",
           "≤ 30 s", seconds=round(secs, 2))


def reference_stack_up() -> None:
    label = "`make stack-up` to healthy, images cached (after `make stack-down`)"
    if not REFERENCE_STACK:
        skipped("stack.reference_up", label, "it takes the shared reference stack down first "
                "(BENCH_REFERENCE_STACK=1 measures it)")
        return
    run(["bash", "scripts/stack.sh", "down"], timeout=300, what="scripts/stack.sh down")
    secs, _ = run(["bash", "scripts/stack.sh", "up"], timeout=300, what="scripts/stack.sh up")
    record("stack.reference_up", label, f"{secs:.1f} s", "≤ 60 s", seconds=round(secs, 2))


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchFailed(f"docker {args[0]}: no answer within {timeout:g} s") from None


def engine_without_jwt() -> None:
    """Production mode without JWT_SECRET: must exit 1, fast, with the VALIDATION lines."""
    name = f"servicedown-bench-nojwt-{secrets.token_hex(4)}"
    env = ["-e", "QBITEL_ENVIRONMENT=production", "-e", "DATABASE_HOST=nowhere",
           "-e", "DATABASE_PORT=5432", "-e", "DATABASE_NAME=qbitel", "-e", "DATABASE_USER=qbitel_user",
           "-e", "DATABASE_PASSWORD=Zq8-bench-only-not-a-real-value-x1",
           "-e", "ENCRYPTION_KEY=Zq8-bench-only-not-a-real-value-x2-0123456789"]
    created = _docker("create", "--name", name, "--label", "servicedown.bench=nojwt", *env,
                      "qbitel-engine:local")
    if created.returncode != 0:
        raise BenchFailed(f"docker create of the engine failed: {created.stderr.strip()[-300:]}")
    try:
        start = time.perf_counter()
        started = _docker("start", name, timeout=30)
        if started.returncode != 0:
            raise BenchFailed(f"docker start of the engine failed: {started.stderr.strip()[-300:]}")
        waited = _docker("wait", name, timeout=60)
        secs = time.perf_counter() - start
        logs = _docker("logs", name, timeout=30)
    finally:
        _docker("rm", "-f", name, timeout=30)
    code = waited.stdout.strip()
    lines = len(re.findall(r"VALIDATION", logs.stdout + logs.stderr))
    if waited.returncode != 0 or code != "1" or lines == 0:
        raise BenchFailed(f"the engine without JWT_SECRET should exit 1 with VALIDATION lines; "
                          f"it exited {code or '?'} with {lines} VALIDATION lines")
    record("stack.nojwt_exit", "engine in production without JWT_SECRET",
           f"exit 1 after {secs:.2f} s, {lines} VALIDATION lines", "exit 1 within 5 s",
           seconds=round(secs, 2), validation_lines=lines)


def main(ctx: Any) -> None:
    section("foundation")
    bootstrap_warm()
    ctx.stack()  # the throwaway stack the next sections measure against, timed as it comes up
    reference_stack_up()
    engine_without_jwt()
