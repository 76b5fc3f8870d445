"""SystemdTarget against the real systemd test host (scripts/systemd-host.sh): a container
with systemd as PID 1 running Postgres and the engine as qbitel.service.

Tests run in file order and share one host; each one that breaks the unit waits (bounded)
until it is healthy again, so the next starts from a running engine.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.request
from collections.abc import Iterator

import pytest

from servicedown.config import Settings
from servicedown.probes import hostfacts
from servicedown.targets.base import ServiceState, TargetError
from servicedown.targets.systemd import SystemdTarget
from servicedown.targets.systemd_read import OOM_MATCH_BEFORE_S
from tests.support import ROOT, wait_for

pytestmark = [pytest.mark.systemd, pytest.mark.slow]

HOST = "docker://qbitel-systemd"
HTTP_PORT = int(os.environ.get("QBITEL_SYSTEMD_HTTP_PORT", "18000"))
SCRIPTS = ROOT / "scripts"
MEMORY_MAX = 256 * 1024 * 1024  # MemoryMax= of compose/systemd/qbitel.service

# Puts a process into the unit's cgroup and allocates past the unit's limit. The engine is
# made the kernel's preferred victim (oom_score_adj 1000): otherwise the kernel kills the
# bigger allocator and the engine lives on, which is not the runbook's "OOM killed" case.
OOM_SCRIPT = r"""
cg=$(systemctl show qbitel -p ControlGroup --value)
main=$(systemctl show qbitel -p MainPID --value)
echo 1000 > /proc/$main/oom_score_adj
exec timeout 60 sh -c '
  cg="$1"
  if [ -d /sys/fs/cgroup/memory ]; then
    echo $$ > /sys/fs/cgroup/memory$cg/cgroup.procs &&
      echo $$ > /sys/fs/cgroup/systemd$cg/cgroup.procs
  else
    echo $$ > /sys/fs/cgroup$cg/cgroup.procs
  fi || exit 3
  exec python3 -c "
b = []
while True:
    b.append(bytearray(8 << 20))
