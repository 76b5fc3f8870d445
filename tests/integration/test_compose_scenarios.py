"""`pytest checks/` against the real Compose stack: healthy, and incidents set up by hand the
way they happen (a stop on purpose after a database blip, a kill, a password the database
refuses, two faults at once, a rerun after the fix), on both engine profiles: the reference
one and the real-shape one (JSON logs, tracebacks while healthy, only /health, REST dead while
the process lives). Every scenario restores what it broke."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from servicedown.config import Settings
from servicedown.healthy import wait_healthy
from servicedown.targets.compose import ComposeTarget
from tests.support import (
    COMPOSE_DIR,
    assert_no_secret,
    failed_checks,
    pytest_checks,
    run,
    top_cause,
    wait_for,
)

pytestmark = pytest.mark.compose
TOXIPROXY = "http://127.0.0.1:8474"
UA = {"User-Agent": "servicedown-tests"}  # toxiproxy refuses browser user agents
# A password the database does not know, that passes the engine's own rules.
WRONG_PASSWORD = "Zq8vTn3Lw5Yk2Rb7Xc4Mj9Hs6Gd1Ff0Ue"


def healthy_again(timeout: float = 90) -> None:
    """/health healthy, and Docker's own healthcheck passed: started, not only answering."""
    ok, last = wait_healthy(Settings().base, timeout)
    assert ok, f"stack did not recover: {last}"
    wait_for(lambda: run(["docker", "inspect", "-f", "{{.State.Health.Status}}", "qbitel-engine"],
                         check=False).stdout.strip() == "healthy", timeout, interval=1,
             what="the engine's Docker healthcheck to pass")
    # Started too: the startup probe's minimum time has passed, and the engine is ready.
    wait_for(lambda: status("/health/startup") == 200 and status("/health/ready") == 200, timeout,
             interval=1, what="the engine's startup and readiness probes to pass")


def engine_up(tmp_path: Path, profile: str = "reference", **env: str) -> None:
    """(Re)create the engine with this profile and these variables (a deploy)."""
    files = ["-f", "docker-compose.yml"]
    if env:
        override = tmp_path / f"override-{time.monotonic_ns()}.yml"
        lines = "".join(f"      {k}: {json.dumps(v)}\n" for k, v in env.items())
        override.write_text(f"services:\n  qbitel-engine:\n    environment:\n{lines}")
        files += ["-f", str(override)]
    run(["docker-compose", *files, "up", "-d", "--no-deps", "qbitel-engine"], timeout=120,
        cwd=COMPOSE_DIR, env={**os.environ, "QBITEL_ENGINE_PROFILE": profile})


@contextmanager
def engine(tmp_path: Path, profile: str = "reference", wait: bool = True, **env: str) -> Iterator[None]:
    engine_up(tmp_path, profile, **env)
    try:
        if wait:
            healthy_again()
        yield
    finally:
        engine_up(tmp_path)
        healthy_again()


def blip(seconds: float = 6) -> None:
    """The link to the database cut for a while, then given back: errors in the engine's log."""
    httpx.post(f"{TOXIPROXY}/proxies/postgres", json={"enabled": False}, headers=UA,
               timeout=5).raise_for_status()
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with suppress(httpx.HTTPError):
                httpx.get("http://localhost:8000/api/v1/records/1", timeout=3)
            time.sleep(1)
    finally:
        httpx.post(f"{TOXIPROXY}/reset", headers=UA, timeout=5).raise_for_status()


def status(path: str) -> int | None:
    try:
        return httpx.get(f"http://localhost:8000{path}", timeout=5).status_code
    except httpx.HTTPError:  # starting, or its port dead: no status yet
        return None


def outcomes(doc: dict) -> dict[str, dict]:
    return {c["id"]: c for c in doc["checks"]}


# --- healthy ----------------------------------------------------------------------------------

def test_healthy_stack_passes_every_check(stack, tmp_path):
    rc, doc, out = pytest_checks(tmp_path)
    assert rc == 0, out
    assert doc["verdict"] == "healthy" and doc["causes"] == []
    assert not failed_checks(doc)
    # Only the monitoring area may be unchecked: these runs name no Prometheus.
    assert set(doc["coverage"]["unchecked"]) <= {"monitoring"}
    assert "runbook triage" in out
    assert_no_secret(out + json.dumps(doc))


def test_a_full_run_changes_nothing(stack, tmp_path):
    target = ComposeTarget(Settings())
    before = target.fingerprint()
    pytest_checks(tmp_path)
    after = target.fingerprint()
    target.close()
    assert before and before == after


def test_url_target_says_how_little_it_saw_and_why(stack, tmp_path):
    rc, doc, out = pytest_checks(tmp_path, "--target", "url")
    assert rc == 0, out
    checks = outcomes(doc)
    assert checks["health.endpoint"]["outcome"] == "pass"
    assert checks["running.state"]["outcome"] == "skip"
    assert doc["coverage"]["limited"] and "as far as" in doc["headline"]
    unchecked = doc["coverage"]["unchecked"]
    assert "database" in unchecked and "--db-host" in unchecked["database"]
    # True skip reasons: the engine runs, TLS is unknown rather than off.
    assert "is not running" not in json.dumps(doc)
    assert "TLS is not enabled" not in checks["startup.tls"]["message"]
    assert "Not checked:" in out


