"""Foundation figures: warm bootstrap, stack-up with cached images, engine's fail-fast exit."""

from __future__ import annotations

import re
import subprocess
import time

from bench.common import row, section, timed


def bootstrap_warm() -> None:
    secs, rc, out = timed(["bash", "scripts/bootstrap.sh", "all"], timeout=1800)
    row("bootstrap, warm (scripts/bootstrap.sh all)", f"{secs:.1f}s (rc={rc})", "target <= 30 s")


def stack_up_cached() -> None:
    timed(["bash", "scripts/stack.sh", "down"], timeout=300)
    secs, rc, out = timed(["bash", "scripts/stack.sh", "up"], timeout=300)
    row("stack-up to healthy, images cached (after down)", f"{secs:.1f}s (rc={rc})",
        "target <= 60 s")


def engine_without_jwt() -> None:
    """Production mode without JWT_SECRET: exits 1, fast, with the VALIDATION lines."""
    name = "servicedown-bench-nojwt"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=30)
    env = ["-e", "QBITEL_ENVIRONMENT=production", "-e", "DATABASE_HOST=nowhere",
           "-e", "DATABASE_PORT=5432", "-e", "DATABASE_NAME=qbitel", "-e", "DATABASE_USER=qbitel_user",
           "-e", "DATABASE_PASSWORD=Zq8-bench-only-not-a-real-value-x1",
           "-e", "ENCRYPTION_KEY=Zq8-bench-only-not-a-real-value-x2-0123456789"]
    subprocess.run(["docker", "create", "--name", name, *env, "qbitel-engine:local"],
                   capture_output=True, timeout=60, check=True)
    start = time.perf_counter()
    subprocess.run(["docker", "start", name], capture_output=True, timeout=30, check=True)
    wait = subprocess.run(["docker", "wait", name], capture_output=True, text=True, timeout=60)
    secs = time.perf_counter() - start
    logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True, timeout=30)
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=30)
    text = logs.stdout + logs.stderr
    lines = len(re.findall(r"VALIDATION", text))
    row("engine, production, no JWT_SECRET: exit", f"{secs:.2f}s, exit {wait.stdout.strip()}, "
        f"{lines} VALIDATION lines", "target exit 1 within 5 s")


def main() -> None:
    section("foundation (issue 2)")
    bootstrap_warm()
    stack_up_cached()
    engine_without_jwt()


if __name__ == "__main__":
    main()
