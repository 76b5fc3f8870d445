"""All benchmark figures in one run: `make bench` (`scripts/bench.sh bench_checks` for one
section). Figures print as they come and go to reports/bench.json with the machine and the
date; `python -m bench.render` writes the README's figures table from that file.

The checks and load figures are measured against a throwaway stack of the reference images
(labelled like a chaos run, removed at the end), never against the shared reference stack.
The exit code is 1 when any benchmark failed: a failed run is never timed as a good one.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import common, machine
from bench.common import ROOT, BenchFailed, failed, record

# (module, whether it measures against the throwaway stack). Those that use the stack run
# together: it comes up once, and nothing idles beside the others.
SECTIONS = [("bench.bench_parsers", False), ("bench.bench_stack", True), ("bench.bench_checks", True),
            ("bench.bench_load", True), ("bench.bench_monitoring", False), ("bench.bench_serve", False),
            ("bench.bench_chaos", False), ("bench.bench_watch", True)]
DEFAULT_OUT = ROOT / "reports" / "bench.json"


class BenchContext:
    """What the sections share: one throwaway stack, brought up on first use (and timed)."""

    def __init__(self) -> None:
        self._stack: Any = None

    def stack(self) -> Any:
        if self._stack is None:
            from servicedown.chaos.stack import ChaosStack

            stack = ChaosStack(progress=lambda line: print(f"    {line}", flush=True))
            start = time.perf_counter()
            try:
                stack.up()
            except Exception as exc:
                stack.close()
                raise BenchFailed(f"the throwaway stack did not come up: {exc}") from None
            secs = time.perf_counter() - start
            record("stack.up", "throwaway stack (Postgres, toxiproxy, engine) up to healthy, "
                   "images cached", f"{secs:.1f} s", "≤ 60 s", seconds=round(secs, 2))
            self._stack = stack
        return self._stack

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("sections", nargs="*", help="only these (e.g. bench_checks); default: all")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the figures go (JSON)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse(sys.argv[1:] if argv is None else argv)
    chosen = [(n, s) for n, s in SECTIONS if not a.sections or any(o in n for o in a.sections)]
    if not chosen:
        names = ", ".join(n.split(".")[-1] for n, _ in SECTIONS)
        print(f"ERROR: no section matches {' '.join(a.sections)}; the sections are {names}",
              file=sys.stderr)
        return 2
    doc: dict[str, Any] = {"date": machine.now(), "machine": machine.describe(),
                           "load_average_start": machine.load_average(),
                           "sections": [n.split(".")[-1] for n, _ in chosen]}
    ctx = BenchContext()
    try:
        for name, uses_stack in chosen:
            if not uses_stack:
                ctx.close()  # nothing idles beside a section that does not need it
            short = name.split(".")[-1]
            try:
                importlib.import_module(name).main(ctx)
            except BenchFailed as exc:
                failed(f"{short}.error", f"{short}: stopped", str(exc))
            except Exception as exc:  # one line, not a traceback; the other sections still run
                failed(f"{short}.error", f"{short}: stopped", f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        failed("run.interrupted", "run", "interrupted")
    finally:
        ctx.close()
    bad = [f for f in common.FIGURES if f.status == "failed"]
    doc |= {"load_average_end": machine.load_average(),
            "complete": len(chosen) == len(SECTIONS) and not bad,
            "figures": common.as_json()}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nfigures written to {a.out.relative_to(ROOT) if a.out.is_relative_to(ROOT) else a.out}",
          flush=True)
    if bad:
        print(f"{len(bad)} benchmark(s) FAILED: {', '.join(f.key for f in bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
