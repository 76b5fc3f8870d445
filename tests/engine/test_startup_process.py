"""The engine as a process, before any database matters: validation exits, TLS, signals."""

from __future__ import annotations

import datetime
import signal
import time
from collections.abc import Callable
from pathlib import Path

from servicedown.chaos.certs import make_pair

from .engine_harness import EngineProcess, wait_until

StartEngine = Callable[..., EngineProcess]

VERDICT_CRITICAL = "❌ VALIDATION FAILED: Critical issues must be resolved before starting!"
EXIT_LINE = "Exiting due to validation failures in production environment"


def _exit_fast(engine: EngineProcess, bound: float = 5.0) -> tuple[int, float]:
    started = time.monotonic()
    code = engine.wait_exit(timeout=bound)
    return code, time.monotonic() - started


def test_production_without_jwt_secret_exits_1_fast(start_engine: StartEngine) -> None:
    engine = start_engine(wait=False, JWT_SECRET=None)
    code, took = _exit_fast(engine)
    log = engine.log()
    assert code == 1
    assert took < 5
    assert "[CRITICAL] ✗ FAIL: Secret: JWT_SECRET - JWT secret must be set (minimum 32 characters)" in log
    assert "STARTUP VALIDATION SUMMARY" in log
    assert "CRITICAL FAILURES (Must Fix):" in log
    assert VERDICT_CRITICAL in log
    assert EXIT_LINE in log
    # The log format: "<asctime> - <name> - <LEVEL> - <message>".
    verdict_line = next(line for line in log.splitlines() if VERDICT_CRITICAL in line)
    assert " - qbitel_ref.startup_validation - CRITICAL - " in verdict_line
    datetime.datetime.strptime(verdict_line.split(" - ")[0], "%Y-%m-%d %H:%M:%S,%f")


def test_short_secret_exits_1(start_engine: StartEngine) -> None:
    engine = start_engine(wait=False, ENCRYPTION_KEY="Zq8Xw3Vb7Nm2")
    code, _ = _exit_fast(engine)
    log = engine.log()
    assert code == 1
    assert "ENCRYPTION_KEY must be at least 32 characters long (current: 12)" in log
    assert "VALIDATION FAILED" in log
    assert EXIT_LINE in log


def test_weak_secrets_exit_1_without_printing_them(start_engine: StartEngine) -> None:
    canaries = {
        "DATABASE_PASSWORD": "CanaryPgPw-changeme-1a2b3c",
        "JWT_SECRET": "CanaryJwt-password-4d5e6f7a8b9c0d1e2f3a4b5c",
        "ENCRYPTION_KEY": "CanaryEnc-x",
    }
    engine = start_engine(wait=False, **canaries)
    code, _ = _exit_fast(engine)
    log = engine.log()
    assert code == 1
    assert "Weak Password: DATABASE_PASSWORD" in log
    assert "Weak Password: JWT_SECRET" in log
    assert VERDICT_CRITICAL in log
    for value in canaries.values():
        assert value not in log
        assert value.split("-")[0] not in log  # not even a prefix


def test_development_starts_despite_failures(start_engine: StartEngine) -> None:
    engine = start_engine(QBITEL_ENVIRONMENT="development", JWT_SECRET=None)
    log = engine.log()
    assert "[WARNING] ✗ FAIL: Secret: JWT_SECRET" in log
    assert "VALIDATION WARNING" in log
    assert EXIT_LINE not in log
    assert engine.get("/health/live").status_code == 200


def test_bad_number_setting_fails_to_start(start_engine: StartEngine) -> None:
    engine = start_engine(wait=False, DB_POOL_SIZE="many")
    code, _ = _exit_fast(engine, bound=15)
    assert code == 1
    assert "Failed to start QBITEL Engine: DB_POOL_SIZE must be an integer" in engine.log()


def test_port_in_use_fails_to_start(start_engine: StartEngine) -> None:
    first = start_engine()
    second = start_engine(wait=False, QBITEL_PORT=str(first.port))
    code, _ = _exit_fast(second, bound=15)
    assert code == 1
    assert "Failed to start QBITEL Engine: [Errno 98] Address already in use" in second.log()


def test_tls_enabled_without_files_exits_1(start_engine: StartEngine, tmp_path: Path) -> None:
    engine = start_engine(
        wait=False,
        TLS_ENABLED="true",
        TLS_CERT_FILE=str(tmp_path / "missing-cert.pem"),
        TLS_KEY_FILE=str(tmp_path / "missing-key.pem"),
    )
    code, _ = _exit_fast(engine)
    log = engine.log()
    assert code == 1
    assert "TLS certificate file not found" in log
    assert "VALIDATION FAILED" in log


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    pair = make_pair(valid_days=1)
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(pair.cert_pem)
    key_path.write_bytes(pair.key_pem)
    return cert_path, key_path


def test_tls_serves_https(start_engine: StartEngine, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    engine = start_engine(scheme="https", TLS_ENABLED="true", TLS_CERT_FILE=str(cert), TLS_KEY_FILE=str(key))
    assert engine.get("/health/live").status_code == 200
    assert "listening on https://" in engine.log()


def test_unloadable_certificate_fails_with_ssl_error(start_engine: StartEngine, tmp_path: Path) -> None:
    cert = tmp_path / "broken.crt"
    key = tmp_path / "broken.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    key.write_text("not a key\n")
    engine = start_engine(wait=False, TLS_ENABLED="true", TLS_CERT_FILE=str(cert), TLS_KEY_FILE=str(key))
    code, _ = _exit_fast(engine, bound=15)
    log = engine.log()
    assert code == 1
    assert "SSL error: cannot load TLS certificate" in log
    assert "Failed to start QBITEL Engine:" in log


def test_sigterm_drains_with_503_then_exits_0(start_engine: StartEngine) -> None:
    # No database needed: the drain gate answers before any route runs.
    engine = start_engine(QBITEL_DRAIN_SECONDS="3")
    engine.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    for path in ("/health", "/health/live", "/api/v1/records/1", "/metrics"):
        response = engine.get(path, timeout=5)
        assert response.status_code == 503, path
        assert response.headers["Retry-After"] == "60"
        assert response.json() == {"detail": "Service is shutting down. Please retry later."}
    code = engine.wait_exit(timeout=15)
    assert code == 0
    log = engine.log()
    assert "Received SIGTERM: shutting down QBITEL Engine" in log
    assert "QBITEL Engine stopped" in log


def test_sigterm_during_startup_exits_promptly(start_engine: StartEngine) -> None:
    engine = start_engine(wait=False)
    # The handler exists from the first log line on; before it, Python's default applies.
    assert wait_until(lambda: "Starting QBITEL Engine" in engine.log(), timeout=10)
    engine.send_signal(signal.SIGTERM)
    assert engine.wait_exit(timeout=15) == 0
