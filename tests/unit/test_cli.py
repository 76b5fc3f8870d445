"""The `servicedown` command, the sidecar, and `pytest --runbook PATH` from any folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from servicedown import cli, suites
from servicedown.runbook import matcher, sidecar
from servicedown.runbook.pytest_plugin import joined_args
from servicedown.runbook.reader import parse_runbook

ROOT = Path(__file__).resolve().parents[2]
STYLES = ROOT / "tests" / "data" / "runbooks" / "styles"


def run(argv: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


# --- one home for the suites' settings ---
def test_the_clis_pytest_settings_are_pyprojects():
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    args = list(suites.PYTEST_ARGS)
    assert args[:args.index("-o")] == ini["addopts"].split()
    assert f"timeout={ini['timeout']}" in args
    assert [f"-W{w}" for w in ini["filterwarnings"]] == [f"-W{args[i + 1]}" for i, a in enumerate(args)
                                                          if a == "-W"]


def test_the_suites_are_found_in_a_clone():
    assert suites.in_clone() and suites.suite_dir("checks") == ROOT / "checks"
    with pytest.raises(KeyError, match="suites: checks, chaos"):
        suites.suite_dir("nope")


# --- the console script ---
def test_unknown_command_is_one_line(capsys):
    assert cli.main(["nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown command 'nope'" in err and "checks, chaos" in err


def test_no_command_prints_usage(capsys):
    assert cli.main([]) == 2
    assert "commands:" in capsys.readouterr().out
    assert cli.main(["--help"]) == 0


def test_coverage_of_a_missing_runbook_is_one_line(tmp_path, capsys):
    assert cli.main(["coverage", str(tmp_path / "RUNBOOK.md")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / 'RUNBOOK.md'}: no such file\n"


def test_coverage_strict_names_the_uncovered_items(tmp_path, capsys):
    shutil.copy(STYLES / "reordered-cache.md", tmp_path / "RUNBOOK.md")
    assert cli.main(["coverage", str(tmp_path / "RUNBOOK.md"), "--strict"]) == 1
    out, err = capsys.readouterr()
    assert "uncovered runbook item(s): cause-3, cause-3.1, cause-3.2" in err
    assert "cause-1.1" in out and "db-down" in out


def test_checks_run_the_suite_from_an_unrelated_folder(tmp_path):
    # Nothing listens on the base URL: the checks fail fast, which proves they ran.
    proc = run([sys.executable, "-m", "servicedown.cli", "checks", "--target", "url",
                "--base-url", "http://127.0.0.1:9", "--http-timeout-s", "1"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr
    assert "checks/test_3_health.py" in proc.stdout and "runbook triage" in proc.stdout
    assert not (tmp_path / ".pytest_cache").exists()


# --- pytest --runbook PATH, with a space, from the project and from elsewhere ---
def test_two_word_options_are_joined():
    existing = str(STYLES / "ambiguous.md")
    assert joined_args(["--runbook", existing, "-q"]) == [f"--runbook={existing}", "-q"]
    assert joined_args(["--runbook=" + existing]) is None
    assert joined_args(["--runbook", "/no/such/file.md"]) is None  # pytest ignores it for rootdir


@pytest.mark.parametrize("where", ["project", "elsewhere"])
def test_pytest_runbook_with_a_space(tmp_path, where):
    if not (ROOT / "servicedown.egg-info" / "entry_points.txt").exists():
        pytest.skip("no servicedown.egg-info: scripts/bootstrap.sh venv writes it")
    team = tmp_path / "team"
    team.mkdir()
    shutil.copy(STYLES / "reordered-cache.md", team / "RUNBOOK.md")
    cwd = ROOT if where == "project" else team
    args = ["tests/unit/test_config.py"] if where == "project" else []
    proc = run([sys.executable, "-m", "pytest", *args, "--runbook", str(team / "RUNBOOK.md"),
                "--runbook-strict"], cwd=cwd)
    out = proc.stdout + proc.stderr
    assert "unrecognized arguments" not in out
    assert "--runbook-strict: uncovered runbook item(s): cause-3, cause-3.1, cause-3.2" in out
    assert proc.returncode == 1
    if where == "project":  # the project's settings were read: its rootdir, not the runbook's
        assert f"rootdir: {ROOT}" in out and "passed" in out
    assert not (team / ".pytest_cache").exists() or where == "elsewhere"


# --- the sidecar ---
RUNBOOK = "# R\n\n## Common Causes\n\n1. **Cache Outage**\n2. **Backend trouble**\n"


def test_sidecar_pins_by_title_or_id(tmp_path):
    rb = parse_runbook(RUNBOOK, str(tmp_path / "R.md"))
    (tmp_path / "R.md.servicedown.yml").write_text(
        '"cache outage": uncovered\ncause-2: [db-down, db-network]\n"No such item": oom\n')
    pins, notes = sidecar.load(rb)
    assert pins["cause-1"].status == matcher.PINNED and pins["cause-1"].meanings == ()
    assert pins["cause-2"].meanings == ("db-down", "db-network") and pins["cause-2"].confidence == 1.0
    assert any("'No such item' matches no item" in n for n in notes)


@pytest.mark.parametrize(("text", "message"), [
    ('"x": [oops', r"not valid YAML \(line 1\)"),
    ("- a\n- b\n", "expected `\"item title\": meaning` lines"),
    ('"x": no-such-meaning\n', "unknown meaning 'no-such-meaning'; known: crash"),
    ('"x": [uncovered, oom]\n', "stand alone"),
    ('"x": 3\n', "must name a meaning"),
])
def test_sidecar_errors_are_one_sentence(tmp_path, text, message):
    path = tmp_path / "R.md.servicedown.yml"
    path.write_text(text)
    with pytest.raises(sidecar.SidecarError, match=message) as exc:
        sidecar.read(path)
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


def test_a_bad_sidecar_is_a_usage_error_of_the_command(tmp_path, capsys):
    (tmp_path / "R.md").write_text(RUNBOOK)
    (tmp_path / "R.md.servicedown.yml").write_text('"x": nonsense\n')
    assert cli.main(["coverage", str(tmp_path / "R.md")]) == 2
    assert "unknown meaning 'nonsense'" in capsys.readouterr().err


def test_serve_is_a_command_and_its_config_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "serve.yml"
    bad.write_text("listen: 0.0.0.0:9095\n")
    assert cli.main(["serve", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["servicedown serve: listen 0.0.0.0:9095 is beyond loopback: serve TLS (tls: cert_file, "
                   "key_file) or listen on 127.0.0.1"]
    assert "serve" in cli.usage()


def test_an_options_value_is_never_a_test_path(tmp_path, monkeypatch):
    # `--target compose` run from a clone, where compose/ is a folder: the suite still runs.
    (tmp_path / "compose").mkdir()
    (tmp_path / "test_here.py").write_text("")
    monkeypatch.chdir(tmp_path)
    args = ["--target", "compose", "-q", "--base-url", "http://127.0.0.1:1", "-k", "compose",
            "test_here.py::test_a"]
    assert cli._test_paths(args) == ["test_here.py::test_a"]
    assert cli._test_paths(["--target", "compose", "--compose-project", "compose"]) == []
    # a suite's own option, unknown to the parser: its value is no path either
    assert cli._test_paths(["--experiment", "db-*", "--chaos-json", "reports/chaos.json"]) == []
