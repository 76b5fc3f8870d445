"""Out-of-range options through pytest's own option layer: a usage error (exit 4) with one
"ERROR:" line per bad value, the value as it was given, and no traceback. Nothing is
diagnosed, so no stack is needed."""

from __future__ import annotations

import os
import sys

import pytest

from servicedown import config
from tests.support import ROOT, run


def pytest_checks_usage(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = run([sys.executable, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider", *args],
               timeout=120, check=False, cwd=ROOT,
               env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    return proc.returncode, proc.stdout + proc.stderr


def error_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("ERROR:")]


@pytest.mark.parametrize(("flag", "raw"), [
    ("--memory-threshold", "90"), ("--cpu-threshold", "nan"), ("--http-timeout-s", "inf"),
    ("--latency-budget-s", "-1"), ("--db-port", "70000"), ("--log-lines", "0"),
    ("--tls-warn-days", "-3"), ("--check-timeout-s", "soon")])
def test_a_bad_value_is_a_usage_error_with_one_line(flag, raw):
    rc, out = pytest_checks_usage(flag, raw)
    rule = config.range_of(flag[2:].replace("-", "_"))
    assert rc == 4, out
    assert error_lines(out) == [f"ERROR: {flag} {raw}: {rule.what}"], out
    assert "Traceback" not in out


def test_the_example_of_the_issue():
    rc, out = pytest_checks_usage("--memory-threshold", "90")
    assert rc == 4
    assert error_lines(out) == [
        "ERROR: --memory-threshold 90: a ratio between 0 and 1 (e.g. 0.9 for 90 %)"], out


def test_an_environment_twin_is_named_as_given_and_every_bad_value_listed():
    rc, out = pytest_checks_usage("--db-port", "0", env={"SERVICEDOWN_DISK_THRESHOLD": "95"})
    assert rc == 4
    assert error_lines(out) == [
        f"ERROR: --db-port 0: {config.PORT.what}",
        f"ERROR: SERVICEDOWN_DISK_THRESHOLD=95: {config.RATIO.what}"], out


def test_the_help_names_each_range():
    proc = run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"], timeout=120,
               check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--memory-threshold=MEMORY_THRESHOLD" in out
    assert "a ratio between 0 and 1 (e.g. 0.9 for 90 %)" in out
    assert config.PORT.what in out
