"""`servicedown watch` against a real systemd host (scripts/systemd-host.sh, a host of this
module's own beside the shared one): `journalctl -f` and the unit's properties as the event
stream; a crash systemd restarts, and a stop the quick fix heals, each step in the timeline."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest

from servicedown import polling
from servicedown.healthy import wait_healthy
from servicedown.ports import free_port
from tests.support import ROOT, run
from tests.watch.support import WatchRun, calm, down, first, in_order, kind

pytestmark = [pytest.mark.systemd, pytest.mark.slow]
NAME = "qbitel-systemd-watch"
QUICK = ("--settle-s", "3", "--interval-s", "30", "--max-s", "240", "--check-timeout-s", "8")


@pytest.fixture(scope="module")
def host() -> Iterator[tuple[str, str]]:
    """(host spec, base URL) of a fresh systemd host of this module's own."""
    if shutil.which("docker") is None or run(["docker", "info"], timeout=20, check=False).returncode:
        pytest.skip("Docker is unavailable: run 'scripts/bootstrap.sh docker' (make test does)")
    run(["bash", str(ROOT / "scripts" / "bootstrap.sh"), "systemd-image"], timeout=1500)
    port = free_port()
    env = {**os.environ, "QBITEL_SYSTEMD_NAME": NAME, "QBITEL_SYSTEMD_HTTP_PORT": str(port)}
    script = str(ROOT / "scripts" / "systemd-host.sh")
    run(["bash", script, "down"], timeout=120, env=env)
    run(["bash", script, "up"], timeout=240, env=env)
    try:
        yield f"docker://{NAME}", f"http://127.0.0.1:{port}"
    finally:
        run(["bash", script, "down"], timeout=120, check=False, env=env)


def in_host(*argv: str) -> None:
    done = subprocess.run(["docker", "exec", NAME, *argv], timeout=60, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, f"{' '.join(argv)}: exit {done.returncode}: {done.stderr}{done.stdout}"


@pytest.fixture
def healthy(host: tuple[str, str]) -> tuple[str, str]:
    """The engine up and settled: /health, /health/ready and /health/startup answering 200 three
    times in a row (a fresh host's engine may still be finding its database)."""
    in_host("systemctl", "start", "qbitel")
    ok, last = wait_healthy(host[1], 120)
    assert ok, last

    def settled() -> bool:
        for _ in range(3):
            for path in ("/health", "/health/ready", "/health/startup"):
                try:
                    with urllib.request.urlopen(host[1] + path, timeout=3) as resp:
                        if resp.status != 200:
                            return False
                except OSError:
                    return False
            time.sleep(1)
        return True

    assert polling.until(settled, 120, 1), "the engine on the systemd host did not settle"
    return host


def args(host: tuple[str, str]) -> list[str]:
    return ["--target", "systemd", "--host", host[0], "--base-url", host[1]]


def started_healthy(w: WatchRun) -> None:
    w.wait_for(calm, 150, "healthy state with no incident open")


def test_a_crash_systemd_restarts_is_heard_from_the_journal(healthy, tmp_path):
    w = WatchRun(tmp_path, *args(healthy), "--until-healthy", *QUICK)
    try:
        started_healthy(w)
        time.sleep(1)  # the follower on the host is up within a second of the first run
        in_host("systemctl", "kill", "-s", "SIGKILL", "qbitel")
        assert w.wait_exit(180) == 0, w.output[-3000:]
    finally:
        w.stop()
    es = w.entries()
    in_order(es, kind("start", has="events from journal"), kind("state", "healthy"), down,
             kind("recovery"), kind("end"))
    restart = first(es, lambda e: e.kind == "restart" and e.data.get("by") == "platform")
    assert restart >= 0 and "unit qbitel.service" in es[restart].detail, [e.detail for e in es]
    assert any(e.kind == "check" and e.data["check"] in ("running.exit_code", "running.restarts",
                                                          "running.state", "health.endpoint")
               and e.data["after"] == "fail" for e in es)
    assert not any(e.kind == "remediation" for e in es)


def test_a_stopped_unit_is_healed_by_the_quick_fix(healthy, tmp_path):
    w = WatchRun(tmp_path, *args(healthy), "--remediate", "--until-healthy", "--max-restarts", "2",
                 "--backoff-s", "10", *QUICK)  # the engine drains 5 s before a stop ends
    try:
        started_healthy(w)
        in_host("systemctl", "stop", "qbitel")  # Restart=on-failure leaves a clean stop alone
        assert w.wait_exit(180) == 0, w.output[-3000:]
    finally:
        w.stop()
    es = w.entries()
    in_order(es, kind("state", "healthy"), down, kind("remediation", has="systemctl restart qbitel"),
             lambda e: e.kind == "restart" and e.data.get("by") == "remediate", kind("recovery"),
             kind("end", has="recovered"))
    assert any(down(e) and e.top_cause == "stopped" for e in es), [(e.verdict, e.top_cause) for e in es]
    assert w.triage_doc()["verdict"] == "healthy"
