"""Unit tests of the engine's small parts: breaker, memory, data dir, settings."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest
from qbitel_ref.circuit_breaker import BreakerState, CircuitBreaker, CircuitOpenError
from qbitel_ref.data_dir import DataDir, DiskStatus, is_out_of_space
from qbitel_ref.fd_watch import check_fd_pressure
from qbitel_ref.health import StartupTracker
from qbitel_ref.log_throttle import ThrottledLog
from qbitel_ref.memory import read_memory_usage
from qbitel_ref.settings import Settings, SettingsError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- circuit breaker -------------------------------------------------------------


def test_breaker_opens_after_threshold_and_recovers() -> None:
    clock = FakeClock()
    states: list[BreakerState] = []
    breaker = CircuitBreaker("database", 5, 30, clock=clock, on_change=states.append)
    for _ in range(4):
        breaker.acquire()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.acquire()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()
    assert info.value.retry_after == 30
    clock.now += 29.2
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()
    assert info.value.retry_after == 1
    clock.now += 1
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.acquire()  # the probe
    with pytest.raises(CircuitOpenError):
        breaker.acquire()  # only one probe at a time
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert states == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_breaker_failed_probe_reopens() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("database", 1, 10, clock=clock)
    breaker.acquire()
    breaker.record_failure()
    clock.now += 10
    breaker.acquire()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after() == 10


def test_breaker_success_resets_count_and_protect_classifies() -> None:
    breaker = CircuitBreaker("database", 2, 10, clock=FakeClock())
    with pytest.raises(ValueError), breaker.protect(lambda exc: False):
        raise ValueError("not the database's fault")
    assert breaker.consecutive_failures == 0
    with pytest.raises(OSError), breaker.protect(lambda exc: True):
        raise OSError("down")
    with breaker.protect(lambda exc: True):
        pass
    assert breaker.consecutive_failures == 0
    assert breaker.state is BreakerState.CLOSED


# -- memory -----------------------------------------------------------------------


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


MEMINFO = "MemTotal:       8000000 kB\nMemFree:  100 kB\nMemAvailable:   6000000 kB\n"


def test_memory_cgroup_v2_minus_inactive_file(tmp_path: Path) -> None:
    _write(tmp_path, "proc/meminfo", MEMINFO)
    _write(tmp_path, "sys/fs/cgroup/memory.max", "1000000\n")
    _write(tmp_path, "sys/fs/cgroup/memory.current", "970000\n")
    _write(tmp_path, "sys/fs/cgroup/memory.stat", "anon 1\ninactive_file 20000\n")
    usage = read_memory_usage(tmp_path)
    assert usage is not None
    assert usage.source == "cgroup v2"
    assert usage.percent == 95.0


def test_memory_cgroup_v1(tmp_path: Path) -> None:
    _write(tmp_path, "proc/meminfo", MEMINFO)
    _write(tmp_path, "sys/fs/cgroup/memory/memory.limit_in_bytes", "2000000")
    _write(tmp_path, "sys/fs/cgroup/memory/memory.usage_in_bytes", "1000000")
    _write(tmp_path, "sys/fs/cgroup/memory/memory.stat", "total_inactive_file 0\n")
    usage = read_memory_usage(tmp_path)
    assert usage is not None and usage.source == "cgroup v1" and usage.percent == 50.0


@pytest.mark.parametrize(
    ("rel", "limit"),
    [
        ("sys/fs/cgroup/memory.max", "max"),
        ("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712"),
    ],
)
def test_memory_unlimited_cgroup_falls_back_to_meminfo(tmp_path: Path, rel: str, limit: str) -> None:
    _write(tmp_path, "proc/meminfo", MEMINFO)
    _write(tmp_path, rel, limit)
    _write(tmp_path, rel.replace("max", "current").replace("limit_in", "usage_in"), "5")
    usage = read_memory_usage(tmp_path)
    assert usage is not None and usage.source == "meminfo" and usage.percent == 25.0


def test_memory_on_this_machine() -> None:
    usage = read_memory_usage()
    assert usage is not None and 0 < usage.percent < 100


# -- data dir ---------------------------------------------------------------------


def test_journal_appends_lines_and_rotates(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "d", journal_max_bytes=4096)
    data.prepare()
    for i in range(200):
        data.append_journal({"key": "k", "value": i})
    assert data.journal_path.exists()
    assert (tmp_path / "d" / "journal.log.1").exists()
    assert data.journal_path.stat().st_size < 4096 + 100


def test_heartbeat_is_replaced_atomically(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    data.write_heartbeat({"n": 1})
    data.write_heartbeat({"n": 2})
    assert data.heartbeat_path.read_text() == '{"n":2}'
    assert [p.name for p in tmp_path.iterdir()] == ["heartbeat.json"]


def test_probe_healthy_dir(tmp_path: Path) -> None:
    status = DataDir(tmp_path).probe()
    assert status.write_error is None
    assert status.used_percent is not None
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


def test_probe_unwritable_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    status = DataDir(blocker / "sub").probe()
    assert status.status == "fail"
    assert "Not a directory" in status.message


@pytest.mark.parametrize(
    ("used", "inodes", "expected"),
    [(10.0, 10.0, "pass"), (90.0, 1.0, "warn"), (98.0, 1.0, "fail"), (1.0, 99.0, "fail")],
)
def test_disk_status_thresholds(used: float, inodes: float, expected: str) -> None:
    assert DiskStatus("/d", used, inodes, 1, None).status == expected


def test_out_of_space_classification() -> None:
    assert is_out_of_space(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert not is_out_of_space(OSError(errno.EACCES, os.strerror(errno.EACCES)))


# -- settings -----------------------------------------------------------------------


def test_settings_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.environment == "production"
    assert settings.port == 8000
    assert settings.data_dir == Path("/var/lib/qbitel")
    assert settings.database.pool_size == 10
    assert settings.database.pool_max_size == 30
    assert settings.database.pool_timeout == 30
    assert settings.drain_seconds == 5
    assert settings.startup_grace_seconds == 5
    assert settings.breaker_recovery_seconds == 30
    assert not settings.tls_enabled


def test_settings_reject_bad_numbers() -> None:
    with pytest.raises(SettingsError, match="DB_POOL_SIZE"):
        Settings.from_env({"DB_POOL_SIZE": "many"})
    with pytest.raises(SettingsError, match="QBITEL_PORT"):
        Settings.from_env({"QBITEL_PORT": "70000"})


def test_settings_repr_hides_password() -> None:
    settings = Settings.from_env({"DATABASE_PASSWORD": "CanaryPw-55e1"})
    assert "CanaryPw-55e1" not in repr(settings)


# -- startup probe, fd pressure, log throttle ------------------------------------------


def test_startup_tracker_grace_latch_and_timeout() -> None:
    clock = FakeClock()
    tracker = StartupTracker(5, 300, clock=clock)
    assert tracker.evaluate(True)[0] is False  # within the grace period
    clock.now += 5
    assert tracker.evaluate(False)[0] is False  # critical dependency down
    assert tracker.evaluate(True)[0] is True
    clock.now += 1000
    assert tracker.evaluate(False)[0] is True  # latched
    never = StartupTracker(5, 300, clock=clock)
    clock.now += 301
    passed, checks = never.evaluate(True)
    assert not passed and "timeout" in checks


def test_fd_pressure_levels(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / str(i)).touch()
    assert check_fd_pressure(str(tmp_path), limit=100).level == "ok"
    assert check_fd_pressure(str(tmp_path), limit=33).level == "warn"
    at_limit = check_fd_pressure(str(tmp_path), limit=32)
    assert at_limit.level == "error" and "Too many open files" in at_limit.message


def test_throttled_log_suppresses_repeats(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    throttle = ThrottledLog(logging.getLogger("qbitel_ref.test"), interval=5, clock=clock)
    with caplog.at_level(logging.ERROR, logger="qbitel_ref.test"):
        for _ in range(3):
            throttle.log(logging.ERROR, "same")
        throttle.log(logging.ERROR, "other")
        throttle.log(logging.ERROR, "other")
        clock.now += 6
        throttle.log(logging.ERROR, "other")
    assert [r.getMessage() for r in caplog.records] == [
        "same",
        "other",
        "other (1 repeats suppressed)",
    ]
