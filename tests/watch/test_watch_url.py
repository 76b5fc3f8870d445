"""watch with only a URL (polling is its event source), through `pytest checks/ --watch` as well
as `servicedown watch`, and bad input ending in one line. The service is a real HTTP server on
loopback answering as the engine does, made to fail and come back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from servicedown.schema import TIMELINE_FIELDS
from servicedown.watch.record import read_timeline
from tests.support import ROOT
from tests.watch.support import FlipHealth, WatchRun, calm, down, in_order, kind

QUICK = ("--settle-s", "2", "--interval-s", "30", "--max-s", "120")


@pytest.fixture
def service() -> Iterator[FlipHealth]:
    s = FlipHealth()
    yield s
    s.close()


def wait_calm(path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and calm(read_timeline(path)[0]):
            return
        time.sleep(0.2)
    raise AssertionError(f"no calm start (exit {proc.poll()})")


def test_pytest_checks_watch_runs_the_same_loop_on_a_url(service, tmp_path):
    timeline, triage = tmp_path / "t.jsonl", tmp_path / "triage.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider", "--watch",
         "--target", "url", "--base-url", service.url, "--until-healthy", "--watch-settle-s", "2",
         "--watch-max-s", "120", "--watch-plain", "--watch-timeline", str(timeline),
         f"--triage-json={triage}"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_calm(timeline, proc)
        service.healthy = False
        time.sleep(4)
        service.healthy = True
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, out[-3000:]
    es, bad = read_timeline(timeline)
    assert bad == 0
    in_order(es, kind("start", has="events from health"), kind("state", "healthy"), down,
             kind("state", "healthy"), kind("recovery"), kind("end", has="recovered"))
    assert any(e.kind == "check" and e.data["check"] == "health.endpoint" for e in es)
    assert "state" in out and "recovery" in out  # the plain lines reached the terminal
    assert triage.exists()


def test_every_line_has_the_documented_fields_first(service, tmp_path):
    w = WatchRun(tmp_path, "--target", "url", "--base-url", service.url, *QUICK)
    try:
        w.wait_for(calm, 60, "calm start")
    finally:
        w.stop()
    import json

    for raw in w.timeline.read_text().splitlines():
        assert tuple(json.loads(raw))[:5] == TIMELINE_FIELDS
    assert w.proc.returncode == 130
    assert w.entries()[-1].kind == "end" and "interrupted" in w.entries()[-1].detail


@pytest.mark.parametrize(("args", "message"), [
    (["--interval-s", "0"], "--interval-s must be above 0"),
    (["--max-s", "soon"], "--max-s soon: a valid float"),
    (["--target", "nomad"], "unknown target 'nomad'"),
    (["--runbook", "/nonexistent/RUNBOOK.md"], "/nonexistent/RUNBOOK.md: no such file"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "servicedown.cli", "watch", "--timeline",
                           str(tmp_path / "t.jsonl"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "t.jsonl").exists()
