"""`servicedown watch` against a real Compose stack (a throwaway ChaosStack: Postgres, toxiproxy,
the engine, labelled as Compose labels them): starts healthy, a fault is injected, the verdict
changes from Docker's events, `--remediate` heals it or stops after K tries, and the timeline
holds each step in order. The live screen is read in a real terminal (tmux), and Ctrl-C
mid-incident leaves a complete timeline and a final triage."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from servicedown import polling
from servicedown.chaos.faults import PostgresStop, SigKill
from servicedown.chaos.stack import ENGINE, ChaosStack
from servicedown.schema import epoch
from tests.support import ROOT
from tests.watch.support import WatchRun, calm, down, first, in_order, kind

pytestmark = [pytest.mark.compose, pytest.mark.slow]
QUICK = ("--settle-s", "3", "--interval-s", "30", "--max-s", "240")


@pytest.fixture(scope="module")
def stack() -> Iterator[ChaosStack]:
    if shutil.which("docker") is None:
        pytest.skip("no docker client: run 'make test', which installs and starts Docker")
    with ChaosStack() as s:
        yield s


@pytest.fixture
def healthy(stack: ChaosStack) -> ChaosStack:
    """Every test starts from a healthy engine and database."""
    PostgresStop().revert(stack)
    SigKill().revert(stack)
    ok, last = stack.wait_engine_healthy(120)
    assert ok, last
    # /health answers before Docker's healthcheck has passed, and a service not yet past its
    # healthcheck is degraded: watch would start on an incident and end at once, recovered.
    engine = stack.container(ENGINE)
    status = polling.until(lambda: (engine.reload(), engine.attrs["State"].get("Health", {})
                                    .get("Status"))[1], 60, 0.5, done=lambda s: s == "healthy")
    assert status == "healthy", f"Docker's healthcheck of the engine: {status}"
    return stack


def target_args(stack: ChaosStack) -> list[str]:
    return ["--target", "compose", "--compose-project", stack.run_id, "--base-url", stack.engine_url,
            "--check-timeout-s", "6", "--http-timeout-s", "3"]


def secrets_of(stack: ChaosStack) -> list[str]:
    env = stack.baselines["default"].env
    return [env[k] for k in ("DATABASE_PASSWORD", "JWT_SECRET", "ENCRYPTION_KEY")]


def no_secret(stack: ChaosStack, run: WatchRun) -> None:
    text = run.output + run.timeline.read_text() + (run.triage.read_text() if run.triage.exists() else "")
    for value in secrets_of(stack):
        assert value not in text, "a secret value appeared in watch's output or files"


def started_healthy(run: WatchRun) -> None:
    run.wait_for(calm, 120, "healthy state with no incident open")


def test_a_stopped_engine_is_seen_and_healed_by_the_quick_fix(healthy, tmp_path):
    stack = healthy
    run = WatchRun(tmp_path, *target_args(stack), "--remediate", "--until-healthy",
                   "--max-restarts", "2", "--backoff-s", "5", *QUICK)
    try:
        started_healthy(run)
        stack.container(ENGINE).stop(timeout=2)  # the restart policy leaves a stop alone
        stopped_at = time.time()
        run.wait_for(lambda es: first(es, down) >= 0, 60, "verdict change after the stop")
        assert run.wait_exit(180) == 0, run.output[-3000:]
    finally:
        run.stop()
    es = run.entries()
    steps = in_order(es, kind("start"), kind("state", "healthy"), down,
                     kind("remediation", has="quick fix 1 of 2"), lambda e: e.kind == "restart"
                     and e.data.get("by") == "remediate", kind("state", "healthy"), kind("recovery"),
                     kind("end", has="recovered"))
    # The kill's SIGTERM already makes /health answer 503 (the engine drains); once the
    # container is gone the triage names the stop.
    named = [e.top_cause for e in es[steps[2]:steps[3]] if down(e)]
    assert "stopped" in named, named
    # Downtime counts from the platform's record of the stop, not from watch's start.
    since = epoch(es[steps[6]].data["down_since"])
    assert since is not None and abs(since - stopped_at) < 5, (since, stopped_at)
    assert es[steps[6]].data["downtime_s"] > 0
    assert run.triage_doc()["verdict"] == "healthy"
    no_secret(stack, run)


def test_a_crash_restarted_by_the_platform_is_a_restart_line_and_a_recovery(healthy, tmp_path):
    stack = healthy
    run = WatchRun(tmp_path, *target_args(stack), "--until-healthy", *QUICK)
    try:
        started_healthy(run)
        SigKill().inject(stack)
        assert run.wait_exit(180) == 0, run.output[-3000:]
    finally:
        run.stop()
    es = run.entries()
    in_order(es, kind("state", "healthy"), down, kind("recovery"), kind("end"))
    restart = first(es, lambda e: e.kind == "restart" and e.data.get("by") == "platform")
    assert restart >= 0, [e.detail for e in es]
    assert "container qbitel-engine: start" in es[restart].detail
    checks = [e for e in es if e.kind == "check"]
    assert any(e.data["check"].startswith("running.") and e.data["after"] == "fail" for e in checks) \
        or any(e.data["check"].startswith("health.") and e.data["after"] == "fail" for e in checks)
    assert not any(e.kind == "remediation" for e in es)  # read-only without --remediate
    no_secret(stack, run)


def test_the_database_stopped_restart_does_not_help_after_k_tries(healthy, tmp_path):
    stack = healthy
    fault = PostgresStop()
    run = WatchRun(tmp_path, *target_args(stack), "--remediate", "--until-healthy",
                   "--max-restarts", "1", "--backoff-s", "2", *QUICK)
    try:
        started_healthy(run)
        fault.inject(stack)
        gave_up = run.wait_for(lambda es: next((e for e in es if e.kind == "remediation"
                                                and e.data.get("gave_up")), None), 120,
                               "'restart does not help'")
        assert "restart does not help: follow Resolution steps 1-" in gave_up.detail
        assert gave_up.data["steps"] and gave_up.data["tried"] == 1
        fault.revert(stack)
        assert run.wait_exit(180) == 0, run.output[-3000:]
    finally:
        fault.revert(stack)
        run.stop()
    es = run.entries()
    in_order(es, kind("state", "healthy"), down, kind("remediation", has="quick fix 1 of 1"),
             kind("restart"), lambda e: e.kind == "remediation" and bool(e.data.get("gave_up")),
             kind("recovery"), kind("end"))
    assert sum(1 for e in es if e.kind == "remediation" and e.data.get("attempt")) == 1  # K = 1
    verdict = next(e for e in es if down(e))
    assert verdict.top_cause == "db-down", verdict
    no_secret(stack, run)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is missing: apt-get install tmux")
def test_the_live_screen_in_a_terminal_and_ctrl_c_mid_incident(healthy, tmp_path):
    stack = healthy
    session = f"sdwatch-{stack.run_id}"
    timeline, triage_json, rc = tmp_path / "t.jsonl", tmp_path / "triage.json", tmp_path / "rc"
    command = (f"cd {ROOT} && PYTHONPATH={ROOT} {sys.executable} -m servicedown.cli watch "
               + " ".join(target_args(stack)) + f" --timeline {timeline} --triage-json {triage_json}"
               f" --max-s 240; echo $? > {rc}; sleep 600")

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=20,
                              check=False).stdout

    def screen_has(*words: str) -> str:
        text = polling.until(lambda: tmux("capture-pane", "-p", "-t", session), 60, 0.5,
                             done=lambda t: all(w in t for w in words))
        assert all(w in text for w in words), f"not on screen: {words}\n{text}"
        return text

    tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "50", command)
    tmux("resize-window", "-t", session, "-x", "160", "-y", "50")  # a server already running
    try:
        first_screen = screen_has("HEALTHY", "What changed", "escalation:", "platform lead")
        assert "no incident" in first_screen
        stack.container(ENGINE).stop(timeout=2)
        screen = screen_has("DOWN", "downtime 00:0", "Top causes", "stopped")
        # The event that changed the verdict: the stop's signal (a stop in progress is down)
        # or, once the engine ended, its die or stop.
        assert any(f"container qbitel-engine: {e}" in screen for e in ("kill", "die", "stop")), screen
        tmux("send-keys", "-t", session, "C-c")
        polling.until(lambda: rc.exists() and rc.read_text().strip(), 30, 0.2)
        assert rc.read_text().strip() == "130"
    finally:
        tmux("kill-session", "-t", session)
        SigKill().revert(stack)
    from servicedown.watch.record import read_timeline

    es, bad = read_timeline(timeline)
    assert bad == 0
    in_order(es, kind("start"), kind("state", "healthy"), down, kind("end", has="interrupted"))
    assert es[-1].kind == "end" and es[-1].verdict == "down"
    assert es[-1].data["downtime_s"] > 0
    import json

    doc = json.loads(triage_json.read_text())
    assert doc["verdict"] == "down" and doc["top_cause"] == "stopped"
