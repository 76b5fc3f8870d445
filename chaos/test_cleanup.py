"""Nothing of the harness is left after a run that passed, a run that failed, and a run
interrupted mid-fault (Ctrl-C): no container, network or volume with the harness's label, and
toxiproxy held no toxic when the stack was removed.

The failing and the interrupted run are real `pytest chaos/` runs in a subprocess, each with
its own stack; the journal they stream (--chaos-journal) says what they did and when."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from servicedown import polling
from servicedown.chaos.cleanup import leftovers, remove_run

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.chaos


def _docker() -> Any:
    import docker

    return docker.from_env(timeout=30)


def _entries(journal: Path) -> list[dict[str, Any]]:
    if not journal.exists():
        return []
    out = []
    for line in journal.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line being written right now
    return out


def _wait(predicate: Callable[[], Any], timeout_s: float, what: str, proc: Any = None,
          tail: Callable[[], str] | None = None) -> Any:
    value = polling.until(predicate, timeout_s,
                          give_up=None if proc is None else lambda: proc.poll() is not None)
    if not value:
        ended = proc is not None and proc.poll() is not None
        why = f"the run ended (exit {proc.returncode}) first" if ended else f"not within {timeout_s:.0f}s"
        raise AssertionError(f"{what}: {why}" + (f"\n{tail()}" if tail else ""))
    return value


def _run_id(entries: list[dict[str, Any]]) -> str | None:
    return next((e["detail"].get("run_id") for e in entries
                 if e.get("phase") == "stack" and e["detail"].get("run_id")), None)


class ChaosRun:
    """`pytest chaos/` in a subprocess with its own stack, streaming its journal. Python's
    fault handler is on, so a run that has to be stopped first says where each thread was."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.journal, self.output = tmp_path / "journal.jsonl", tmp_path / "output.txt"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-X", "faulthandler", "-m", "pytest", "chaos/test_experiments.py",
                 "-q", "-p", "no:cacheprovider", "--chaos-journal", str(self.journal), *args],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def entries(self) -> list[dict[str, Any]]:
        return _entries(self.journal)

    def tail(self) -> str:
        return self.output.read_text(errors="replace")[-3000:]

    def wait_exit(self) -> int:
        """The run's own end. Every step of the run is bounded by itself; this bound only
        catches a hang, so it is far beyond what a slow machine needs."""
        _wait(lambda: self.proc.poll() is not None, RUN_HANG_S, "the run's own exit", tail=self.tail)
        return self.proc.returncode

    def end(self) -> None:
        """Whatever happened: the subprocess ends, and its stack does not outlive the test
        (removed by its own run id only)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGABRT)  # the fault handler prints every thread
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        run_id = _run_id(self.entries())
        if run_id:
            client = _docker()
            if not leftovers(client, run_id).empty:
                remove_run(client, run_id)


# A bound that only a hang reaches: the runs' own steps are bounded (stack start-up, each
# probe, each phase), and on a busy 2-core machine a whole run takes a few minutes at most.
RUN_HANG_S = 1200.0

RUNS = {
    # Ctrl-C while a toxic is on the link: the run holds after its first detection poll.
    "test_an_interrupted_run_leaves_nothing": ("--experiment", "db-network-latency",
                                               "-p", "chaos.hold_mid_fault"),
    # An experiment that fails: no time at all is allowed for its recovery.
    "test_a_failing_run_leaves_nothing": ("--experiment", "missing-env",
                                          "--chaos-recover-timeout", "0"),
}


@pytest.fixture(scope="module")
def chaos_runs(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ChaosRun]]:
    """Both subprocess runs start together (they take a stack each; side by side they cost
    the time of one), but only those whose test was selected."""
    selected = {item.name for item in request.session.items}
    runs = {name: ChaosRun(tmp_path_factory.mktemp(name), *args)
            for name, args in RUNS.items() if name in selected}
    try:
        yield runs
    finally:
        for run in runs.values():
            run.end()


def _assert_clean(entries: list[dict[str, Any]], run_id: str, output: Path) -> None:
    removed = [e for e in entries if e.get("phase") == "stack" and e.get("name") == "removed"]
    assert removed, f"the run never journalled its cleanup:\n{output.read_text()[-3000:]}"
    report = removed[-1]["detail"]
    assert report.get("toxics_at_close") == [], f"toxics still on the link at close: {report}"
    assert report.get("proxy_enabled_at_close") is True, report
    left = leftovers(_docker(), run_id)
    assert left.empty, f"left behind by run {run_id}: {left.to_json()}"


def test_the_sessions_stack_leaves_nothing(chaos_state: dict[str, Any],
                                           chaos_close: Callable[[], Any]) -> None:
    """After this session's experiments: the stack they shared is removed completely."""
    stack = chaos_state["stack"]
    if stack is None:
        pytest.skip("no experiment ran in this session, so there is no stack to check")
    report = chaos_close() or {}
    assert report.get("toxics_at_close") == [], f"toxics left at the end of the run: {report}"
    left = leftovers(_docker(), stack.run_id)
    assert left.empty, f"left behind: {left.to_json()}"


