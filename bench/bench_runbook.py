"""The runbook reader on hostile input: time to read runbooks built from repeated inlines,
up to the reader's size limit. Each case runs in its own bounded subprocess, so a reader that
is quadratic shows up as a timeout instead of hanging the bench.

    PYTHONPATH=. .venv/bin/python -m bench.bench_runbook [--repeats N ...] [--timeout S]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import common
from bench.common import ROOT, failed, record, section

HEAD = "# Runbook\n\n## Diagnosis\n\n### 1. Check it\n\n"
# Inlines that make a backtracking regex rescan the rest of the line from every position.
UNITS = {
    "emphasis '*a '": "*a ",
    "emphasis '_b '": "_b ",
    "brackets '['": "[",
    "images '!['": "![",
    "links '[a](b'": "[a](b",
    "code '`a '": "`a ",
    "strong '**a '": "**a ",
}


# Structure at the size limit: many items, many code blocks, a heading padded with spaces.
STRUCTURES = {
    "numbered steps": "1. **Check it**\n",
    "step headings": "### Check it\n\n",
    "code blocks": "```bash\ndf -h\n```\n",
    "bullets under a cause": "   - Disk full\n",
}


def runbook(unit: str, repeats: int) -> str:
    return HEAD + unit * repeats + "\n"


def runbook_2mb(unit: str) -> str:
    """As many repeats as fit under the reader's 2 MB limit, on lines of 200 repeats joined
    into one item (the reader joins an item's lines into one text)."""
    from servicedown.runbook.reader import MAX_BYTES

    line = unit * 200 + "\n"
    count = (MAX_BYTES - len(HEAD) - 1) // len(line.encode())
    return HEAD + line * count


def timed_read(key: str, label: str, text: str, timeout: float) -> None:
    """Record the time to read `text`; a read that fails or overruns its bound is a failed
    benchmark, not a time."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runbook.md"
        path.write_text(text, encoding="utf-8")
        code = ("import sys\nfrom servicedown.runbook.reader import read_runbook\n"
                "read_runbook(sys.argv[1])\n")
        start = time.perf_counter()
        try:
            p = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                               text=True, timeout=timeout, cwd=ROOT,
                               env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        except subprocess.TimeoutExpired:
            failed(key, label, f"did not finish in {timeout:.0f}s")
            return
        took = time.perf_counter() - start
        if p.returncode != 0:
            last = (p.stderr.strip().splitlines() or ["no output"])[-1][:80]
            failed(key, label, f"exit {p.returncode}: {last}")
            return
        record(key, label, f"{took:.2f} s", seconds=round(took, 3))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_runbook")
    ap.add_argument("--repeats", type=int, action="append", help="repeats per case (default 8000)")
    ap.add_argument("--timeout", type=float, default=60.0, help="bound per case, seconds")
    ap.add_argument("--no-2mb", action="store_true", help="skip the cases at the size limit")
    args = ap.parse_args(argv if argv is not None else [])
    section("runbook reader on repeated inlines (time to read, subprocess start included)")
    for n in args.repeats or [8000]:
        for i, (name, unit) in enumerate(UNITS.items()):
            text = runbook(unit, n)
            timed_read(f"runbook.inline{i}_x{n}", f"{name} x {n} ({len(text) // 1000} KB)", text,
                       args.timeout)
    if not args.no_2mb:
        from servicedown.runbook.reader import MAX_BYTES

        for i, (name, unit) in enumerate(STRUCTURES.items()):
            head = HEAD if "cause" not in name else "# R\n\n## Common Causes\n\n1. **Disk**\n"
            text = head + unit * ((MAX_BYTES - len(head)) // len(unit.encode()))
            timed_read(f"runbook.structure{i}_limit", f"{name} up to the limit "
                       f"({len(text.encode()) // 1000} KB)", text, args.timeout)
        padded = "# R\n\n## Diagnosis " + " " * 1_900_000 + "x\n\n### 1. a\n\n```\nls\n```\n"
        timed_read("runbook.padded_heading", "a heading padded with 1.9 MB of spaces", padded,
                   args.timeout)
        for i, (name, unit) in enumerate(UNITS.items()):
            text = runbook_2mb(unit)
            timed_read(f"runbook.inline{i}_limit", f"{name} up to the limit "
                       f"({len(text.encode()) // 1000} KB)", text, args.timeout)
    bad = [f.key for f in common.FIGURES if f.status == "failed"]
    if bad:
        print(f"{len(bad)} case(s) FAILED: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
