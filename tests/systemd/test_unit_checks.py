"""`pytest checks/ --target systemd` against the real systemd host: healthy, then the unit
stopped (the runbook's `systemctl status qbitel` shows it inactive)."""

from __future__ import annotations

import os

import httpx
import pytest

from servicedown.config import Settings
from servicedown.targets.systemd import SystemdTarget
from tests.support import ROOT, failed_checks, pytest_checks, run, wait_for

pytestmark = [pytest.mark.systemd, pytest.mark.slow]
HTTP_PORT = int(os.environ.get("QBITEL_SYSTEMD_HTTP_PORT", "18000"))


@pytest.fixture(scope="module", autouse=True)
def fresh_host(systemd_host):
    """A new host: the target tests before these leave kills and OOMs in the journal window."""
    script = str(ROOT / "scripts" / "systemd-host.sh")
    run(["bash", script, "down"], timeout=120)
    run(["bash", script, "up"], timeout=240)
    wait_for(_started, 60, what="the engine's startup probe to pass")


def _started() -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{HTTP_PORT}/health/startup", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def _args(host: str) -> list[str]:
    return ["--target", "systemd", "--host", host, "--base-url", f"http://127.0.0.1:{HTTP_PORT}"]


def _unit_active() -> bool:
    out = run(["docker", "exec", "qbitel-systemd", "systemctl", "is-active", "qbitel"],
              check=False, timeout=20).stdout.strip()
    return out == "active"


def test_healthy_unit_passes_and_nothing_changes(systemd_host, tmp_path):
    target = SystemdTarget(Settings(target="systemd", host=systemd_host))
    before = target.fingerprint()
    rc, doc, out = pytest_checks(tmp_path, *_args(systemd_host))
    assert rc == 0, out
    assert doc["verdict"] == "healthy" and doc["causes"] == []
    assert before and target.fingerprint() == before
    target.close()


def test_stopped_unit_is_down(systemd_host, tmp_path):
    run(["docker", "exec", "qbitel-systemd", "systemctl", "stop", "qbitel"], timeout=60)
    try:
        rc, doc, out = pytest_checks(tmp_path, *_args(systemd_host))
        assert rc == 1
        assert doc["verdict"] == "down"
        assert {"running.state", "health.endpoint"} <= failed_checks(doc), out
        assert doc["causes"][0]["id"] == "stopped", doc["causes"]
        assert "systemctl stop" in doc["state"]
    finally:
        run(["docker", "exec", "qbitel-systemd", "systemctl", "start", "qbitel"], timeout=60)
        wait_for(_unit_active, 60, what="qbitel.service active again")
        wait_for(_started, 60, what="the engine's startup probe to pass")


def test_remediate_restarts_the_unit(systemd_host, tmp_path):
    run(["docker", "exec", "qbitel-systemd", "systemctl", "stop", "qbitel"], timeout=60)
    rc, doc, out = pytest_checks(tmp_path, *_args(systemd_host), "--remediate", "-k", "restart")
    assert rc == 0, out
    assert "Remediation: " in out and "healthy again" in out, out
    assert _unit_active()