def test_no_secret_value_in_the_journal_or_results(chaos_state: dict[str, Any]) -> None:
    """The stack's generated secrets live only in the containers' environment."""
    stack, journal = chaos_state["stack"], chaos_state["journal"]
    if stack is None or journal is None:
        pytest.skip("no experiment ran in this session")
    values = {spec.env[name] for spec in stack.baselines.values()
              for name in ("DATABASE_PASSWORD", "JWT_SECRET", "ENCRYPTION_KEY")}
    values |= {data.decode().split("-----")[2].strip()[:64]
               for spec in stack.baselines.values() for path, data in spec.files
               if path.endswith("key.pem")}
    text = json.dumps(journal.to_json(), default=str) + json.dumps(
        [r.to_json() for r in chaos_state["results"]], default=str) + json.dumps(
        chaos_state["cleanup"], default=str)
    leaked = [v for v in values if v and v in text]
    assert not leaked, f"{len(leaked)} secret value(s) appear in the journal or results"


@pytest.mark.slow
@pytest.mark.timeout(2 * RUN_HANG_S)
def test_an_interrupted_run_leaves_nothing(chaos_runs: dict[str, ChaosRun]) -> None:
    """Ctrl-C mid-fault: the fault is reverted, then the stack removed, and the run ends.

    The interrupt is sent on a journal event (the run holds, fault on, after its first
    detection poll), and the test waits for the run's own exit: no step depends on how fast
    the machine is."""
    run = chaos_runs["test_an_interrupted_run_leaves_nothing"]
    run_id = _wait(lambda: _run_id(run.entries()), RUN_HANG_S, "the run's id", run.proc, run.tail)
    _wait(lambda: any(e.get("name") == "holding mid-fault until interrupted" for e in run.entries()),
          RUN_HANG_S, "the run holding mid-fault", run.proc, run.tail)
    injected = [e for e in run.entries() if e.get("phase") == "inject" and e.get("event") == "end"]
    assert injected and injected[-1]["status"] == "succeeded", injected
    run.proc.send_signal(signal.SIGINT)
    assert run.wait_exit() == 2, f"pytest should report an interrupted run:\n{run.tail()}"
    entries = run.entries()
    detect = [e for e in entries if e.get("phase") == "detect" and e.get("event") == "end"
              and e.get("name", "").startswith("expect top cause")]
    assert detect and detect[-1]["status"] == "interrupted", detect
    reverts = [e for e in entries if e.get("phase") == "revert" and e.get("event") == "end"]
    assert reverts and reverts[-1]["status"] == "succeeded", reverts
    assert reverts[-1]["detail"].get("toxics") == [], reverts[-1]
    _assert_clean(entries, run_id, run.output)


@pytest.mark.slow
@pytest.mark.timeout(2 * RUN_HANG_S)
def test_a_failing_run_leaves_nothing(chaos_runs: dict[str, ChaosRun]) -> None:
    """A run whose experiment fails still reverts the fault and removes its stack."""
    run = chaos_runs["test_a_failing_run_leaves_nothing"]
    assert run.wait_exit() == 1, f"expected a failed run:\n{run.tail()}"
    entries = run.entries()
    assert "not recovered" in run.output.read_text(errors="replace"), run.tail()
    reverts = [e for e in entries if e.get("phase") == "revert" and e.get("event") == "end"]
    assert reverts and reverts[-1]["status"] == "succeeded", reverts
    run_id = _run_id(entries)
    assert run_id, "the run never journalled its run id"
    _assert_clean(entries, run_id, run.output)


