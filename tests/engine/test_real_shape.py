"""The real-shape profile as a process against a real PostgreSQL: each observed behaviour.

Every behaviour is checked from outside, as the checks meet it: stdout, stderr, ports and
HTTP answers of a real engine process (see compose/engine/qbitel_ref/real_shape/).
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from .conftest import PostgresCluster
from .engine_harness import EngineProcess, wait_until

StartEngine = Callable[..., EngineProcess]

REAL_SHAPE = {"QBITEL_ENGINE_PROFILE": "real-shape"}
FIELDS = {"timestamp", "iso_timestamp", "level", "category", "message", "component", "operation", "metadata"}
LOGGING_ERROR = "--- Logging error ---"
LEVEL_BUG = "ValueError: 'WARNING' is not a valid LogLevel"
NOT_FOUND_TRACEBACK_END = "starlette.exceptions.HTTPException: 404: Not Found"
VERDICT_CRITICAL = "❌ VALIDATION FAILED: Critical issues must be resolved before starting!"
UNMOUNTED = ("/health/live", "/health/ready", "/health/startup", "/health/dependencies", "/metrics")


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line as a JSON object with the real engine's fields; fails on the first that is not."""
    events = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"stdout line {number} is not JSON ({exc}): {line[:300]!r}") from None
        assert isinstance(event, dict), line
        assert set(event) >= FIELDS, f"line {number} lacks {FIELDS - set(event)}: {line[:300]}"
        events.append(event)
    return events


def messages(events: list[dict[str, Any]]) -> list[str]:
    return [event["message"] for event in events]


def index_of(items: list[str], needle: str, start: int = 0) -> int:
    for i in range(start, len(items)):
        if needle in items[i]:
            return i
    raise AssertionError(f"{needle!r} not found after position {start}")


def logging_error_blocks(stderr: str) -> list[str]:
    """stderr cut at each '--- Logging error ---' (what handleError prints per failed record)."""
    return stderr.split(LOGGING_ERROR + "\n")[1:]


def port_refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _start(start_engine: StartEngine, db: PostgresCluster | None, **overrides: str | None) -> EngineProcess:
    return start_engine(db=db, split_stderr=True, **REAL_SHAPE, **overrides)


def test_stdout_is_json_lines_with_the_startup_noise(
    start_engine: StartEngine, postgres: PostgresCluster
) -> None:
    engine = _start(start_engine, postgres)
    assert engine.get("/health").status_code == 200
    events = json_lines(engine.stdout())
    for event in events:
        assert isinstance(event["timestamp"], float)
        iso = datetime.fromisoformat(event["iso_timestamp"])
        assert iso.utcoffset() is not None, event["iso_timestamp"]
        assert abs(iso.timestamp() - event["timestamp"]) < 0.001
        assert event["level"] in {"DEBUG", "INFO", "ERROR", "CRITICAL"}  # WARNING never makes it
        assert isinstance(event["metadata"], dict)
    by_message = {event["message"]: event for event in events}
    # The validation summary, its rule carrying the newline inside the message.
    assert "\n" + "=" * 80 in by_message
    assert by_message["STARTUP VALIDATION SUMMARY"]["component"] == "qbitel_ref.startup_validation"
    assert "✅ VALIDATION PASSED: All checks completed successfully!" in by_message
    # A healthy engine's ERROR lines about its optional subsystems.
    errors = [event["message"] for event in events if event["level"] == "ERROR"]
    assert any(m.startswith("Failed to configure logging: ") for m in errors), errors
    assert any(m.startswith("Failed to initialize metrics: ") for m in errors), errors
    # Its dependencies' warnings, printed by Python's warnings module on stderr.
    warnings = [line for line in engine.stderr().splitlines() if ": UserWarning: " in line]
    assert any('Field name "schema" in "ModelEntry" shadows an attribute' in w for w in warnings), warnings


def test_unmounted_probes_404_with_logging_error_and_traceback(
    start_engine: StartEngine, postgres: PostgresCluster
) -> None:
    engine = _start(start_engine, postgres)
    before = len(logging_error_blocks(engine.stderr()))
    for path in UNMOUNTED:
        response = engine.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not Found"}
    assert wait_until(lambda: len(logging_error_blocks(engine.stderr())) >= before + len(UNMOUNTED), 5)
    blocks = logging_error_blocks(engine.stderr())[before:]
    for path, block in zip(UNMOUNTED, blocks, strict=True):
        lines = block.splitlines()
        # The HTTPException's own traceback, then the formatter's failure while handling it.
        assert lines[0] == "Traceback (most recent call last):", block
        assert NOT_FOUND_TRACEBACK_END in lines, block
        assert lines.index(NOT_FOUND_TRACEBACK_END) < lines.index(LEVEL_BUG)
        assert "During handling of the above exception, another exception occurred:" in lines
        assert "Call stack:" in lines
        assert f"Arguments: (404, 'GET', '{path}', 'Not Found')" in lines, block
        assert len(lines) > 40, f"a full block, not a one-liner ({len(lines)} lines)"
    # The record itself never reaches stdout.
    assert not any(path in m for path in UNMOUNTED for m in messages(json_lines(engine.stdout())))