# --- not running: exactly how ------------------------------------------------------------------

def test_a_stop_on_purpose_after_a_database_blip_is_a_stop(stack, tmp_path):
    blip()
    run(["docker", "stop", "qbitel-engine"], timeout=60)
    try:
        rc, doc, out = pytest_checks(tmp_path)
        assert rc == 1 and doc["verdict"] == "down"
        assert top_cause(doc) == "stopped", doc["causes"]
        assert "stopped on request" in doc["state"] and "docker stop" in doc["state"]
        network = [c for c in doc["causes"] if c["id"] == "db-network"]
        assert not network or not network[0]["defining"]
    finally:
        run(["docker", "start", "qbitel-engine"], timeout=30)
        healthy_again()
    # "Did my fix work?": the rerun after the start is healthy, with the stop as history.
    rc, doc, out = pytest_checks(tmp_path)
    assert rc == 0, out
    assert doc["verdict"] == "healthy"
    # The stop itself, if Docker's short event buffer still holds it; its exit in any case.
    assert any("exit code 0" in h for h in doc["history"]), doc["history"]


def test_a_kill_on_request_is_a_kill(stack, tmp_path):
    blip()
    run(["docker", "kill", "qbitel-engine"], timeout=60)
    try:
        rc, doc, out = pytest_checks(tmp_path)
        assert rc == 1 and doc["verdict"] == "down"
        assert top_cause(doc) == "killed", doc["causes"]
        assert "killed on request" in doc["state"]
    finally:
        run(["docker", "start", "qbitel-engine"], timeout=30)
        healthy_again()


def test_earlier_runs_errors_are_history_after_a_restart(stack, tmp_path):
    blip()
    run(["docker", "restart", "qbitel-engine"], timeout=60)
    healthy_again()
    rc, doc, out = pytest_checks(tmp_path)
    assert rc == 0, out
    assert "logs.db_error" not in failed_checks(doc)
    assert any("earlier runs" in h for h in doc["history"]), doc["history"]


# --- the database ------------------------------------------------------------------------------

def test_postgres_stopped_gives_db_down(stack, tmp_path):
    run(["docker", "stop", "-t", "5", "qbitel-postgres"], timeout=30)
    try:
        wait_for(lambda: httpx.get("http://localhost:8000/health", timeout=5).status_code == 503,
                 30, what="/health to answer 503")
        rc, doc, out = pytest_checks(tmp_path)
        assert rc == 1
        assert {"database.ready", "health.endpoint"} <= failed_checks(doc), out
        assert top_cause(doc) == "db-down", doc["causes"]
    finally:
        run(["docker", "start", "qbitel-postgres"], timeout=30)
        healthy_again()


def test_postgres_paused_gives_db_down(stack, tmp_path):
    run(["docker", "pause", "qbitel-postgres"], timeout=30)
    try:
        rc, doc, out = pytest_checks(tmp_path, timeout=120)
        assert rc == 1 and doc["verdict"] == "down"
        assert top_cause(doc) == "db-down", doc["causes"]
        assert "paused" in outcomes(doc)["database.ready"]["message"]
    finally:
        run(["docker", "unpause", "qbitel-postgres"], timeout=30)
        healthy_again()


def test_toxiproxy_link_disabled_gives_db_network(stack, tmp_path):
    httpx.post(f"{TOXIPROXY}/proxies/postgres", json={"enabled": False}, headers=UA,
               timeout=5).raise_for_status()
    try:
        wait_for(lambda: httpx.get("http://localhost:8000/health", timeout=5).status_code == 503,
                 30, what="/health to answer 503")
        rc, doc, out = pytest_checks(tmp_path)
        assert rc == 1
        failed = failed_checks(doc)
        assert "database.reachable" in failed, out
        assert "database.ready" not in failed
        assert top_cause(doc) == "db-network", doc["causes"]
    finally:
        httpx.post(f"{TOXIPROXY}/reset", headers=UA, timeout=5).raise_for_status()
        healthy_again()


def test_a_database_password_the_database_refuses_is_its_configuration(stack, tmp_path):
    with engine(tmp_path, wait=False, DATABASE_PASSWORD=WRONG_PASSWORD):
        wait_for(lambda: "password authentication failed" in run(
            ["docker", "logs", "--tail", "50", "qbitel-engine"], check=False).stdout
            + run(["docker", "logs", "--tail", "50", "qbitel-engine"], check=False).stderr,
            45, what="the database refusing the engine's password")
        rc, doc, out = pytest_checks(tmp_path)
        assert rc == 1
        assert top_cause(doc) == "config-invalid", doc["causes"]
        reach = outcomes(doc)["database.reachable"]
        assert reach["outcome"] == "fail" and "refuses the engine's credentials" in reach["message"]
        assert reach["evidence"]["logged_in_as_the_engine"] is True
        assert WRONG_PASSWORD not in out + json.dumps(doc)


