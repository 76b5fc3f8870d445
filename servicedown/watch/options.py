"""watch's own options, declared once for both ways in: `servicedown watch --interval-s 30` and
`pytest checks/ --watch --watch-interval-s 30` (the deployment's settings are the usual ones,
with their SERVICEDOWN_* twins)."""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from servicedown import config as cfg
from servicedown.runbook.escalation import Escalation, read_escalation
from servicedown.runbook.reader import RunbookError, read_runbook
from servicedown.suites import suites_root
from servicedown.watch.loop import Watcher, WatchOptions
from servicedown.watch.view import make_view

# name (a WatchOptions field, or one of EXTRA), help. Types and defaults are WatchOptions'.
HELP: dict[str, str] = {
    "interval_s": "a full run of the checks at least this often, in seconds (the floor under the events)",
    "max_s": "stop after this many seconds whatever happens",
    "until_healthy": "stop once the service has recovered (healthy, held for --settle-s)",
    "settle_s": "healthy this many seconds counts as recovered",
    "max_restarts": "with --remediate: the quick fix is tried at most this many times",
    "backoff_s": "with --remediate: unhealthy this long before the first quick fix, doubled after each",
    "escalation_hook": "shell command run at each escalation step (SERVICEDOWN_ESCALATE_TO, "
                       "SERVICEDOWN_DOWNTIME_S, ... in its environment), e.g. to page",
    "timeline": "the incident timeline to append to (JSON lines)",
    "triage_json": "the final triage, written when watch ends",
}
EXTRA: dict[str, tuple[type, Any, str]] = {
    "runbook": (str, "", "the runbook whose Escalation section sets the thresholds "
                         "[default: the project's runbooks/qbitel-service-down.md, where present]"),
    "plain": (bool, False, "plain lines even on a terminal"),
}
# In pytest, options it already has keep their names; the others get a --watch- prefix.
PYTEST_SHARED = {"triage_json": "triage_json", "runbook": "runbook_path"}


def table() -> list[tuple[str, type, Any, str]]:
    rows = [(f.name, type(f.default), f.default, HELP[f.name]) for f in fields(WatchOptions)]
    return rows + [(name, kind, default, text) for name, (kind, default, text) in EXTRA.items()]


def _add(add: Any, flag: str, dest: str, kind: type, default: Any, text: str) -> None:
    if kind is bool:
        add(flag, dest=dest, action="store_true", default=False, help=text)
    else:
        add(flag, dest=dest, default=None, metavar=kind.__name__.upper(),
            help=f"{text} [default: {default!r}]")


def add_pytest_options(group: Any) -> None:
    group.addoption("--watch", action="store_true", default=False, dest="watch",
                    help="stay with the incident: run the checks, then again on every platform event "
                         "(servicedown watch; its options below with a --watch- prefix)")
    for name, kind, default, text in table():
        if name in PYTEST_SHARED:
            continue
        flag = "--until-healthy" if name == "until_healthy" else "--watch-" + name.replace("_", "-")
        _add(group.addoption, flag, f"watch_{name}", kind, default, text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="servicedown watch",
        description="Watch the service through the incident: the checks, then the platform's events "
                    "(Docker events, a Kubernetes watch, journalctl -f, /health), the escalation "
                    "clock of the runbook, the quick fix with --remediate, and the incident timeline.")
    for name, kind, default in cfg.option_names():
        flag = "--" + name.replace("_", "-")
        text = cfg.option_help(name, default)
        if kind is bool:
            p.add_argument(flag, dest=name, action="store_const", const=True, default=None, help=text)
        else:
            p.add_argument(flag, dest=name, default=None, help=text)
    for name, kind, default, text in table():
        _add(p.add_argument, "--" + name.replace("_", "-"), f"watch_{name}", kind, default, text)
    return p


class UsageError(ValueError):
    """A watch option that cannot work; the message says which and what to do."""


def watch_options(values: dict[str, Any]) -> WatchOptions:
    """WatchOptions from raw values (None = not given), checked."""
    out: dict[str, Any] = {}
    for f in fields(WatchOptions):
        raw = values.get(f.name)
        if raw is None or raw is False and f.type in (bool, "bool"):
            continue
        try:
            out[f.name] = cfg.coerce(f.name, type(f.default), raw)
        except cfg.SettingsError as exc:  # it names the option as given: "--settle-s soon: ..."
            raise UsageError(str(exc)) from None
    opts = WatchOptions(**out)
    for name in ("interval_s", "max_s", "settle_s", "backoff_s"):
        if getattr(opts, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be above 0 "
                             f"(got {getattr(opts, name):g})")
    if opts.interval_s < 1:
        raise UsageError("--interval-s below 1 s would run the checks back to back; use 1 or more")
    if opts.max_restarts < 0:
        raise UsageError("--max-restarts must be 0 or more")
    return opts


def default_runbook() -> Path | None:
    path = suites_root() / "runbooks" / "qbitel-service-down.md"
    return path if path.is_file() else None


def load_runbook(runbook: str) -> tuple[Escalation, list[str]]:
    """The escalation steps, and the "If Restart Doesn't Help" steps (what to follow when the
    quick fix does not help and the triage names no cause)."""
    path = Path(runbook) if runbook else default_runbook()
    if path is None:
        return Escalation((), "", "no runbook given (--runbook PATH) and none shipped here"), []
    steps = [it.title + (f": {it.commands[0]}" if it.commands else "")
             for it in read_runbook(path).items
             if it.kind == "resolution" and re.fullmatch(r"resolution-\d+", it.id)]
    return read_escalation(path), steps


def start(settings_values: dict[str, Any], watch_values: dict[str, Any], runbook: str,
          plain: bool) -> int:
    """Check everything, then watch; bad input ends in one line on stderr and exit code 2."""
    try:
        settings = cfg.from_sources(settings_values)
        opts = watch_options(watch_values)
        escalation, steps = load_runbook(runbook)
    except (cfg.SettingsError, UsageError, RunbookError) as exc:
        print(f"servicedown watch: {exc}", file=sys.stderr)
        return 2
    view = make_view(plain=True if plain else None)
    return Watcher(settings, opts, view, escalation, fallback_steps=steps).run()


def main(args: list[str]) -> int:
    ns = parser().parse_args(args)
    settings_values = {name: getattr(ns, name) for name, _k, _d in cfg.option_names()}
    watch_values = {f.name: getattr(ns, f"watch_{f.name}") for f in fields(WatchOptions)}
    return start(settings_values, watch_values, ns.watch_runbook or "", ns.watch_plain)


def from_pytest(config: Any) -> int:
    """`pytest checks/ --watch`: the same loop, with pytest's options; pytest's output capture is
    suspended so the live view reaches the terminal."""
    settings_values = {name: config.getoption(name) for name, _k, _d in cfg.option_names()}
    watch_values = {f.name: config.getoption(PYTEST_SHARED.get(f.name, f"watch_{f.name}"))
                    for f in fields(WatchOptions)}
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
    try:
        return start(settings_values, watch_values, config.getoption("runbook_path", None) or "",
                     bool(config.getoption("watch_plain")))
    finally:
        if capture is not None:
            capture.resume_global_capture()