# --- two runs on one Docker host, from different PID namespaces ---------------------------------
UNSHARE = ["unshare", "--pid", "--mount", "--fork", "--kill-child", "--mount-proc"]


def _free_pid() -> int:
    """A PID no process of this namespace has: the other run's owner gets it in its own
    namespace, so a liveness check by PID alone, made from here, would call that owner dead."""
    taken = {int(p) for p in os.listdir("/proc") if p.isdigit()}
    top = int(Path("/proc/sys/kernel/pid_max").read_text())
    return next(p for p in range(top - 2, top // 2, -1) if p not in taken)


class HeldStack:
    """chaos/hold_stack.py in a PID namespace of its own (`unshare`), its owner at `pid`."""

    def __init__(self, tmp_path: Path, pid: int) -> None:
        self.output, self.log = tmp_path / "held.jsonl", tmp_path / "held.log"
        script = (f"echo {pid - 1} > /proc/sys/kernel/ns_last_pid; "
                  f"{sys.executable} chaos/hold_stack.py; sleep 3600")
        with self.output.open("wb") as out, self.log.open("wb") as err:
            self.proc = subprocess.Popen([*UNSHARE, "sh", "-c", script], cwd=ROOT, stdin=subprocess.PIPE,
                                         stdout=out, stderr=err, env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.info: dict[str, Any] = {}

    def wait_up(self) -> dict[str, Any]:
        # Bounded by the stack's own start-up bounds; this one only catches a hang.
        def ready() -> dict[str, Any] | None:
            lines = self.output.read_text().splitlines()
            return json.loads(lines[0]) if lines else None

        self.info = _wait(ready, 900, f"the held stack up (log: {self.log})", self.proc)
        return self.info

    def say(self, word: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(word.encode() + b"\n")
        self.proc.stdin.flush()

    def end(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # --kill-child: its namespace goes with it
            self.proc.wait(timeout=60)
        if self.info.get("run_id"):
            client = _docker()
            if not leftovers(client, self.info["run_id"]).empty:
                remove_run(client, self.info["run_id"])


needs_unshare = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"),
    reason="a run in a PID namespace of its own needs root and unshare")


@pytest.mark.slow
@needs_unshare
def test_two_runs_from_different_pid_namespaces_leave_each_other_alone(tmp_path: Path) -> None:
    """A run held by a process in another PID namespace, whose PID is free here, stays intact
    while a second run comes up (its start-up sweep) beside it; once its owner is killed hard
    while that namespace lives on, the next sweep proves it dead and removes it, and leaves
    the live run alone."""
    from servicedown.backends import http
    from servicedown.chaos import cleanup
    from servicedown.chaos.stack import ChaosStack

    held = HeldStack(tmp_path, _free_pid())
    try:
        info = held.wait_up()
        client = _docker()
        before = leftovers(client, info["run_id"])
        assert len(before.containers) == 3 and before.networks and before.volumes, before
        with ChaosStack() as stack:  # its up() sweeps the orphans it can prove dead
            assert leftovers(client, info["run_id"]) == before, "the live run's stack was touched"
            assert info["owner"] and info["owner"]["pid"] == info["pid"]
            with http.make_client(3.0, verify=False) as c:
                assert http.get(c, info["engine_url"] + "/health", 5.0).status == 200
            held.say("die")  # the owner ends without cleaning up; its namespace's PID 1 lives on
            swept: dict[str, str] = {}

            def sweep() -> bool:
                swept.update(cleanup.sweep_orphans(client).swept)
                return info["run_id"] in swept

            _wait(sweep, 60, "a sweep that proves the killed run dead")
            assert stack.run_id not in swept, swept
            assert leftovers(client, info["run_id"]).empty
            assert len(leftovers(client, stack.run_id).containers) == 3, "the live run was swept"
    finally:
        held.end()
