"""`servicedown`: the project's suites and tools as one command, for a clone or an installed
wheel (an on-call engineer's jump host).

    servicedown checks [pytest options]      the incident checks (checks/) against a deployment
    servicedown chaos [pytest options]       the chaos experiments (chaos/)
    servicedown coverage RUNBOOK [--strict]  what each runbook item means and what covers it
    servicedown report [--reports-dir DIR]   the post-mortem page from reports/
    servicedown watch [options]              stay with the incident: checks on every platform event
    servicedown serve [--config FILE]        the Alertmanager webhook receiver (docs/receiver.md)
    servicedown record NAME [options]        record a live incident as a corpus case

The suites run in this process through pytest.main with the project's settings
(servicedown/suites) and plugins named up front, so options such as `--runbook PATH` are known
before pytest picks its rootdir. A command is a row of COMMANDS: add one there. Each command
imports what it runs when it is chosen, so `servicedown --help` and one command do not pay for
the others (pytest, the receiver's server, the platforms' clients).
Exit codes: the command's own (pytest's for the suites); 2 for a usage error, one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

PLUGINS = ("servicedown.pytest_plugin", "servicedown.report.pytest_html_extras",
           "servicedown.runbook.pytest_plugin")


@dataclass(frozen=True)
class Command:
    help: str
    run: Callable[[list[str]], int]  # the arguments after the command's name -> exit code
    passthrough: bool = False  # its arguments go to pytest unread


def pytest_suite(name: str) -> Callable[[list[str]], int]:
    def run(args: list[str]) -> int:
        import pytest

        from servicedown.suites import PYTEST_ARGS, suite_dir, suites_root

        # Paths the user names replace the suite; options add to it.
        paths = _test_paths(args)
        # The settings come from PYTEST_ARGS alone (no config file is read: a wheel has none),
        # the node ids from the suites' folder, wherever the command runs.
        # The plugins are imported here before pytest loads them as entry points too: their
        # asserts need no rewriting, and pytest's warning that it cannot is noise at 3 a.m.
        argv = [*PYTEST_ARGS, "-W", "ignore::pytest.PytestAssertRewriteWarning",
                f"--config-file={os.devnull}", "--rootdir", str(suites_root()),
                *(() if paths else (str(suite_dir(name)),)), *args]
        return int(pytest.main(argv, plugins=list(PLUGINS)))

    return run


def _test_paths(args: list[str]) -> list[str]:
    """The test paths among the arguments: words pytest's own parser leaves as positional (the
    value of a known option is never one: `--target compose` beside the project's compose/
    folder) that look like a test path (a suite's own options, such as chaos's
    `--experiment 'db-*'`, are not known here)."""
    words = [a for a in args if not a.startswith("-")]
    try:
        from _pytest.config import get_config

        config = get_config()
        for plugin in PLUGINS:
            config.pluginmanager.import_plugin(plugin)
        words = list(config._parser.parse_known_args(args).file_or_dir or [])
    except Exception:  # pytest's private parser moved: every word that looks like a path
        pass
    return [a for a in words if _is_test_path(a)]


def _is_test_path(arg: str) -> bool:
    p = Path(arg.split("::")[0])
    return p.suffix == ".py" or p.is_dir()


def coverage(args: list[str]) -> int:
    from servicedown.runbook.__main__ import add_arguments, coverage_command

    p = argparse.ArgumentParser(prog="servicedown coverage",
                                description="What each runbook item means, and what covers it.")
    add_arguments(p)
    return coverage_command(p.parse_args(args))


def report(args: list[str]) -> int:
    from servicedown.report.__main__ import main as report_main

    return int(report_main(args) or 0)


def watch(args: list[str]) -> int:
    from servicedown.watch.options import main as watch_main

    return watch_main(args)


def serve(args: list[str]) -> int:
    from servicedown.receiver.app import main as serve_main

    return serve_main(args)


def record(args: list[str]) -> int:
    from servicedown.record.__main__ import main as record_main

    return int(record_main(args))


COMMANDS: dict[str, Command] = {
    "checks": Command("run the incident checks against a deployment (pytest options follow)",
                      pytest_suite("checks"), passthrough=True),
    "chaos": Command("run the chaos experiments on a throwaway stack (pytest options follow)",
                     pytest_suite("chaos"), passthrough=True),
    "coverage": Command("print what each runbook item means and what covers it", coverage),
    "report": Command("write the post-mortem page from reports/", report),
    "watch": Command("watch the service through the incident: checks on every platform event, "
                     "the escalation clock, the incident timeline", watch),
    "serve": Command("receive Alertmanager's alerts: triage each incident, serve /metrics", serve),
    "record": Command("record a live incident (every platform answer) as a replayable case "
                      "(docs/accuracy.md)", record),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {c.help}" for name, c in COMMANDS.items())
    return (f"usage: servicedown COMMAND [ARGS...]\n\ncommands:\n{rows}\n\n"
            "`servicedown COMMAND --help` shows a command's own options.")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    command = COMMANDS.get(name)
    if command is None:
        print(f"servicedown: unknown command {name!r}; commands: {', '.join(COMMANDS)} "
              "(servicedown --help)", file=sys.stderr)
        return 2
    try:
        return command.run(rest)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # argparse's own usage errors and --help
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)


if __name__ == "__main__":
    sys.exit(main())
