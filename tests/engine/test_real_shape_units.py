"""Pure logic of the real-shape profile: the profile setting, the JSON formatter, asyncpg's wording."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from qbitel_ref.real_shape.database_init import asyncpg_wording
from qbitel_ref.real_shape.observability.logging import JsonLineFormatter
from qbitel_ref.settings import Profile, Settings, SettingsError, read_profile

# libpq's own texts, as psycopg raises them (str(exc)) for a failed connection.
LIBPQ = 'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  '


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, Profile.REFERENCE), ("", Profile.REFERENCE), (" reference ", Profile.REFERENCE),
     ("real-shape", Profile.REAL_SHAPE), ("Real-Shape", Profile.REAL_SHAPE)],
)
def test_read_profile(raw: str | None, expected: Profile) -> None:
    env = {} if raw is None else {"QBITEL_ENGINE_PROFILE": raw}
    assert read_profile(env) is expected


def test_unknown_profile_names_the_choices() -> None:
    with pytest.raises(SettingsError, match=r"must be reference or real-shape, got 'realshape'"):
        read_profile({"QBITEL_ENGINE_PROFILE": "realshape"})


def test_settings_read_profile_switch_and_ports() -> None:
    settings = Settings.from_env({"QBITEL_ENGINE_PROFILE": "real-shape", "QBITEL_ENGINE_HTTP500": "true"})
    assert settings.profile is Profile.REAL_SHAPE
    assert settings.http500 is True
    assert (settings.metrics_port, settings.grpc_port) == (9090, 50051)
    default = Settings.from_env({})
    assert (default.profile, default.http500) == (Profile.REFERENCE, False)
    with pytest.raises(SettingsError, match="QBITEL_METRICS_PORT and QBITEL_GRPC_PORT must be 1-65535"):
        Settings.from_env({"QBITEL_GRPC_PORT": "70000"})


def _record(level: int, message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("qbitel_ref.test", level, __file__, 1, message, args, exc_info)


def test_json_line_fields() -> None:
    line = JsonLineFormatter().format(_record(logging.ERROR, "a\n%s", "b"))
    assert "\n" not in line  # one object per line; the newline stays inside, escaped
    event = json.loads(line)
    assert event["level"] == "ERROR"
    assert event["message"] == "a\nb"
    assert event["component"] == "qbitel_ref.test"
    assert event["category"] == "system"
    assert event["operation"] is None
    assert event["metadata"] == {}
    assert event["iso_timestamp"].endswith("+00:00")


def test_json_line_carries_the_exception() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        event = json.loads(JsonLineFormatter().format(_record(logging.CRITICAL, "failed", exc=exc)))
    assert event["exception"]["type"] == "RuntimeError"
    assert event["exception"]["message"] == "boom"
    assert event["exception"]["traceback"][0] == "Traceback (most recent call last):\n"


def test_warning_cannot_be_formatted_and_handler_prints_logging_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ValueError, match="'WARNING' is not a valid LogLevel"):
        JsonLineFormatter().format(_record(logging.WARNING, "w"))
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLineFormatter())
    handler.handle(_record(logging.WARNING, "careful %s", "now"))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("--- Logging error ---\nTraceback (most recent call last):\n")
    assert "ValueError: 'WARNING' is not a valid LogLevel" in captured.err
    assert "Message: 'careful %s'\nArguments: ('now',)" in captured.err


@pytest.mark.parametrize(
    ("message", "name"),
    [
        ('password authentication failed for user "qbitel_user"', "InvalidPasswordError"),
        ('database "qbitel" does not exist', "InvalidCatalogNameError"),
        ('role "nobody" does not exist', "InvalidAuthorizationSpecificationError"),
        ("sorry, too many clients already", "TooManyConnectionsError"),
        ("the database system is starting up", "CannotConnectNowError"),
        ("something new", "PostgresError"),
    ],
)
def test_asyncpg_wording_of_server_refusals(message: str, name: str) -> None:
    import psycopg

    wording = asyncpg_wording(psycopg.OperationalError(LIBPQ + message))
    assert (wording.exception, wording.message) == (name, message)
    assert wording.line() == f"{name}: {message}"


def test_asyncpg_wording_without_a_server_answer() -> None:
    import psycopg

    refused = psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
        "\tIs the server running on that host and accepting TCP/IP connections?"
    )
    wording = asyncpg_wording(refused)
    assert wording.exception == "ConnectionRefusedError"
    assert "\n" not in wording.message
    assert asyncpg_wording(TimeoutError()).line() == "TimeoutError: connection attempt timed out"
