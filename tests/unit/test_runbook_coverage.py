"""Runbook coverage: the matrix against the project's checks, causes and chaos experiments, the
command line and `pytest --runbook`."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from servicedown.diagnosis.catalog import all_checks
from servicedown.runbook import commands as cmds
from servicedown.runbook import coverage, matcher, render
from servicedown.runbook.reader import parse_runbook, read_runbook
from servicedown.runbook.sources import (
    ChaosResult,
    Experiment,
    SourceError,
    experiments_from,
    load_results,
    project_experiments,
    scan_tests,
)

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "data" / "runbooks" / "seed-service-down.md"
PROJECT = ROOT / "runbooks" / "qbitel-service-down.md"
EXTRA_CAUSE = ("5. **Cache Failure**\n   - Redis unreachable\n   - Eviction storm\n\n"
               "## Resolution Steps")


def matrix(path: Path = SEED, **kw):
    tests, _ = coverage.project_tests()
    kw.setdefault("tests", tests)
    kw.setdefault("experiments", [])
    return coverage.build(read_runbook(path), **kw)


def extra_cause_file(tmp_path: Path) -> Path:
    path = tmp_path / "extra-cause.md"
    path.write_text(SEED.read_text().replace("## Resolution Steps", EXTRA_CAUSE, 1))
    return path


def commands_of(m, item_id: str) -> dict[str, list[str]]:
    return {c.command: c.checks for c in m.row(item_id).commands}


# --- both runbooks are fully covered ---
@pytest.mark.parametrize("path", [SEED, PROJECT], ids=["seed", "project"])
def test_every_required_item_is_covered_by_checks_and_causes_alone(path):
    # Without tests' markers and without chaos experiments: the registry and the causes table.
    m = coverage.build(read_runbook(path), tests=[], experiments=[])
    assert m.uncovered == []
    assert m.uncovered_commands == []
    # Every item is matched by what it says, above the confidence threshold.
    assert all(r.mapping.confidence >= matcher.THRESHOLD for r in m.rows if r.required)


@pytest.mark.parametrize("path", [SEED, PROJECT], ids=["seed", "project"])
def test_informational_items_are_listed_not_required(path):
    m = matrix(path)
    info = [r for r in m.rows if not r.item.required]
    assert [r.item.id for r in info] == ["escalation", "prevention", "post-incident"]
    assert "informational items (escalation, prevention, post-incident, pinned; not required): 3" \
        in render.matrix_text(m)


def test_seed_diagnosis_commands_map_to_the_checks_that_replace_them():
    m = matrix()
    running = [c for c in all_checks() if c.startswith("running.")]
    assert commands_of(m, "diagnosis-1") == {
        "docker-compose ps qbitel-engine": running,
        "kubectl get pods -l app=qbitel-engine -n qbitel": running,
        "systemctl status qbitel": running,
    }
    logs = [c for c in all_checks() if c.startswith("logs.")]
    assert list(commands_of(m, "diagnosis-2").values()) == [logs, logs, logs]
    assert commands_of(m, "diagnosis-3") == {"curl -v http://localhost:8000/health": ["health.endpoint"]}


def test_seed_resolution_commands_map_to_checks():
    m = matrix()
    assert commands_of(m, "resolution-1") == {
        'docker-compose logs qbitel-engine | grep "VALIDATION"': ["startup.validation"]}
    assert commands_of(m, "resolution-2")["echo $JWT_SECRET"] == ["startup.env", "startup.secrets"]
    assert commands_of(m, "resolution-3") == {
        "docker-compose exec postgres pg_isready -U qbitel_user -d qbitel": ["database.ready"]}
    assert commands_of(m, "resolution-4") == {"df -h": ["resources.disk"]}
    assert commands_of(m, "resolution-5") == {"free -h": ["resources.memory"]}


def test_the_project_runbooks_first_step_runs_every_check():
    m = matrix(PROJECT)
    row = m.row("diagnosis-0")
    assert row.covered and row.mapping.meanings == ("step:run-checks",)
    assert row.checks == list(all_checks())


def test_checks_declared_and_sources_shown():
    m = matrix()
    assert m.row("cause-3.1").checks == ["database.ready", "monitoring.pg_up"]
    assert "db-down" in m.row("cause-3.1").causes
    assert "checks/test_5_database.py::test_database_ready" in m.row("cause-3.1").tests
    assert m.row("cause-2").mapping.meanings == ("category:resource-exhaustion",)
    assert {"resources.cpu", "resources.disk", "resources.fds"} <= set(m.row("cause-2").checks)
    assert m.row("related-alert:HighCPUUsage").checks == ["resources.cpu", "monitoring.alerts",
                                                          "monitoring.cpu"]
    assert m.row("resolution-restart").tests == ["checks/test_7_remediation.py::test_quick_fix_restart"]


def test_the_project_checks_declare_every_command_they_replace():
    assert matrix().gaps == []


def test_checks_standing_for_a_command_they_do_not_declare_are_gaps():
    specs = dict(all_checks())
    disk = specs["resources.disk"]
    specs["resources.disk"] = dataclasses.replace(disk, runbook="disk-full")  # step:disk-space dropped
    m = matrix(checks=specs)
    assert ("resources.disk", "resolution-4") in {(g.check, g.item) for g in m.gaps}
    assert "resources.disk*" in render.matrix_text(m)


def test_every_check_command_names_a_known_question():
    # A check's `command` the intent table cannot read would silently match nothing.
    for spec in all_checks().values():
        if spec.command:
            assert cmds.intents_in(spec.command), spec.id


@pytest.mark.parametrize(("command", "intent"), [
    ("docker compose ps qbitel-engine", "service-status"),
    ("cd compose && docker-compose ps qbitel-engine", "service-status"),
    ("Get-Service qbitel", "service-status"),
    ("sudo systemctl status qbitel", "service-status"),
    ("kubectl logs -l app=qbitel-engine -n qbitel --tail=100", "service-logs"),
    ("Get-WinEvent -LogName Application -MaxEvents 100", "service-logs"),
    ('docker-compose logs qbitel-engine | grep "VALIDATION"', "startup-validation"),
    ("Invoke-WebRequest -Uri http://localhost:8000/health -UseBasicParsing", "http /health"),
    ("wget -qO- http://vm1:8000/health/dependencies", "http /health/dependencies"),
    ("echo $JWT_SECRET", "env-check"),
    ("$env:JWT_SECRET.Length", "env-check"),
    ("kubectl exec deploy/qbitel-engine -- pg_isready -h db", "db-ready"),
    ("docker-compose exec qbitel-engine df -h /var/lib/qbitel", "disk"),
    ("Get-PSDrive C", "disk"),
    ("free -m", "memory"),
    ("pytest checks/ --target url", "run-checks"),
    ("redis-cli ping", None),
    ("systemctl restart qbitel", "restart"),
    ("echo " + "docker " * 5000 + "ps", None),  # past MAX_COMMAND: data, read no further
    ("kubectl rollout restart deployment/qbitel-engine -n qbitel", "restart"),
    ("kubectl rollout undo deployment/qbitel-engine -n qbitel", None),
])
def test_intents(command, intent):
    assert cmds.intent(command) == intent


# --- other runbooks in the same conventions ---
def test_an_extra_cause_is_uncovered(tmp_path):
    m = matrix(extra_cause_file(tmp_path))
    assert m.uncovered == ["cause-5", "cause-5.1", "cause-5.2"]
    text = render.matrix_text(m)
    assert "cause-5" in text and "UNCOVERED" in text
    assert "uncovered: cause-5, cause-5.1, cause-5.2" in text


def test_unknown_related_alert_and_unknown_diagnosis_command_are_uncovered():
    text = SEED.read_text().replace("- `DatabaseConnectionFailures`",
                                    "- `DatabaseConnectionFailures`\n- `CacheMissRate`")
    text = text.replace("curl -v http://localhost:8000/health",
                        "curl -v http://localhost:8000/health\nredis-cli ping")
    m = coverage.build(parse_runbook(text, "v.md"), tests=[], experiments=[])
    assert m.uncovered == ["related-alert:CacheMissRate"]
    assert m.uncovered_commands == [("diagnosis-3", "redis-cli ping")]
    assert "redis-cli ping  ->  no check" in render.matrix_text(m)


def test_powershell_commands_match_the_same_checks():
    text = SEED.read_text().replace(
        "```bash\n# Check Docker container status\ndocker-compose ps qbitel-engine",
        "```powershell\n# Windows service\nGet-Service qbitel\ndocker-compose ps qbitel-engine")
    m = coverage.build(parse_runbook(text, "ps.md"), tests=[], experiments=[])
    assert commands_of(m, "diagnosis-1")["Get-Service qbitel"][0] == "running.exists"
    assert m.uncovered == []


def test_missing_diagnosis_section_still_builds():
    text = SEED.read_text()
    start, end = text.index("## Diagnosis"), text.index("## Common Causes")
    m = coverage.build(parse_runbook(text[:start] + text[end:], "nodiag.md"), tests=[], experiments=[])
    assert m.uncovered == []
    assert "note: no Diagnosis section" in render.matrix_text(m)
    assert any("does not name: " in n and "step:service-running" in n for n in m.notes)


def test_a_cause_is_matched_by_what_it_says_not_by_its_number():
    # The runbook: Database first, Startup second, then a cause nobody covers.
    text = SEED.read_text()
    start, end = text.index("1. **Application Crash**"), text.index("## Resolution Steps")
    causes = ("1. **Database Connection Issues**\n   - Database is down\n\n"
              "2. **Startup Failure**\n   - TLS certificate issues\n\n"
              "3. **Cache Outage**\n   - Redis unreachable\n\n")
    m = coverage.build(parse_runbook(text[:start] + causes + text[end:], "swap.md"), tests=[],
                       experiments=[])
    assert m.row("cause-1.1").checks == ["database.ready", "monitoring.pg_up"]
    assert "startup.tls" in m.row("cause-2.1").checks
    assert m.uncovered == ["cause-3", "cause-3.1"]
    assert m.undecided == ["cause-3", "cause-3.1"]
    assert "meaning not decided (pin it in swap.md.servicedown.yml" in render.matrix_text(m)


# --- chaos experiments and results ---
def test_experiments_cover_their_causes_items_and_the_quick_fix():
    exps = [Experiment("kill-db", "db-down"), Experiment("hog", "cpu", ("step:restart",))]
    m = matrix(experiments=exps)
    assert m.row("cause-3.1").experiments == ["kill-db"]
    assert m.row("cause-2.1").experiments == ["hog"]
    assert m.row("resolution-restart").experiments == ["hog"]


def test_last_chaos_results_give_mttd_and_mttr(tmp_path):
    doc = {"experiments": [
        {"id": "kill-db", "expected_cause": "db-down", "mttd_s": 5.0, "mttr_s": 20.0, "verdict": "fail"},
        {"id": "kill-db", "expected_cause": "db-down", "mttd_s": 3.5, "mttr_s": 11.25, "verdict": "pass"},
        {"id": "odd", "expected_cause": "no-such-cause", "mttd_s": 1, "mttr_s": 1, "verdict": "pass"},
    ]}
    path = tmp_path / "chaos.json"
    path.write_text(json.dumps(doc))
    results, notes = load_results(path)
    assert notes == [] and len(results) == 3
    m = matrix(results=results)
    row = m.row("cause-3.1")
    assert (row.experiments, row.mttd_s, row.mttr_s) == (["kill-db"], 3.5, 11.25)
    assert "3.5s" in render.matrix_text(m) and "kill-db (pass)" in render.matrix_text(m)
    assert any("no-such-cause" in n for n in m.notes)
    item = next(i for i in render.matrix_json(m)["items"] if i["id"] == "cause-3.1")
    assert item["experiments"] == [{"id": "kill-db", "mttd_s": 3.5, "mttr_s": 11.25, "verdict": "pass"}]
    # The plain list shape reads the same.
    path.write_text(json.dumps(doc["experiments"]))
    assert load_results(path)[0] == results


def test_chaos_results_missing_or_malformed(tmp_path):
    results, notes = load_results(tmp_path / "chaos.json")
    assert results == [] and "no chaos results" in notes[0]
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(SourceError, match="not valid JSON"):
        load_results(bad)
    bad.write_text('{"experiments": 3}')
    with pytest.raises(SourceError, match="expected a list"):
        load_results(bad)


def test_experiments_read_from_rows_of_any_shape():
    rows = ({"id": "a", "expected_cause": "oom"},
            types.SimpleNamespace(id="b", cause="cpu", remediation="platform-restart"),
            {"title": "no id"})
    assert experiments_from(rows) == [Experiment("a", "oom"), Experiment("b", "cpu", ("step:restart",))]


def test_the_projects_experiments_cover_the_causes_they_inject():
    exps = project_experiments()
    assert exps
    m = matrix(experiments=exps)
    assert m.uncovered == []
    assert all(r.experiments for r in m.rows if r.item.kind == "cause" and r.item.parent)


def test_results_of_an_experiment_the_data_does_not_know_still_count():
    r = ChaosResult("ad-hoc", "disk-full", 2.0, 9.0, "pass")
    m = matrix(results=[r])
    assert m.row("cause-2.3").experiments == ["ad-hoc"]
    assert m.row("cause-2.3").mttr_s == 9.0


# --- JSON ---
def test_json_shape():
    doc = json.loads(json.dumps(render.matrix_json(matrix())))
    assert doc["runbook"] == str(SEED) and doc["uncovered"] == []
    item = next(i for i in doc["items"] if i["id"] == "diagnosis-3")
    assert {"id", "kind", "title", "commands", "checks", "experiments", "mttd_s", "mttr_s",
            "covered", "required"} <= set(item)
    assert item["commands"][0] == {"command": "curl -v http://localhost:8000/health",
                                   "intent": "http /health", "checks": ["health.endpoint"]}
    info = next(i for i in doc["items"] if i["id"] == "prevention")
    assert info["required"] is False
    assert item["meanings"] == ["step:health-endpoint"] and item["match"]["status"] == "matched"
    assert item["match"]["confidence"] >= matcher.THRESHOLD and item["match"]["reasons"]


def test_markers_are_read_from_the_test_sources(tmp_path):
    f = tmp_path / "test_x.py"
    f.write_text("import pytest\npytestmark = pytest.mark.runbook('step:service-running')\n\n"
                 "@pytest.mark.runbook('oom,crash')\ndef test_a(expect):\n"
                 "    expect('logs.oom')\n\n"
                 "class TestB:\n    def test_b(self, expect):\n        expect('running.state')\n")
    refs, notes = scan_tests([tmp_path], tmp_path)
    assert notes == []
    assert [(r.nodeid, r.items, r.checks) for r in refs] == [
        ("test_x.py::test_a", ("step:service-running", "oom", "crash"), ("logs.oom",)),
        ("test_x.py::TestB::test_b", ("step:service-running",), ("running.state",)),
    ]


# --- the command line ---
def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "servicedown.runbook", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd, env=env)


def test_cli_prints_the_matrix_and_writes_json(tmp_path):
    out = tmp_path / "coverage.json"
    proc = cli("coverage", str(SEED), "--chaos-json", str(tmp_path / "absent.json"), "--json", str(out),
               "--strict")
    assert proc.returncode == 0, proc.stderr
    assert "required items: 29, covered: 29, uncovered: none" in proc.stdout
    assert "no chaos results" in proc.stdout
    assert json.loads(out.read_text())["summary"] == {"required": 29, "covered": 29, "informational": 3}


def test_cli_strict_fails_on_an_uncovered_item(tmp_path):
    proc = cli("coverage", str(extra_cause_file(tmp_path)), "--strict")
    assert proc.returncode == 1
    assert "cause-5" in proc.stderr and "Traceback" not in proc.stderr
    assert cli("coverage", str(extra_cause_file(tmp_path))).returncode == 0


@pytest.mark.parametrize("content", [b"", bytes(range(256)), b"# R\n\n## Diagnosis\n\n```bash\nls\n"],
                         ids=["empty", "binary", "unclosed-fence"])
def test_cli_unusable_input_is_one_line(tmp_path, content):
    path = tmp_path / "r.md"
    path.write_bytes(content)
    proc = cli("coverage", str(path))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_cli_malformed_chaos_json(tmp_path):
    bad = tmp_path / "chaos.json"
    bad.write_text("[1, 2")
    proc = cli("coverage", str(SEED), "--chaos-json", str(bad))
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr


# --- pytest --runbook ---
def run_pytest(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pytest", "tests/unit/test_config.py", "-q",
                           "-p", "no:cacheprovider", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)


def test_pytest_runbook_strict_fails_the_session_and_names_the_item(tmp_path):
    proc = run_pytest("--runbook", str(extra_cause_file(tmp_path)), "--runbook-strict")
    assert proc.returncode != 0
    assert "runbook coverage" in proc.stdout
    assert "--runbook-strict: uncovered runbook item(s): cause-5, cause-5.1, cause-5.2" in proc.stdout


def test_pytest_runbook_prints_the_matrix_and_writes_json(tmp_path):
    out = tmp_path / "cov.json"
    proc = run_pytest("--runbook", str(PROJECT), "--runbook-strict", f"--runbook-json={out}")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "diagnosis-0" in proc.stdout and "uncovered: none" in proc.stdout
    assert json.loads(out.read_text())["uncovered"] == []


def test_pytest_runbook_unreadable_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"\x00\x01garbage")
    proc = run_pytest("--runbook", str(bad))
    assert proc.returncode == 4
    assert "--runbook:" in proc.stderr and "binary" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