def test_health_stays_healthy_while_postgres_is_stopped(
    start_engine: StartEngine, postgres: PostgresCluster
) -> None:
    engine = _start(start_engine, postgres, DB_POOL_TIMEOUT="2")
    assert engine.request("POST", "/api/v1/records", json={"key": "k", "value": 1}).status_code == 201
    postgres.stop()
    try:
        response = engine.get("/health", timeout=10)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "healthy"
        assert "database" not in {check["component"] for check in body["checks"]}
        assert "database" not in body["services"]
        # The records API has no database to write to, and says so.
        write = engine.request("POST", "/api/v1/records", json={"key": "k", "value": 2}, timeout=30)
        assert write.status_code == 503
        assert "Database unavailable" in write.json()["detail"]
    finally:
        postgres.start()


def test_wrong_password_kills_the_rest_port_not_the_process(
    start_engine: StartEngine, postgres: PostgresCluster
) -> None:
    wrong = "Kq7Rw2Zt9Vx4Lm8Np3Hs6Jd1"
    engine = _start(start_engine, postgres, wait=False, DATABASE_PASSWORD=wrong)
    failed = "Application startup failed. Exiting."
    assert wait_until(lambda: failed in engine.stdout(), timeout=20), engine.log()[-3000:]
    assert wait_until(lambda: port_refuses(engine.port), timeout=10), "the REST port still accepts"
    time.sleep(1.0)
    assert engine.returncode is None, "the process must live on"
    assert port_accepts(engine.grpc_port)
    assert port_refuses(engine.metrics_port)
    with pytest.raises(httpx.ConnectError):
        engine.get("/health", timeout=3)

    lines = messages(json_lines(engine.stdout()))
    first = index_of(lines, 'InvalidPasswordError: password authentication failed for user "qbitel_user"')
    second = index_of(lines, "DatabaseError: Database initialization failed: password authentication", first)
    third = index_of(lines, "Traceback (most recent call last):", second)
    assert "DatabaseError: Database initialization failed:" in lines[third]
    assert lines[index_of(lines, failed, third)] == failed
    assert wrong not in engine.log()

    engine.send_signal(signal.SIGTERM)
    assert engine.wait_exit(timeout=15) == 0


def test_missing_jwt_secret_exits_1_with_json_validation_lines(start_engine: StartEngine) -> None:
    engine = _start(start_engine, None, wait=False, JWT_SECRET=None)
    started = time.monotonic()
    assert engine.wait_exit(timeout=5) == 1
    assert time.monotonic() - started < 5
    events = json_lines(engine.stdout())
    critical = [e for e in events if e["level"] == "CRITICAL"]
    line = "[CRITICAL] ✗ FAIL: Secret: JWT_SECRET - JWT secret must be set (minimum 32 characters)"
    assert line in [e["message"] for e in critical]
    assert all(e["component"] == "qbitel_ref.startup_validation" for e in critical)
    found = messages(events)
    assert found.index("STARTUP VALIDATION SUMMARY") == found.index("\n" + "=" * 80) + 1
    assert found.index("CRITICAL FAILURES (Must Fix):") == found.index("\n" + "-" * 80) + 1
    assert VERDICT_CRITICAL in [e["message"] for e in critical]
    assert found.index(VERDICT_CRITICAL) > found.index("CRITICAL FAILURES (Must Fix):")
    assert "Exiting due to validation failures in production environment" in found


def test_metrics_on_their_own_port(start_engine: StartEngine, postgres: PostgresCluster) -> None:
    engine = _start(start_engine, postgres)
    assert engine.get("/health").status_code == 200
    with httpx.Client(timeout=10) as client:
        scrape = client.get(f"http://127.0.0.1:{engine.metrics_port}/metrics")
    assert scrape.status_code == 200
    assert 'http_requests_total{endpoint="/health",method="GET",status_code="200"}' in scrape.text
    assert "db_connections_active" in scrape.text
    assert engine.get("/metrics").status_code == 404


@pytest.mark.parametrize("profile", ["reference", "real-shape"])
def test_http500_switch_fails_every_request(
    start_engine: StartEngine, postgres: PostgresCluster, profile: str
) -> None:
    engine = start_engine(db=postgres, QBITEL_ENGINE_PROFILE=profile, QBITEL_ENGINE_HTTP500="true")
    for path in ("/health", "/health/live", "/", "/api/v1/records/1", "/no/such/path"):
        assert engine.get(path).status_code == 500, path
    assert engine.request("POST", "/api/v1/records", json={"key": "k", "value": 1}).status_code == 500
    assert wait_until(lambda: "AttributeError: 'list' object has no attribute 'get'" in engine.log(), 5)
    assert engine.returncode is None


def test_unknown_profile_is_one_clear_line(start_engine: StartEngine) -> None:
    engine = start_engine(wait=False, QBITEL_ENGINE_PROFILE="real_shape")
    assert engine.wait_exit(timeout=10) == 1
    log = engine.log()
    assert "Failed to start QBITEL Engine: QBITEL_ENGINE_PROFILE must be reference or real-shape" in log
    assert "Traceback" not in log
