"""`make test`'s runner: every stage bounded, the whole run within its budget, and a table of
stage times at the end however the run ends (a stage failing, a bound reached, a signal)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from tests.support import ROOT, run

STAGES = ROOT / "scripts" / "stages.sh"


def bash(script: str, timeout: float = 60) -> subprocess.CompletedProcess:
    body = f'. "{ROOT}/scripts/lib.sh"; . "{STAGES}"\n{script}'
    return run(["bash", "-c", body], timeout=timeout, check=False, cwd=ROOT)


def table(out: str) -> dict[str, str]:
    """stage -> its row, from the table after '==> stage times'."""
    assert "==> stage times" in out, out
    rows = out.split("==> stage times", 1)[1].splitlines()[2:]
    return {re.split(r"\s{2,}", r.strip())[0]: r for r in rows if r.startswith("    ") and r.strip()}


def test_a_failing_stage_still_ends_with_the_table():
    p = bash('stages_begin 600\nstage "first" 30 true\n'
             'stage "second" 30 bash -c "exit 3" || die "second failed" "fix it"\n'
             'stage "third" 30 true\n')
    out = p.stdout + p.stderr
    assert p.returncode == 1
    rows = table(out)
    assert "ok" in rows["first"] and "FAILED (exit 3)" in rows["second"]
    assert "third" not in rows and "total" in rows
    assert out.index("second failed") < out.index("==> stage times")


def test_a_stage_past_its_bound_is_cut_and_said():
    start = time.monotonic()
    p = bash('stages_begin 600\nstage "slow" 1 sleep 60\nstages_end\n')
    assert time.monotonic() - start < 30
    assert "TIMED OUT after 1 s" in table(p.stdout + p.stderr)["slow"]


def test_a_stage_gets_no_more_than_the_budget_left():
    start = time.monotonic()
    p = bash('stages_begin 2\nstage "long" 600 sleep 60\nstage "next" 600 true\nstages_end\n')
    rows = table(p.stdout + p.stderr)
    assert time.monotonic() - start < 30
    assert "TIMED OUT after 2 s" in rows["long"] or "TIMED OUT after 1 s" in rows["long"]
    assert "TIMED OUT after 0 s" in rows["next"]  # nothing left: not started at all


def test_a_cancelled_run_passes_the_signal_on_and_ends_with_the_table(tmp_path):
    marker = tmp_path / "stage-cleaned-up"
    child = f"trap 'touch {marker}; exit 143' TERM; sleep 60 & wait"
    body = f'. "{ROOT}/scripts/lib.sh"; . "{STAGES}"\nstages_begin 600\nstage "busy" 120 bash -c "{child}"\n'
    with (tmp_path / "out").open("w+") as out:
        p = subprocess.Popen(["bash", "-c", body], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        time.sleep(1.5)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        out.seek(0)
        text = out.read()
    assert p.returncode == 143
    assert marker.exists(), "the stage never got the signal"
    assert "INTERRUPTED (SIGTERM)" in table(text)["busy"]


def test_make_tests_runner_prints_every_stage_when_pytest_fails():
    """The real runner, with pytest made to fail at once (an unknown option): every stage
    before it ran, and the table says which failed and how long each took."""
    env = {**os.environ, "TEST_BUDGET_S": "1800"}
    p = run(["bash", "scripts/run-tests.sh", "--no-such-option"], timeout=1900, check=False,
            cwd=ROOT, env=env)
    out = p.stdout + p.stderr
    assert p.returncode == 4, out[-3000:]
    rows = table(out)
    names = list(rows)
    assert names[0].startswith("bootstrap") and names[1] == "lint (ruff)", names
    assert any(n.startswith("pytest") and "FAILED (exit 4)" in rows[n] for n in names), rows
    assert names[-1] == "total" and "budget 30 min 00 s" in rows["total"]


def test_pytest_time_by_suite_folder(tmp_path):
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.unit.test_config" name="a" time="1.5"/>'
        '<testcase classname="tests.unit.test_http_deadline" name="b" time="2.0"/>'
        '<testcase classname="chaos.test_experiments" name="c" time="95"><failure message="x"/></testcase>'
        '<testcase classname="loadtests.test_load" name="d" time="61"/>'
        '</testsuite></testsuites>')
    p = run(["python3", "scripts/junit_times.py", str(xml)], cwd=ROOT)
    lines = [re.split(r"\s{2,}", line.strip()) for line in p.stdout.splitlines()]
    assert lines == [["chaos", "1 tests, 1 failed", "1 min 35 s"],
                     ["loadtests", "1 tests", "1 min 01 s"],
                     ["tests/unit", "2 tests", "4 s"]], p.stdout
