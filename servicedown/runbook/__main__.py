"""python -m servicedown.runbook coverage PATH [--chaos-json F] [--json OUT] [--strict]
(also `servicedown coverage PATH ...`)

Prints the coverage matrix of a runbook against the project's checks (and their tests in
checks/ and chaos/), its causes table and chaos experiments: what each item means, how sure
the matcher is, and what covers it. A sidecar `PATH.servicedown.yml` next to the runbook pins
meanings. Exit codes: 0 printed (all covered, or not --strict), 1 --strict and a required item
is uncovered or undecided, 2 unusable input. Errors are one line on stderr, never a traceback:
this runs in incident tooling and CI logs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from servicedown.runbook import coverage, render
from servicedown.runbook.reader import RunbookError, read_runbook
from servicedown.runbook.sources import SourceError, load_results, scan_tests


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m servicedown.runbook",
                                description="Runbook coverage: each runbook item -> checks -> "
                                            "chaos experiments -> MTTD/MTTR.")
    sub = p.add_subparsers(dest="cmd", required=True)
    add_arguments(sub.add_parser("coverage", help="print the coverage matrix of a Markdown runbook"))
    return p


def add_arguments(c: argparse.ArgumentParser) -> None:
    """The coverage command's arguments (shared with `servicedown coverage`)."""
    c.add_argument("path", help="the runbook (Markdown); PATH.servicedown.yml beside it pins meanings")
    c.add_argument("--chaos-json", help="last chaos results (reports/chaos.json); a missing "
                                        "file only leaves MTTD/MTTR empty")
    c.add_argument("--json", dest="json_out", help="also write the matrix as JSON here")
    c.add_argument("--strict", action="store_true", help="exit 1 when a required item is uncovered")
    c.add_argument("--tests", action="append", metavar="DIR",
                   help="test folders whose runbook markers count (default: checks/ and chaos/)")


def run(argv: list[str] | None = None) -> int:
    return coverage_command(parser().parse_args(argv))


def coverage_command(args: argparse.Namespace) -> int:
    if args.tests:
        tests, more = scan_tests([Path(d) for d in args.tests], Path.cwd())
    else:
        tests, more = coverage.project_tests()
    try:
        runbook = read_runbook(args.path)
        results, notes = load_results(args.chaos_json)
        matrix = coverage.build(runbook, tests=tests, results=results, notes=[*notes, *more])
    except (RunbookError, SourceError) as exc:  # SidecarError is a RunbookError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render.matrix_text(matrix))
    if args.json_out:
        out = Path(args.json_out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(render.matrix_json(matrix), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"coverage written to {out}")
    if args.strict and matrix.uncovered:
        print(f"error: --strict: uncovered runbook item(s): {', '.join(matrix.uncovered)}"
              + (f" (meaning not decided: {', '.join(matrix.undecided)}; pin it in "
                 f"{args.path}.servicedown.yml)" if matrix.undecided else ""), file=sys.stderr)
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
