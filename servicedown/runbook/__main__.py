"""python -m servicedown.runbook coverage PATH [--chaos-json F] [--json OUT] [--strict]

Prints the coverage matrix of a runbook against the project's checks (and their tests in
checks/ and chaos/), its causes table and chaos experiments. Exit codes: 0 printed (all
covered, or not --strict), 1 --strict and a required item is uncovered, 2 unusable input.
Errors are one line on stderr, never a traceback: this runs in incident tooling and CI logs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from servicedown.runbook import coverage
from servicedown.runbook.reader import RunbookError, read_runbook
from servicedown.runbook.sources import SourceError, load_results


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m servicedown.runbook",
                                description="Runbook coverage: each runbook item -> checks -> "
                                            "chaos experiments -> MTTD/MTTR.")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("coverage", help="print the coverage matrix of a Markdown runbook")
    c.add_argument("path", help="the runbook (Markdown)")
    c.add_argument("--chaos-json", help="last chaos results (reports/chaos.json); a missing "
                                        "file only leaves MTTD/MTTR empty")
    c.add_argument("--json", dest="json_out", help="also write the matrix as JSON here")
    c.add_argument("--strict", action="store_true", help="exit 1 when a required item is uncovered")
    c.add_argument("--tests", action="append", metavar="DIR",
                   help="test folders whose runbook markers count (default: checks/ and chaos/)")
    return p


def run(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        runbook = read_runbook(args.path)
        results, notes = load_results(args.chaos_json)
    except (RunbookError, SourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.tests:
        from servicedown.runbook.sources import scan_tests

        tests, more = scan_tests([Path(d) for d in args.tests], Path.cwd())
    else:
        tests, more = coverage.project_tests()
    matrix = coverage.build(runbook, tests=tests, results=results, notes=[*notes, *more])
    print(matrix.text())
    if args.json_out:
        out = Path(args.json_out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(matrix.to_json(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"coverage written to {out}")
    if args.strict and matrix.uncovered:
        print(f"error: --strict: uncovered runbook item(s): {', '.join(matrix.uncovered)}",
              file=sys.stderr)
        return 1
    return 0


def main() -> int:
    try:
        return run()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; exit as a shell tool would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # one line, not a traceback, whatever went wrong
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
