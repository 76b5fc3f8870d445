"""Shared helpers of the benchmark scripts: bounded timing of commands, a figures table."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def timed(argv: list[str], timeout: float = 300, env: dict | None = None,
          cwd: Path = ROOT) -> tuple[float, int, str]:
    """-> (seconds, exit code, output tail) of one bounded run."""
    start = time.perf_counter()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                           env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        rc, out = p.returncode, (p.stdout + p.stderr)[-2000:]
    except subprocess.TimeoutExpired:
        rc, out = -1, f"timed out after {timeout}s"
    return time.perf_counter() - start, rc, out


def spread(samples: list[float]) -> str:
    return (f"median {statistics.median(samples):.2f}s  min {min(samples):.2f}s  "
            f"max {max(samples):.2f}s  (n={len(samples)})")


def row(name: str, figure: str, target: str = "") -> None:
    print(f"  {name:<52} {figure:<48} {target}", flush=True)


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)
