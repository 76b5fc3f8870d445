"""Startup validation rules, line formats, summary, verdicts, and secrecy."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from qbitel_ref.validation import (
    EXIT_LINE,
    VERDICT_CRITICAL,
    VERDICT_ERRORS,
    VERDICT_PASSED,
    VERDICT_WARNINGS,
    WEAK_PATTERNS,
    CheckResult,
    Severity,
    log_report,
    validate,
    validate_startup,
)

from .engine_harness import STRONG_ENCRYPTION_KEY, STRONG_JWT_SECRET

GOOD_ENV = {
    "QBITEL_ENVIRONMENT": "production",
    "DATABASE_HOST": "postgres",
    "DATABASE_PORT": "5432",
    "DATABASE_NAME": "qbitel",
    "DATABASE_USER": "qbitel_user",
    "DATABASE_PASSWORD": "Xv3Lq8Tz5Wn2Kb7Hc4Md9Pf6",
    "JWT_SECRET": STRONG_JWT_SECRET,
    "ENCRYPTION_KEY": STRONG_ENCRYPTION_KEY,
}


def env_with(**changes: str | None) -> dict[str, str]:
    env = dict(GOOD_ENV)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def lines(env: dict[str, str]) -> list[str]:
    return [r.line() for r in validate(env).results]


def test_good_production_env_passes() -> None:
    outcome = validate(GOOD_ENV)
    assert outcome.passed
    assert outcome.verdict == VERDICT_PASSED
    assert all(r.passed for r in outcome.results)
    assert "[INFO] ✓ PASS: Secret: JWT_SECRET - JWT_SECRET is properly configured (length: 36)" in [
        r.line() for r in outcome.results
    ]


def test_environment_defaults_to_production() -> None:
    env = env_with(QBITEL_ENVIRONMENT=None, JWT_SECRET=None)
    outcome = validate(env)
    assert outcome.environment == "production"
    assert not outcome.passed


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("DATABASE_PASSWORD", "Database password must be set"),
        ("JWT_SECRET", "JWT secret must be set (minimum 32 characters)"),
        ("ENCRYPTION_KEY", "Encryption key must be set (minimum 32 characters)"),
    ],
)
@pytest.mark.parametrize("missing", [None, "", "   "])
def test_missing_secret_is_critical(name: str, message: str, missing: str | None) -> None:
    outcome = validate(env_with(**{name: missing}))
    assert f"[CRITICAL] ✗ FAIL: Secret: {name} - {message}" in [r.line() for r in outcome.results]
    assert not outcome.passed
    assert outcome.verdict == VERDICT_CRITICAL


@pytest.mark.parametrize("name", ["JWT_SECRET", "ENCRYPTION_KEY"])
def test_short_secret_is_error(name: str) -> None:
    outcome = validate(env_with(**{name: "Zq8Xw3Vb7Nm2"}))
    expected = f"[ERROR] ✗ FAIL: Secret: {name} - {name} must be at least 32 characters long (current: 12)"
    assert expected in [r.line() for r in outcome.results]
    assert not outcome.passed
    assert outcome.verdict == VERDICT_ERRORS


def test_exactly_32_characters_is_enough() -> None:
    outcome = validate(env_with(JWT_SECRET="Zq8Xw3Vb7Nm2Lk4Jh6Gf9Dc1Sa5Qp0Wt"))
    assert outcome.passed


@pytest.mark.parametrize("pattern", WEAK_PATTERNS)
@pytest.mark.parametrize("name", ["DATABASE_PASSWORD", "JWT_SECRET"])
def test_weak_pattern_is_critical(name: str, pattern: str) -> None:
    value = f"Zq8Xw3Vb7Nm2{pattern.upper()}Lk4Jh6Gf9Dc1Sa5Qp0"
    outcome = validate(env_with(**{name: value}))
    expected = (
        f"[CRITICAL] ✗ FAIL: Weak Password: {name} - {name} contains weak/default password "
        "patterns. This is not allowed in production!"
    )
    assert expected in [r.line() for r in outcome.results]
    assert outcome.verdict == VERDICT_CRITICAL


def test_encryption_key_is_not_checked_for_weak_patterns() -> None:
    # The real engine checks DATABASE_PASSWORD and JWT_SECRET only.
    outcome = validate(env_with(ENCRYPTION_KEY="Zq8Xw3Vb7Nm2ADMINLk4Jh6Gf9Dc1Sa5Qp0"))
    assert outcome.passed


@pytest.mark.parametrize("name", ["DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME", "DATABASE_USER"])
def test_missing_database_setting_is_error(name: str) -> None:
    outcome = validate(env_with(**{name: None}))
    assert f"[ERROR] ✗ FAIL: Database Config: {name} - {name} must be set" in [
        r.line() for r in outcome.results
    ]
    assert outcome.verdict == VERDICT_ERRORS


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("0", "Invalid port number: 0 (must be 1-65535)"),
        ("65536", "Invalid port number: 65536 (must be 1-65535)"),
        ("abc", "DATABASE_PORT must be a number, got: abc"),
    ],
)
def test_bad_database_port_is_error(port: str, message: str) -> None:
    assert f"[ERROR] ✗ FAIL: Database Config: DATABASE_PORT - {message}" in lines(
        env_with(DATABASE_PORT=port)
    )


def test_valid_port_line() -> None:
    assert "[INFO] ✓ PASS: Database Config: DATABASE_PORT - DATABASE_PORT is valid: 5432" in lines(GOOD_ENV)


def test_tls_disabled_passes() -> None:
    assert "[INFO] ✓ PASS: Security: TLS/SSL - TLS is disabled" in lines(GOOD_ENV)


@pytest.mark.parametrize("unset", ["TLS_CERT_FILE", "TLS_KEY_FILE"])
def test_tls_without_files_is_critical(tmp_path: Path, unset: str) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    env = env_with(TLS_ENABLED="true", TLS_CERT_FILE=str(cert), TLS_KEY_FILE=str(cert))
    env.pop(unset)
    expected = (
        "[CRITICAL] ✗ FAIL: Security: TLS Certificates - TLS_CERT_FILE and TLS_KEY_FILE "
        "must be set when TLS is enabled"
    )
    assert expected in lines(env)
    assert validate(env).verdict == VERDICT_CRITICAL


def test_tls_missing_files_are_errors(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    env = env_with(TLS_ENABLED="true", TLS_CERT_FILE=str(cert), TLS_KEY_FILE=str(key))
    found = lines(env)
    assert f"[ERROR] ✗ FAIL: Security: TLS Certificate File - TLS certificate file not found: {cert}" in found
    assert f"[ERROR] ✗ FAIL: Security: TLS Key File - TLS key file not found: {key}" in found
    assert validate(env).verdict == VERDICT_ERRORS


def test_tls_present_files_pass(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("c")
    key.write_text("k")
    env = env_with(TLS_ENABLED="TRUE", TLS_CERT_FILE=str(cert), TLS_KEY_FILE=str(key))
    assert validate(env).passed
    assert "[INFO] ✓ PASS: Security: TLS Certificates - TLS certificate and key files are present" in lines(
        env
    )


def test_outside_production_failures_are_warnings() -> None:
    env = env_with(QBITEL_ENVIRONMENT="development", JWT_SECRET=None, DATABASE_PASSWORD="admin")
    outcome = validate(env)
    assert outcome.passed
    assert outcome.verdict == VERDICT_WARNINGS
    failed = [r for r in outcome.results if not r.passed]
    assert failed and all(r.severity is Severity.WARNING for r in failed)
    assert (
        "[WARNING] ✗ FAIL: Secret: JWT_SECRET - JWT secret must be set (minimum 32 characters) "
        "(allowed outside production)" in [r.line() for r in outcome.results]
    )


def test_line_format() -> None:
    result = CheckResult("Secret: JWT_SECRET", False, Severity.CRITICAL, "msg")
    assert result.line() == "[CRITICAL] ✗ FAIL: Secret: JWT_SECRET - msg"
    assert CheckResult("X", True, Severity.INFO, "ok").line() == "[INFO] ✓ PASS: X - ok"


def _report(env: dict[str, str], caplog: pytest.LogCaptureFixture) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="qbitel_ref"):
        passed = validate_startup(env)
    messages = [r.getMessage() for r in caplog.records]
    messages.append(f"passed={passed}")
    return messages


def test_summary_block_and_critical_list(caplog: pytest.LogCaptureFixture) -> None:
    messages = _report(env_with(JWT_SECRET=None, ENCRYPTION_KEY="short"), caplog)
    heading = messages.index("STARTUP VALIDATION SUMMARY")
    assert messages[heading - 1] == "=" * 80
    assert messages[heading + 1] == "=" * 80
    assert f"Total checks: {len(validate(env_with(JWT_SECRET=None)).results)}" in messages
    assert "  ✗ Critical: 1" in messages
    assert "  ✗ Error:    1" in messages
    critical = messages.index("CRITICAL FAILURES (Must Fix):")
    assert messages[critical - 1] == "-" * 80
    assert (
        "  [CRITICAL] ✗ FAIL: Secret: JWT_SECRET - JWT secret must be set (minimum 32 characters)"
        in messages[critical:]
    )
    assert "ERRORS (Should Fix):" in messages
    assert VERDICT_CRITICAL in messages
    assert messages.index(VERDICT_CRITICAL) > critical
    assert EXIT_LINE in messages
    assert messages[-1] == "passed=False"


def test_passing_report_ends_with_passed_verdict(caplog: pytest.LogCaptureFixture) -> None:
    messages = _report(GOOD_ENV, caplog)
    assert VERDICT_PASSED in messages
    assert EXIT_LINE not in messages
    assert not any("VALIDATION FAILED" in m for m in messages)
    assert messages[-1] == "passed=True"


def test_report_levels(caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="qbitel_ref"):
        log_report(validate(env_with(JWT_SECRET=None)))
    by_message = {r.getMessage(): r.levelno for r in caplog.records}
    assert by_message[VERDICT_CRITICAL] == logging.CRITICAL
    assert (
        by_message["[CRITICAL] ✗ FAIL: Secret: JWT_SECRET - JWT secret must be set (minimum 32 characters)"]
        == logging.CRITICAL
    )


CANARIES = {
    # Weak and short on purpose, so every secret-related rule fires.
    "DATABASE_PASSWORD": "CanaryDbPw-admin-7d1e",
    "JWT_SECRET": "CanaryJwt-secret-9f3a",
    "ENCRYPTION_KEY": "CanaryEnc-4b2c",
}


@pytest.mark.parametrize("environment", ["production", "development"])
def test_no_secret_value_is_ever_logged(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], environment: str
) -> None:
    env = env_with(QBITEL_ENVIRONMENT=environment, **CANARIES)
    messages = _report(env, caplog)
    text = "\n".join(messages) + capsys.readouterr().out
    assert "Weak Password: JWT_SECRET" in text  # the rules did fire
    for value in CANARIES.values():
        assert value not in text
        assert value.lower() not in text.lower()
        for piece in value.split("-"):
            if len(piece) >= 4 and piece.lower() not in WEAK_PATTERNS:
                assert piece not in text
