"""The pytest layer: options, the once-per-session diagnosis, the triage summary and JSON."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from servicedown import config as cfg
from servicedown.diagnosis.runner import run_checks
from servicedown.model import CheckResult, Outcome
from servicedown.suites import MARKERS
from servicedown.targets import make_target
from servicedown.triage import summary_text, triage
from servicedown.watch.options import add_pytest_options, from_pytest

log = logging.getLogger("servicedown")
_SETTINGS = pytest.StashKey[cfg.Settings]()
_RUN = pytest.StashKey[dict[str, Any]]()



def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    # Locust's pytest plugin also declares --host; the suites never use it (pyproject's addopts
    # say -p no:locust, which a run outside the project does not read). Loaded after this one,
    # it is blocked here; loaded before, pytest_addoption shares its --host.
    if not pluginmanager.has_plugin("locust"):
        pluginmanager.set_blocked("locust")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("servicedown", "QBITEL Engine 'Service Down' runbook checks")
    # Registered before this plugin, locust's plugin owns --host (same dest): read its value.
    taken = {"--host"} if pluginmanager.has_plugin("locust") else set()
    for name, kind, default in cfg.option_names():
        flag = "--" + name.replace("_", "-")
        if flag in taken:
            continue
        text = cfg.option_help(name, default)
        try:
            if kind is bool:
                group.addoption(flag, action="store_const", const=True, default=None, dest=name,
                                help=text)
            else:
                group.addoption(flag, default=None, dest=name, help=text)
        except ValueError:  # another plugin declared the same option (same dest): read theirs
            continue
    group.addoption("--triage-json", default=None, dest="triage_json",
                    help="write verdict, ranked causes and every check result to this JSON file")
    add_pytest_options(parser.getgroup("watch", "servicedown watch: stay with the incident"))


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """`pytest checks/ --watch` runs watch's loop instead of one pass of the tests."""
    if not config.getoption("watch", False):
        return None
    return from_pytest(config)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    cli = {name: config.getoption(name) for name, _k, _d in cfg.option_names()}
    try:
        config.stash[_SETTINGS] = cfg.from_sources(cli)
    except cfg.SettingsError as exc:
        # One argument per bad value: pytest prints each as its own "ERROR: ..." line.
        raise pytest.UsageError(*exc.problems) from None


def settings_of(config: pytest.Config) -> cfg.Settings:
    return config.stash[_SETTINGS]


def run_diagnosis(config: pytest.Config) -> dict[str, Any]:
    """Diagnose once per session; every check test reads the shared results."""
    if _RUN in config.stash:
        return config.stash[_RUN]
    settings = settings_of(config)
    target = make_target(settings)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    results = run_checks(settings, target)
    run = {"settings": settings, "target": target, "results": {r.id: r for r in results},
           "time": started,
           "triage": triage(results)}
    config.stash[_RUN] = run
    return run


@pytest.fixture(scope="session")
def diagnosis(pytestconfig: pytest.Config) -> dict[str, Any]:
    return run_diagnosis(pytestconfig)


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> cfg.Settings:
    return settings_of(pytestconfig)


@pytest.fixture
def expect(diagnosis: dict[str, Any], request: pytest.FixtureRequest):
    """expect("running.state"): assert that check passed; its message says why not."""

    def _expect(check_id: str) -> CheckResult:
        __tracebackhide__ = True
        result: CheckResult = diagnosis["results"][check_id]
        request.node.user_properties.append(("check", json.dumps(result.to_json(), default=str)))
        if result.outcome is Outcome.SKIP:
            pytest.skip(f"[{check_id}] {result.message}")
        if result.outcome is Outcome.ERROR:
            pytest.fail(f"[{check_id}] the check could not run: {result.message}", pytrace=False)
        if not result.passed:
            # One clear message (already masked), not an introspection of the result object.
            pytest.fail(f"[{check_id}] {result.message}", pytrace=False)
        return result

    return _expect


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = config.stash.get(_RUN, None)
    if not run:
        return
    tri = run["triage"]
    terminalreporter.section("runbook triage")
    terminalreporter.write_line(f"target: {run['target'].describe()}")
    for line in summary_text(tri).splitlines():
        terminalreporter.write_line(line)
    if run.get("remediation"):
        terminalreporter.write_line(f"Remediation: {run['remediation'].message}")
    path = config.getoption("triage_json")
    if path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = tri.to_json() | {"target": run["target"].describe(), "time": run["time"]}
        out.write_text(json.dumps(doc, indent=2, default=str))
        terminalreporter.write_line(f"triage written to {out}")


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_RUN, None)
    if run:
        run["target"].close()
