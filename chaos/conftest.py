"""The chaos layer's pytest wiring: options, one throwaway stack per session, the runner, the
results JSON, and a progress line per experiment phase (shown without `-s`).

Options (their names stay clear of the root plugin's --target, --base-url, ...):
  --chaos-json PATH            results per experiment, the journal and the cleanup report
  --experiment ID              run only these experiments (repeatable; shell patterns work)
  --chaos-journal PATH         stream the journal as JSON lines while the run goes on
  --chaos-detect-timeout S     bound on detection after the injection (default 12)
  --chaos-recover-timeout S    bound on recovery after the remediation (default 60)
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from servicedown.chaos.experiments import Experiment, select
from servicedown.chaos.journal import Journal
from servicedown.chaos.results import ExperimentResult
from servicedown.chaos.runner import Bounds, Runner

_STATE = pytest.StashKey[dict[str, Any]]()
CLEANUP_TESTS = "test_cleanup.py"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos", "chaos experiments against a throwaway stack")
    group.addoption("--chaos-json", default=None, metavar="PATH",
                    help="write each experiment's results, the journal and the cleanup report")
    group.addoption("--experiment", action="append", default=[], metavar="ID",
                    help="run only this experiment (repeatable; shell patterns like 'db-*')")
    group.addoption("--chaos-journal", default=None, metavar="PATH",
                    help="stream the chaos journal to this file as JSON lines")
    group.addoption("--chaos-detect-timeout", type=float, default=Bounds.detect_s, metavar="S",
                    help="seconds allowed for detection after the injection")
    group.addoption("--chaos-recover-timeout", type=float, default=Bounds.recover_s,
                    metavar="S", help="seconds allowed for recovery after the remediation")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STATE] = {"results": [], "started": time.time(), "stack": None,
                            "journal": None, "cleanup": None}


def _in_chaos(item: pytest.Item, name: str | None = None) -> bool:
    path = Path(str(item.fspath))
    return path.parent == Path(__file__).parent and (name is None or path.name == name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = {e.id for e in select(config.getoption("experiment"))}
    keep, dropped = [], []
    for item in items:
        exp = getattr(getattr(item, "callspec", None), "params", {}).get("experiment")
        if _in_chaos(item) and isinstance(exp, Experiment) and exp.id not in wanted:
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    # The cleanup tests look at what the experiments left: they run after them.
    cleanup = [i for i in keep if _in_chaos(i, CLEANUP_TESTS)]
    rest = [i for i in keep if not _in_chaos(i, CLEANUP_TESTS)]
    chaos_at = [n for n, i in enumerate(rest) if _in_chaos(i)]
    at = chaos_at[-1] + 1 if chaos_at else len(rest)
    items[:] = rest[:at] + cleanup + rest[at:]


def _echo(config: pytest.Config) -> Callable[[str], None]:
    """Progress lines through the terminal reporter, past pytest's output capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")

    def echo(line: str) -> None:
        if reporter is None:
            return
        guard = capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()
        with guard:
            reporter.write_line(f"chaos {time.strftime('%H:%M:%S')} {line}")

    return echo


@pytest.fixture(scope="session")
def chaos_journal(pytestconfig: pytest.Config) -> Journal:
    state = pytestconfig.stash[_STATE]
    if state["journal"] is None:
        sink = pytestconfig.getoption("chaos_journal")
        state["journal"] = Journal(Path(sink) if sink else None, echo=_echo(pytestconfig))
    return state["journal"]


@pytest.fixture(scope="session")
def chaos_stack(pytestconfig: pytest.Config, chaos_journal: Journal) -> Iterator[Any]:
    """One throwaway stack for the whole session; removed however the session ends."""
    from servicedown.chaos.stack import ChaosStack

    state = pytestconfig.stash[_STATE]
    stack = ChaosStack(progress=_echo(pytestconfig))
    state["stack"] = stack
    chaos_journal.redactor = stack.redactor()  # knows the stack's secrets from here on
    # Written before anything exists, so whoever follows the journal knows what to look for.
    chaos_journal.note("", "stack", "creating", run_id=stack.run_id)
    try:
        with chaos_journal.activity("", "stack", "up") as act:
            act.detail["run_id"] = stack.run_id
            stack.up()
            act.detail.update(engine=stack.engine_url, images={
                "engine": stack.config.engine_image, "postgres": stack.config.postgres_image,
                "toxiproxy": stack.config.toxiproxy_image})
        yield stack
    finally:
        close_stack(pytestconfig)


def close_stack(config: pytest.Config) -> dict[str, Any] | None:
    """Remove the session's stack (idempotent) and journal what was found and left."""
    state = config.stash[_STATE]
    stack = state["stack"]
    if stack is None:
        return None
    already = stack.cleanup_report is not None
    report = stack.close()
    if not already and state["journal"] is not None:
        state["journal"].note("", "stack", "removed", status="succeeded"
                              if not any(report.get("leftovers", {}).values()) else "failed",
                              **report)
    state["cleanup"] = report
    return report


@pytest.fixture(scope="session")
def chaos_runner(pytestconfig: pytest.Config, chaos_stack: Any, chaos_journal: Journal) -> Runner:
    bounds = Bounds(detect_s=pytestconfig.getoption("chaos_detect_timeout"),
                    recover_s=pytestconfig.getoption("chaos_recover_timeout"))
    return Runner(chaos_stack, chaos_journal, bounds)


@pytest.fixture
def run_experiment(pytestconfig: pytest.Config,
                   chaos_runner: Runner) -> Callable[[Experiment], ExperimentResult]:
    def run(exp: Experiment) -> ExperimentResult:
        result = chaos_runner.run(exp)
        pytestconfig.stash[_STATE]["results"].append(result)
        return result

    return run


@pytest.fixture
def chaos_state(pytestconfig: pytest.Config) -> dict[str, Any]:
    return pytestconfig.stash[_STATE]


@pytest.fixture
def chaos_close(pytestconfig: pytest.Config) -> Callable[[], dict[str, Any] | None]:
    """Remove the session's stack now (the cleanup test's subject); returns the report."""
    return lambda: close_stack(pytestconfig)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the fixtures' teardown (trylast): the cleanup report is known by now."""
    config = session.config
    close_stack(config)
    state = config.stash[_STATE]
    path = config.getoption("chaos_json")
    if not path or (not state["results"] and state["stack"] is None):
        return
    journal: Journal | None = state["journal"]
    doc = {
        "run_id": state["stack"].run_id if state["stack"] else None,
        "started": state["started"],
        "suite_s": round(time.time() - state["started"], 1),
        "exit_status": int(exitstatus),
        "experiments": [r.to_json() for r in state["results"]],
        "cleanup": state["cleanup"],
        "journal": journal.to_json() if journal else [],
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, default=str))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"chaos results written to {out}")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    results: list[ExperimentResult] = config.stash[_STATE]["results"]
    if not results:
        return
    terminalreporter.section("chaos experiments")
    head = (f"{'experiment':24} {'expected':18} {'detected':18} {'MTTD s':>7} {'MTTR s':>7} "
            f"{'writes':>7} {'lost':>5}  verdict")
    terminalreporter.write_line(head)
    for r in results:
        terminalreporter.write_line(
            f"{r.id:24} {str(r.expected_cause):18} {str(r.detected_cause):18} {_num(r.mttd_s):>7} "
            f"{_num(r.mttr_s):>7} {r.writes_acknowledged:>7} {r.writes_lost:>5}  {r.verdict}")


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"
