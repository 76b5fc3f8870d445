"""`pytest checks/` wall time, pytest's own start-up included, in three situations."""

from __future__ import annotations

import socket
import subprocess

from bench.common import PY, row, section, spread, timed

RUNS = 3
CHECKS = [PY, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider"]


def run_n(extra: list[str]) -> list[float]:
    return [timed(CHECKS + extra, timeout=120)[0] for _ in range(RUNS)]


def main() -> None:
    section("pytest checks/ wall time (issue 3)")
    row("healthy stack", spread(run_n([])), "target <= 3 s")

    subprocess.run(["docker", "stop", "-t", "5", "qbitel-engine"], capture_output=True, timeout=60)
    try:
        row("engine stopped", spread(run_n([])), "target <= 8 s")
    finally:
        subprocess.run(["docker", "start", "qbitel-engine"], capture_output=True, timeout=60)

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(128)  # accepts and never answers
    try:
        url = f"http://127.0.0.1:{hole.getsockname()[1]}"
        row("HTTP black-holed (compose target, dead URL)", spread(run_n(["--base-url", url])),
            "target <= 8 s")
    finally:
        hole.close()
    from servicedown.config import Settings
    from servicedown.healthy import wait_healthy

    wait_healthy(Settings().base, 90)


if __name__ == "__main__":
    main()
