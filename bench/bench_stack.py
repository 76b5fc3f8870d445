"""Foundation figures: warm bootstrap, the throwaway stack up with cached images, `make
stack-up` on a Compose project of its own, and the engine's fail-fast exit without JWT_SECRET."""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from typing import Any

from bench.common import BenchFailed, record, run, section
from servicedown.ports import free_port

# `make stack-up` is measured on a Compose project of its own, with ports of its own: the shared
# `qbitel` project is never taken down.
PROJECT = "sdbenchstack"


def bootstrap_warm() -> None:
    secs, _ = run(["bash", "scripts/bootstrap.sh", "all"], timeout=1800, what="scripts/bootstrap.sh all")
    record("stack.bootstrap_warm", "bootstrap, warm (`scripts/bootstrap.sh all`)", f"{secs:.1f} s",
           "≤ 30 s", seconds=round(secs, 2))


def reference_stack_up() -> None:
    """`scripts/stack.sh up` (what `make stack-up` runs) after a `down`, images cached."""
    env = {"COMPOSE_PROJECT_NAME": PROJECT, "QBITEL_HTTP_PORT": str(free_port()),
           "QBITEL_TOXIPROXY_API_PORT": str(free_port()), "QBITEL_PROMETHEUS_PORT": str(free_port()),
           "QBITEL_ALERTMANAGER_PORT": str(free_port())}

    def stack(verb: str) -> float:
        return run(["bash", "scripts/stack.sh", verb], timeout=300, env=env,
                   what=f"scripts/stack.sh {verb} (project {PROJECT})")[0]

    stack("down")
    try:
        secs = stack("up")
    finally:
        stack("down")
    record("stack.reference_up", f"`make stack-up` to healthy, images cached (after down; project {PROJECT})",
           f"{secs:.1f} s", "≤ 60 s", seconds=round(secs, 2))


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