def test_a_database_host_typo_is_its_configuration(stack, tmp_path):
    with engine(tmp_path, wait=False, DATABASE_HOST="toxiprxy"):
        time.sleep(8)
        rc, doc, out = pytest_checks(tmp_path)
        assert rc == 1
        assert top_cause(doc) == "config-invalid", doc["causes"]
        assert "cannot resolve" in outcomes(doc)["database.reachable"]["message"]


# --- startup -----------------------------------------------------------------------------------

def test_engine_without_jwt_secret_gives_missing_env(stack, tmp_path):
    with engine(tmp_path, wait=False, JWT_SECRET=""):
        wait_for(lambda: "VALIDATION FAILED" in run(
            ["docker", "logs", "--tail", "200", "qbitel-engine"], check=False).stdout,
            30, what="the engine's validation verdict")
        rc, doc, out = pytest_checks(tmp_path)
        assert rc == 1
        assert {"startup.env", "startup.validation"} <= failed_checks(doc), out
        assert top_cause(doc) == "missing-env", doc["causes"]
        assert "JWT_SECRET" in out
        assert_no_secret(out + json.dumps(doc))


def test_two_faults_at_once_are_both_listed(stack, tmp_path):
    with engine(tmp_path, wait=False, JWT_SECRET=""):
        run(["docker", "stop", "-t", "5", "qbitel-postgres"], timeout=30)
        try:
            time.sleep(3)
            rc, doc, out = pytest_checks(tmp_path)
            assert rc == 1
            ranked = [c["id"] for c in doc["causes"] if c["defining"]]
            assert {"missing-env", "db-down"} <= set(ranked), doc["causes"]
        finally:
            run(["docker", "start", "qbitel-postgres"], timeout=30)


# --- the real engine's shape -------------------------------------------------------------------

def test_real_shape_healthy_stays_healthy_run_after_run(stack, tmp_path):
    with engine(tmp_path, "real-shape"):
        for _ in range(2):  # the first run's probes print 404 tracebacks the second one reads
            rc, doc, out = pytest_checks(tmp_path)
            assert rc == 0, out
            assert doc["verdict"] == "healthy" and doc["causes"] == []
        logs = run(["docker", "logs", "qbitel-engine"], check=False)
        assert "--- Logging error ---" in logs.stdout + logs.stderr  # the noise was there
        assert outcomes(doc)["health.live"]["evidence"]["skipped"] == "not applicable here"
        assert outcomes(doc)["startup.validation"]["outcome"] == "pass"


def test_real_shape_wrong_password_rest_dead_process_alive(stack, tmp_path):
    with engine(tmp_path, "real-shape", wait=False, DATABASE_PASSWORD=WRONG_PASSWORD):
        wait_for(lambda: "Application startup failed" in "".join(
            (lambda p: p.stdout + p.stderr)(run(["docker", "logs", "--tail", "80", "qbitel-engine"],
                                                check=False))), 60,
            what="the REST server's startup failure")
        rc, doc, out = pytest_checks(tmp_path)
        assert rc == 1 and doc["verdict"] == "down"
        assert top_cause(doc) == "config-invalid", doc["causes"]
        assert outcomes(doc)["running.state"]["outcome"] == "pass"  # the process lives
        assert "port is dead" in doc["state"]


def test_real_shape_postgres_stopped_is_down_although_health_says_healthy(stack, tmp_path):
    with engine(tmp_path, "real-shape"):
        run(["docker", "stop", "-t", "5", "qbitel-postgres"], timeout=30)
        try:
            assert httpx.get("http://localhost:8000/health", timeout=5).status_code == 200
            rc, doc, out = pytest_checks(tmp_path)
            assert rc == 1 and doc["verdict"] == "down"
            assert top_cause(doc) == "db-down", doc["causes"]
            # Seen only through its URL, the engine looks healthy: the verdict says how little.
            rc, doc, out = pytest_checks(tmp_path, "--target", "url")
            assert doc["verdict"] == "healthy" and doc["coverage"]["limited"]
            assert "database" in doc["coverage"]["unchecked"]
        finally:
            run(["docker", "start", "qbitel-postgres"], timeout=30)


def test_http_500_everywhere_is_up_but_failing(stack, tmp_path):
    with engine(tmp_path, "real-shape", wait=False, QBITEL_ENGINE_HTTP500="true"):
        wait_for(lambda: status("/health") == 500, 60, what="/health to answer 500")
        rc, doc, out = pytest_checks(tmp_path)
        assert rc == 1 and doc["verdict"] == "down"
        assert top_cause(doc) == "http-errors", doc["causes"]
        rc, doc, out = pytest_checks(tmp_path, "--target", "url")
        assert top_cause(doc) == "http-errors", doc["causes"]
