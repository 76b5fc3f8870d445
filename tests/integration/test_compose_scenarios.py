"""`pytest checks/` against the real Compose stack: healthy, and each runbook cause the
stack can show without chaos tooling. Every scenario restores what it broke."""

from __future__ import annotations

import json

import httpx
import pytest

from servicedown.config import Settings
from servicedown.healthy import wait_healthy
from servicedown.targets.compose import ComposeTarget
from tests.support import (
    assert_no_secret,
    compose,
    failed_checks,
    pytest_checks,
    run,
    top_cause,
    wait_for,
)

pytestmark = pytest.mark.compose
TOXIPROXY = "http://127.0.0.1:8474"
UA = {"User-Agent": "servicedown-tests"}  # toxiproxy refuses browser user agents


def healthy_again(timeout: float = 90) -> None:
    ok, last = wait_healthy(Settings().base, timeout)
    assert ok, f"stack did not recover: {last}"


def test_healthy_stack_passes_every_check(stack, tmp_path):
    rc, doc, out = pytest_checks(tmp_path)
    assert rc == 0, out
    assert doc["verdict"] == "healthy"
    assert doc["causes"] == []
    assert not failed_checks(doc)
    assert "runbook triage" in out
    assert_no_secret(out + json.dumps(doc))


def test_a_full_run_changes_nothing(stack, tmp_path):
    target = ComposeTarget(Settings())
    before = target.fingerprint()
    pytest_checks(tmp_path)
    after = target.fingerprint()
    target.close()
    assert before and before == after


def test_url_target_checks_http_only(stack, tmp_path):
    rc, doc, out = pytest_checks(tmp_path, "--target", "url")
    assert rc == 0, out
    outcomes = {c["id"]: c["outcome"] for c in doc["checks"]}
    assert outcomes["health.endpoint"] == "pass"
    assert outcomes["running.state"] == "skip"
    assert outcomes["logs.stack_trace"] == "skip"


def test_engine_stopped_is_down_with_crash_on_top(stack, tmp_path):
    run(["docker", "stop", "qbitel-engine"], timeout=60)
    try:
        rc, doc, out = pytest_checks(tmp_path)
        assert rc == 1
        assert doc["verdict"] == "down"
        assert {"running.state", "health.endpoint"} <= failed_checks(doc)
        assert top_cause(doc) == "crash", doc["causes"]
    finally:
        run(["docker", "start", "qbitel-engine"], timeout=30)
        healthy_again()


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


def test_engine_without_jwt_secret_gives_missing_env(stack, tmp_path):
    override = tmp_path / "no-jwt.yml"
    override.write_text('services:\n  qbitel-engine:\n    environment:\n      JWT_SECRET: ""\n')
    compose("-f", "docker-compose.yml", "-f", str(override), "up", "-d", "--no-deps",
            "qbitel-engine")
    try:
        wait_for(lambda: "VALIDATION FAILED" in run(
            ["docker", "logs", "--tail", "200", "qbitel-engine"], check=False).stdout,
            30, what="the engine's validation verdict")
        rc, doc, out = pytest_checks(tmp_path)
        assert rc == 1
        assert {"startup.env", "startup.validation"} <= failed_checks(doc), out
        assert top_cause(doc) == "missing-env", doc["causes"]
        assert "JWT_SECRET" in out
        assert_no_secret(out + json.dumps(doc))
    finally:
        compose("up", "-d", "--no-deps", "qbitel-engine")
        healthy_again()