"' oom "$cg"
"""


def _health_code() -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/health", timeout=3) as resp:
            return resp.status
    except OSError:
        return None


@pytest.fixture
def target(systemd_host: str) -> Iterator[SystemdTarget]:
    t = SystemdTarget(Settings(target="systemd", host=systemd_host,
                               base_url=f"http://127.0.0.1:{HTTP_PORT}"))
    t.preflight()
    yield t
    t.close()


def wait_healthy(t: SystemdTarget, restarts_at_least: int = 0) -> ServiceState:
    """Running, past `restarts_at_least` automatic restarts, and /health 200 (bounded)."""

    def ready() -> ServiceState | None:
        st = t.state()
        ok = st.running and (st.restart_count or 0) >= restarts_at_least
        return st if ok and _health_code() == 200 else None

    wait_for(ready, timeout=90, interval=0.5, what="qbitel.service running and /health 200")
    return t.state()


def test_healthy_state(target: SystemdTarget) -> None:
    st = target.state()
    assert st.exists and st.running, st
    assert st.status == "active" and st.detail["sub_state"] == "running"
    assert st.health is None  # systemd keeps no health status
    assert st.enabled is True
    assert st.restart_count == 0 and st.die_events == 0
    assert st.exit_code is None and st.oom_killed is False
    assert st.pid and str(st.pid) == target.service_pid()
    assert st.uptime_s is not None and st.uptime_s >= 0
    assert target.restart_command() == "systemctl restart qbitel"


def test_logs_hold_the_validation_verdict(target: SystemdTarget) -> None:
    lines = target.logs(100)
    assert 0 < len(lines) <= 100
    assert any("VALIDATION PASSED" in line.text for line in lines), lines[-10:]
    # The journal says when, and which invocation of the unit each line belongs to.
    assert all(line.time is not None for line in lines)
    assert any(line.run == "current" for line in lines)
    assert any("VALIDATION PASSED" in line.text for line in target.startup_logs(100))


def test_environment_has_the_secrets_and_never_logs_them(
    target: SystemdTarget, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="testinfra"):
        env = target.environment()
    assert env is not None
    for name in ("DATABASE_PASSWORD", "JWT_SECRET", "ENCRYPTION_KEY"):
        assert len(env.get(name, "")) >= 32, f"{name} missing or short"
        assert env[name] not in caplog.text, f"{name}'s value reached a log"
    assert env["DATABASE_HOST"] == "localhost"


def test_database_and_resource_facts_on_the_host(target: SystemdTarget) -> None:
    ready = target.run_in_database(["pg_isready", "-U", "qbitel_user", "-d", "qbitel"], 10)
    assert ready is not None and ready.ok, ready
    assert "localhost:5432" in ready.stdout  # -h/-p taken from the engine's environment
    psql = target.run_in_database(["psql", "-X", "-At", "-U", "qbitel_user", "-d", "qbitel",
                                   "-c", "select current_user"], 10)
    assert psql is not None and psql.stdout.strip() == "qbitel_user", psql
    res = target.run_in_service(hostfacts.command(target.service_pid(), 0.2, ["/"]), 10)
    assert res is not None and res.ok, res
    facts = hostfacts.parse(res.stdout)
    assert facts.pid_alive and facts.mem_limit == MEMORY_MAX
    assert facts.nofile_soft == 16384  # LimitNOFILE= of the unit


def test_restart_bumps_active_enter_timestamp(target: SystemdTarget) -> None:
    before = target.fingerprint()["qbitel.service"]
    said = target.restart()
    assert "systemctl restart qbitel" in said
    wait_healthy(target)
    after = target.fingerprint()["qbitel.service"]
    assert after["active_enter"] != before["active_enter"]
    assert after["main_pid"] != before["main_pid"]
    assert after["n_restarts"] == before["n_restarts"]  # asked for, not automatic


def test_crash_shows_restart_count_growing(target: SystemdTarget) -> None:
    before = target.state()
    res = target.run_in_service(["kill", "-9", str(before.pid)], 10)
    assert res is not None and res.ok, res
    st = wait_healthy(target, restarts_at_least=(before.restart_count or 0) + 1)
    assert st.pid != before.pid
    assert st.exit_code == 137 and st.die_events >= 1
    assert st.oom_killed is False, st.detail
    assert any("Main process exited, code=killed, status=9/KILL" in e for e in st.events)
    assert any("Scheduled restart job" in e for e in st.events)
    # Running again: the kill is history, named as what it was.
    assert st.how == "running" and st.last_exit is not None and st.last_exit.code == 137
    assert st.history and "exit code 137 (SIGKILL)" in st.history[0] and "systemd" in st.history[0]


def test_oom_in_the_unit_is_reported_as_oom_killed(target: SystemdTarget) -> None:
    before = target.state()
    res = target.run_in_service(["sh", "-c", OOM_SCRIPT], 70)
    # The allocator dies too: OOM-killed (137) or stopped with the unit (143).
    assert res is not None and res.rc in (137, 143), res
    st = wait_healthy(target, restarts_at_least=(before.restart_count or 0) + 1)
    assert st.exit_code == 137
    assert st.oom_killed is True, st.evidence()
    assert st.oom_events >= 1
    assert any("kernel log" in s for s in st.detail["oom_signs"]), st.detail
    assert st.last_exit is not None and st.last_exit.oom and "OOM kill" in st.history[0]


def test_kill_after_an_oom_is_not_blamed_on_memory(target: SystemdTarget) -> None:
    # The unit's memcg still counts the earlier OOM kill; only a sign next to this exit
    # may call it OOM.
    time.sleep(OOM_MATCH_BEFORE_S + 1)  # a kill well after the OOM, as in a real incident
    before = target.state()
    target.run_in_service(["kill", "-9", str(before.pid)], 10)
    st = wait_healthy(target, restarts_at_least=(before.restart_count or 0) + 1)
    assert st.exit_code == 137
    assert st.oom_killed is False, st.evidence()
    assert st.last_exit is not None and not st.last_exit.oom


def test_a_stop_on_request_is_a_stop(target: SystemdTarget) -> None:
    target.run_in_service(["systemctl", "stop", "qbitel"], 60)
    try:
        st = target.state()
        assert not st.running and st.how == "stopped", st.evidence()
        assert "systemctl stop" in st.how_detail
    finally:
        target.run_in_service(["systemctl", "start", "qbitel"], 60)
        wait_healthy(target)


def test_unknown_unit_is_missing_with_a_clear_message(systemd_host: str) -> None:
    t = SystemdTarget(Settings(target="systemd", host=systemd_host, unit="qbitel-engine"))
    st = t.state()
    assert st.exists is False and st.status == "missing"
    problem = st.detail["problem"]
    assert "qbitel-engine.service" in problem and "not found" in problem
    assert "qbitel.service" in problem  # the similar unit is named


def test_unreachable_host_is_a_target_error(systemd_host: str) -> None:
    t = SystemdTarget(Settings(target="systemd", host="docker://nope"))
    with pytest.raises(TargetError) as err:
        t.preflight()
    message = str(err.value)
    assert "cannot reach host 'docker://nope'" in message and "--host" in message
    assert "Traceback" not in message
    with pytest.raises(TargetError):
        t.state()
