"""`pytest --runbook PATH`: the runbook coverage matrix at the end of the session.

The matrix counts the check registry, the causes table and the chaos experiments, plus the
`runbook` markers of the tests this session collected (and the checks they `expect`).
`--runbook-strict` fails the session when a required item is uncovered; `--runbook-json`
writes the matrix as JSON (reports/coverage.json for the report).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from servicedown.runbook import sidecar
from servicedown.runbook.coverage import build
from servicedown.runbook.reader import Runbook, RunbookError, read_runbook
from servicedown.runbook.render import matrix_json, matrix_text
from servicedown.runbook.sources import SourceError, TestRef, checks_of_function, load_results, split_ids

_RUNBOOK = pytest.StashKey[Runbook]()
_TESTS = pytest.StashKey[list[TestRef]]()
_MATRIX = pytest.StashKey[Any]()
_PINS = pytest.StashKey[tuple[dict[str, Any], list[str]]]()
DEFAULT_CHAOS = Path("reports") / "chaos.json"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("runbook", "runbook coverage (the runbook as the test plan)")
    group.addoption("--runbook", dest="runbook_path", default=None, metavar="PATH",
                    help="print the coverage matrix of this Markdown runbook at the end")
    group.addoption("--runbook-strict", dest="runbook_strict", action="store_true", default=False,
                    help="fail the session when a required runbook item is uncovered")
    group.addoption("--runbook-json", dest="runbook_json", default=None, metavar="FILE",
                    help="also write the matrix as JSON (e.g. reports/coverage.json)")
    group.addoption("--runbook-chaos-json", dest="runbook_chaos_json", default=None, metavar="FILE",
                    help=f"last chaos results for MTTD/MTTR [default: {DEFAULT_CHAOS} if present]")


# Options whose value is a path that exists: written as two words, pytest reads the value as a
# test path when it picks its rootdir (before any plugin declares an option).
PATH_OPTIONS = ("--runbook", "--runbook-chaos-json")
_RERUN = "SERVICEDOWN_RUNBOOK_RERUN"  # set in the one re-run: never twice


def joined_args(args: Sequence[str]) -> list[str] | None:
    """`--runbook PATH` -> `--runbook=PATH` where PATH exists; None when nothing changes."""
    out, changed, i = [], False, 0
    while i < len(args):
        a = args[i]
        if a in PATH_OPTIONS and i + 1 < len(args) and not args[i + 1].startswith("-") \
                and Path(args[i + 1]).exists():
            out.append(f"{a}={args[i + 1]}")
            changed, i = True, i + 2
            continue
        out.append(a)
        i += 1
    return out if changed else None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """pytest picks its rootdir and config file before any plugin can declare an option, so in
    `pytest --runbook /elsewhere/RUNBOOK.md` the runbook's folder becomes the rootdir and the
    project's settings go unread (pytest issue 8846); `--runbook=PATH` is read as meant. This
    plugin loads (as an entry point) before the conftests: it runs the same command once more
    with the option joined to its value. Only for a command line this process was started with;
    pytest.main() from another program is left alone."""
    args = list(early_config.invocation_params.args)
    fixed = joined_args(args)
    if fixed is None or os.environ.get(_RERUN) or args != sys.argv[1:] or not args:
        return
    argv = list(getattr(sys, "orig_argv", []))
    if argv[len(argv) - len(args):] != args:
        return
    os.environ[_RERUN] = "1"
    capture = early_config.pluginmanager.getplugin("capturemanager")
    if capture is not None:  # pytest has taken fds 1 and 2 by now: give them back first
        capture.stop_global_capturing()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [*argv[: len(argv) - len(args)], *fixed])


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("runbook_path")
    if not path:
        if config.getoption("runbook_strict") or config.getoption("runbook_json"):
            raise pytest.UsageError("--runbook-strict and --runbook-json need --runbook PATH")
        return
    try:
        # Read up front: a runbook that cannot be read is a usage error, not a late surprise.
        config.stash[_RUNBOOK] = read_runbook(path)
        config.stash[_PINS] = sidecar.load(config.stash[_RUNBOOK])
    except RunbookError as exc:
        raise pytest.UsageError(f"--runbook: {exc}") from None


def pytest_collection_finish(session: pytest.Session) -> None:
    if _RUNBOOK not in session.config.stash:
        return
    refs = []
    for item in session.items:
        ids = [i for m in item.iter_markers("runbook") for a in m.args for i in split_ids(a)]
        if ids:
            func = getattr(item, "function", None)
            refs.append(TestRef(item.nodeid, tuple(dict.fromkeys(ids)),
                                tuple(checks_of_function(func)) if func else ()))
    session.config.stash[_TESTS] = refs


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    runbook = config.stash.get(_RUNBOOK, None)
    if runbook is None:
        return
    chaos = config.getoption("runbook_chaos_json")
    pins, pin_notes = config.stash[_PINS]
    notes: list[str] = []
    try:
        results, notes = load_results(chaos or (DEFAULT_CHAOS if DEFAULT_CHAOS.exists() else None))
    except SourceError as exc:
        results, notes = [], [f"chaos results not used: {exc}"]
    matrix = build(runbook, tests=config.stash.get(_TESTS, []), results=results,
                   notes=[*pin_notes, *notes], pins=pins)
    config.stash[_MATRIX] = matrix
    out = config.getoption("runbook_json")
    if out:
        try:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(json.dumps(matrix_json(matrix), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            matrix.notes.append(f"cannot write {out}: {exc.strerror or exc}")
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        # `pytest --runbook PATH` alone asks for the matrix: no tests to run is not a failure.
        session.exitstatus = exitstatus = pytest.ExitCode.OK
    strict_fails = config.getoption("runbook_strict") and matrix.uncovered
    # Only turn a passing (or empty) session into a failure; interruptions and usage errors keep
    # their own codes.
    if strict_fails and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    matrix = config.stash.get(_MATRIX, None)
    if matrix is None:
        return
    terminalreporter.section("runbook coverage")
    for line in matrix_text(matrix).splitlines():
        terminalreporter.write_line(line)
    out = config.getoption("runbook_json")
    if out and Path(out).exists():
        terminalreporter.write_line(f"coverage written to {out}")
    if config.getoption("runbook_strict") and matrix.uncovered:
        terminalreporter.write_line(
            f"--runbook-strict: uncovered runbook item(s): {', '.join(matrix.uncovered)}",
            red=True, bold=True)
