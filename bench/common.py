"""Shared helpers of the benchmark scripts: bounded timing of commands that must succeed, and
the figures of one run, printed as they come and kept for reports/bench.json.

A benchmark times something only when that something did what it should: a command that
exits with an unexpected code, or does not end within its bound, fails the benchmark
(BenchFailed) instead of giving a time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


class BenchFailed(RuntimeError):
    """What a benchmark timed did not work; the message says what and how it ended."""


def run(argv: list[str], timeout: float = 300, env: dict[str, str] | None = None,
        cwd: Path = ROOT, expect: Iterable[int] = (0,), what: str | None = None) -> tuple[float, str]:
    """-> (seconds, output tail) of one bounded run that ended with an expected exit code."""
    what = what or " ".join(argv[:4])
    start = time.perf_counter()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                           stdin=subprocess.DEVNULL,
                           env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    except subprocess.TimeoutExpired:
        raise BenchFailed(f"{what}: did not end within {timeout:g} s") from None
    except OSError as exc:
        raise BenchFailed(f"{what}: could not start ({exc})") from None
    seconds = time.perf_counter() - start
    out = (p.stdout + p.stderr)[-2000:]
    if p.returncode not in set(expect):
        tail = "\n      ".join(out.strip().splitlines()[-8:])
        raise BenchFailed(f"{what}: exit code {p.returncode}, expected "
                          f"{' or '.join(map(str, expect))}\n      {tail}")
    return seconds, out


def spread(samples: list[float]) -> str:
    return (f"median {statistics.median(samples):.2f}s  min {min(samples):.2f}s  "
            f"max {max(samples):.2f}s  (n={len(samples)})")


@dataclass
class Figure:
    key: str  # stable id, e.g. "checks.healthy"
    label: str  # what was measured, as the README's table names it
    text: str  # the measured figure, as printed
    target: str = ""
    status: str = "measured"  # measured | failed
    values: dict[str, Any] = field(default_factory=dict)  # the numbers behind the text


FIGURES: list[Figure] = []


def record(key: str, label: str, text: str, target: str = "", **values: Any) -> Figure:
    fig = Figure(key, label, text, target, "measured", values)
    FIGURES.append(fig)
    _print(fig)
    return fig


def failed(key: str, label: str, why: str) -> Figure:
    fig = Figure(key, label, f"FAILED: {why}", status="failed")
    FIGURES.append(fig)
    _print(fig)
    return fig


def as_json() -> list[dict[str, Any]]:
    return [asdict(f) for f in FIGURES]


def _print(fig: Figure) -> None:
    first, *rest = fig.text.splitlines() or [""]
    print(f"  {fig.label:<52} {first:<48} {fig.target}", flush=True)
    for line in rest:
        print(f"  {'':<52} {line}", flush=True)


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)
