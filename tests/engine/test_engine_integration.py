"""The engine against a real PostgreSQL: health, records, metrics, failures."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import PostgresCluster
from .engine_harness import EngineProcess, wait_until

StartEngine = Callable[..., EngineProcess]


def _post(engine: EngineProcess, key: str, value: object, timeout: float = 15.0) -> object:
    return engine.request("POST", "/api/v1/records", json={"key": key, "value": value}, timeout=timeout)


def _wait_healthy(engine: EngineProcess, timeout: float = 20.0) -> None:
    ok = wait_until(lambda: engine.get("/health", timeout=8).status_code == 200, timeout)
    assert ok, engine.log()[-3000:]


def test_healthy_engine(start_engine: StartEngine, postgres: PostgresCluster) -> None:
    engine = start_engine(db=postgres)
    _wait_healthy(engine)
    response = engine.get("/health")
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"]
    assert body["timestamp"]
    components = {c["component"]: c for c in body["checks"]}
    assert set(components) >= {"database", "disk", "memory"}
    assert all({"component", "status", "details"} <= set(c) for c in body["checks"])
    assert body["services"]["database"] == "up"

    live = engine.get("/health/live")
    assert live.status_code == 200
    assert live.json()["status"] == "pass"
    assert set(live.json()["checks"]) == {"event_loop", "memory"}

    deps = engine.get("/health/dependencies")
    assert deps.status_code == 200
    deps_body = deps.json()
    assert set(deps_body) == {"status", "checks", "timestamp", "response_time_ms"}
    for name in ("database", "disk", "memory"):
        assert {"status", "message", "critical", "response_time_ms"} <= set(deps_body["checks"][name])
    assert deps_body["checks"]["database"]["critical"] is True
    assert deps_body["checks"]["database"]["status"] == "pass"

    assert wait_until(lambda: engine.get("/health/startup").status_code == 200, timeout=10)
    assert engine.get("/health/ready").status_code == 200


def test_startup_probe_fails_during_grace(start_engine: StartEngine, postgres: PostgresCluster) -> None:
    engine = start_engine(db=postgres, QBITEL_STARTUP_GRACE_SECONDS="4")
    early = engine.get("/health/startup")
    assert early.status_code == 503
    assert early.json()["checks"]["minimum_time"]["status"] == "fail"
    assert engine.get("/health/ready").status_code == 503
    assert wait_until(lambda: engine.get("/health/startup").status_code == 200, timeout=15)
    assert engine.get("/health/ready").status_code == 200


def test_write_then_read_back(start_engine: StartEngine, postgres: PostgresCluster) -> None:
    engine = start_engine(db=postgres)
    _wait_healthy(engine)
    value = {"nested": [1, 2, {"x": "ü"}], "n": None}
    created = _post(engine, "orders", value)
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "key", "created_at"}
    assert body["key"] == "orders"

    read = engine.get(f"/api/v1/records/{body['id']}")
    assert read.status_code == 200
    assert read.json()["value"] == value
    assert read.json()["key"] == "orders"

    assert _post(engine, "orders", 2).status_code == 201
    listed = engine.get("/api/v1/records?key=orders")
    assert listed.status_code == 200
    assert [r["value"] for r in listed.json()["records"]][-2:] == [value, 2]

    assert engine.get("/api/v1/records/999999999").status_code == 404
    assert _post(engine, "", 1).status_code == 422
    # Postgres refuses NUL in jsonb: the client's fault, not an outage.
    refused = _post(engine, "orders", "a\u0000b")
    assert refused.status_code == 422
    assert "Retry-After" not in refused.headers

    # The write went through the journal in the data dir first.
    journal = Path(engine.env["QBITEL_DATA_DIR"]) / "journal.log"
    assert '"key":"orders"' in journal.read_text()
    # And it is really in Postgres.
    import psycopg

    with psycopg.connect(postgres.superuser_dsn.replace("dbname=postgres", "dbname=qbitel")) as conn:
        row = conn.execute("SELECT value FROM records WHERE id = %s", (body["id"],)).fetchone()
    assert row is not None and row[0] == value


def test_metrics(start_engine: StartEngine, postgres: PostgresCluster) -> None:
    engine = start_engine(db=postgres)
    _wait_healthy(engine)
    assert _post(engine, "m", 1).status_code == 201
    engine.get("/api/v1/records/1")
    engine.get("/no/such/path")
    text = engine.get("/metrics").text
    for name in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "db_connections_active",
        "db_connections_idle",
        "db_connection_errors_total",
        'qbitel_circuit_breaker_state{name="database"} 0.0',
    ):
        assert name in text, name
    # Route templates, not raw paths, as the endpoint label.
    assert 'endpoint="/api/v1/records/{record_id}"' in text
    assert 'endpoint="/api/v1/records/1"' not in text
    assert 'endpoint="<unmatched>"' in text
    assert 'status_code="201"' in text


def test_database_stopped_then_back(start_engine: StartEngine, postgres: PostgresCluster) -> None:
    engine = start_engine(db=postgres, DB_POOL_TIMEOUT="2")
    _wait_healthy(engine)
    assert _post(engine, "before", 1).status_code == 201
    postgres.stop()
    try:
        started = time.monotonic()
        response = engine.get("/health", timeout=10)
        assert time.monotonic() - started < 5
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unhealthy"
        database = next(c for c in body["checks"] if c["component"] == "database")
        assert database["status"] == "unhealthy"
        assert "Connection refused" in database["details"]["message"]
        assert body["failed_components"] == ["database"]
        assert wait_until(lambda: "Database health check failed" in engine.log(), timeout=5)

        write = _post(engine, "during", 1)
        assert write.status_code == 503
        assert "Retry-After" in write.headers
        assert "Database connection error" in engine.log()
        assert engine.get("/health/dependencies").status_code == 200
    finally:
        postgres.start()
    _wait_healthy(engine, timeout=30)
    assert wait_until(lambda: _post(engine, "after", 1).status_code == 201, timeout=20)


def test_engine_starts_with_database_down(start_engine: StartEngine) -> None:
    # DATABASE_PORT=1 by default in the harness: nothing listens.
    engine = start_engine(DB_POOL_TIMEOUT="1")
    response = engine.get("/health")
    assert response.status_code == 503
    assert response.json()["services"]["database"] == "down"
    assert engine.get("/health/live").status_code == 200
    assert engine.returncode is None


def test_circuit_breaker_opens(start_engine: StartEngine) -> None:
    engine = start_engine(DB_POOL_TIMEOUT="0.5", QBITEL_BREAKER_RECOVERY_SECONDS="60")
    codes = [_post(engine, "k", i).status_code for i in range(5)]
    assert codes == [503] * 5
    started = time.monotonic()
    rejected = _post(engine, "k", 6)
    assert time.monotonic() - started < 1.0  # fails fast, no database attempt
    assert rejected.status_code == 503
    assert 50 <= int(rejected.headers["Retry-After"]) <= 60
    assert 'qbitel_circuit_breaker_state{name="database"} 1.0' in engine.get("/metrics").text
    assert "Circuit breaker 'database' opened" in engine.log()
    # /health still asks the database itself.
    assert engine.get("/health").json()["services"]["circuit_breaker"] == "open"


def test_unwritable_data_dir(start_engine: StartEngine, postgres: PostgresCluster, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    engine = start_engine(db=postgres, QBITEL_DATA_DIR=str(blocker / "data"))
    response = _post(engine, "k", 1)
    assert response.status_code == 500
    assert "Not a directory" in response.json()["detail"]
    assert "Journal write failed" in engine.log()
    assert "[Errno 20] Not a directory" in engine.log()
    health = engine.get("/health")
    assert health.status_code == 503
    assert "disk" in health.json()["failed_components"]
    assert wait_until(lambda: "Heartbeat write failed" in engine.log(), timeout=5)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, timeout=20)


def _fill(directory: Path) -> None:
    with contextlib.suppress(OSError), (directory / "filler").open("wb") as handle:
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()


def test_disk_full_enospc(start_engine: StartEngine, postgres: PostgresCluster, tiny_tmpfs: Path) -> None:
    engine = start_engine(db=postgres, QBITEL_DATA_DIR=str(tiny_tmpfs / "qbitel"))
    _wait_healthy(engine)
    assert _post(engine, "k", 1).status_code == 201
    _fill(tiny_tmpfs)
    response = _post(engine, "k", "x" * 10000)
    assert response.status_code == 507
    assert "No space left on device" in response.json()["detail"]
    health = engine.get("/health")
    assert health.status_code == 503
    assert "disk" in health.json()["failed_components"]
    log = engine.log()
    assert "[Errno 28] No space left on device" in log
    assert wait_until(lambda: "Heartbeat write failed (disk full)" in engine.log(), timeout=5)
    (tiny_tmpfs / "filler").unlink()
    _wait_healthy(engine)


def test_fd_exhaustion_is_logged(start_engine: StartEngine) -> None:
    def low_fd_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    engine = start_engine(DB_POOL_TIMEOUT="1", preexec_fn=low_fd_limit)
    clients: list[socket.socket] = []
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                clients.append(socket.create_connection(("127.0.0.1", engine.port), timeout=1))
        assert wait_until(lambda: "Too many open files" in engine.log(), timeout=10)
    finally:
        for client in clients:
            client.close()
    # It recovers once the clients are gone (while it still sheds load, a probe may find no
    # connection at all: that is "not yet", not a failure of the test).
    def live() -> bool:
        try:
            return engine.get("/health/live", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_until(live, timeout=30)
