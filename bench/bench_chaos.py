"""The chaos suite's figures: its wall time (every experiment and the cleanup tests, images
cached), MTTD and MTTR across the experiments, and acknowledged versus lost writes, read from
the run's own --chaos-json. The run must pass: a failing experiment fails the benchmark."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from bench.common import PY, BenchFailed, record, run, section


def _range(exps: list[dict[str, Any]], key: str) -> tuple[str, list[float]]:
    """'0.7 - 12.7 s (slowest: crash-loop)', and the values: the slowest named, so a figure
    over its target says where to look."""
    got = [(e[key], str(e.get("id") or "?")) for e in exps if e.get(key) is not None]
    if not got:
        return "none measured", []
    low, high = min(got), max(got)
    return f"{low[0]:.1f} - {high[0]:.1f} s (slowest: {high[1]})", [v for v, _ in got]


def main(ctx: Any) -> None:
    section("chaos suite (pytest chaos/)")
    with tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp:
        out = Path(tmp) / "chaos.json"
        try:
            secs, _ = run([PY, "-m", "pytest", "chaos/", "-q", "-p", "no:cacheprovider",
                           "--chaos-json", str(out)], timeout=3600, what="pytest chaos/")
        except BenchFailed as exc:
            # Name what failed, not the output's last lines.
            failed = [t.split("::")[-1] for t in re.findall(r"FAILED (\S+)", str(exc))]
            summary = re.findall(r"\d+ failed[^\n]*", str(exc))
            if failed:
                raise BenchFailed(f"pytest chaos/ failed ({summary[-1] if summary else 'see its output'}): "
                                  f"{', '.join(failed)}") from None
            raise
        try:
            doc = json.loads(out.read_text())
        except (OSError, ValueError) as exc:
            raise BenchFailed(f"pytest chaos/ passed but wrote no results ({exc})") from None
    exps = doc.get("experiments") or []
    if not exps:
        raise BenchFailed("pytest chaos/ ran no experiment")
    mttd_text, mttd = _range(exps, "mttd_s")
    mttr_text, mttr = _range(exps, "mttr_s")
    acked = sum(e.get("writes_acknowledged") or 0 for e in exps)
    lost = sum(e.get("writes_lost") or 0 for e in exps)
    minutes, rest = divmod(round(secs), 60)
    record("chaos.suite", f"chaos suite, {len(exps)} experiments + cleanup tests, images cached",
           f"{minutes} min {rest} s", "≤ 6 min", seconds=round(secs, 1), experiments=len(exps))
    record("chaos.mttd", "MTTD per experiment (reference engine)", mttd_text, "≤ 5 s",
           min_s=min(mttd, default=None), max_s=max(mttd, default=None))
    record("chaos.mttr", "MTTR per experiment (reference engine)", mttr_text, "≤ 15 s",
           min_s=min(mttr, default=None), max_s=max(mttr, default=None))
    record("chaos.writes", "writes acknowledged / lost across all experiments",
           f"{acked} acknowledged, {lost} lost", "0 lost", acknowledged=acked, lost=lost)
    if lost:
        raise BenchFailed(f"{lost} acknowledged writes were lost")
