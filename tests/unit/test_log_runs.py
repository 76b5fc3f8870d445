"""Logs read as the platforms give them: JSON lines by their fields, noise set aside, each
finding with its time and run (the real engine's observed output)."""

from __future__ import annotations

import json

from servicedown.probes import logscan
from servicedown.targets.base import CURRENT, EARLIER, LogLine

T0 = 1_796_160_000.0


def jl(message: str, level: str = "INFO", t: float = T0) -> str:
    return json.dumps({"timestamp": t, "iso_timestamp": "2026-12-01T20:40:00.000000+00:00",
                       "level": level, "category": "system", "message": message,
                       "component": "qbitel_ref.startup_validation", "operation": None,
                       "metadata": {}})


LOGGING_ERROR = """--- Logging error ---
Traceback (most recent call last):
  File "/x/starlette/routing.py", line 1, in app
starlette.exceptions.HTTPException: 404: Not Found

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/usr/lib/python3.11/logging/__init__.py", line 1110, in emit
ValueError: 'WARNING' is not a valid LogLevel
Call stack:
  File "/x/app.py", line 9, in handler
Message: 'HTTP %d on %s %s: %s'
Arguments: (404, 'GET', '/health/live', 'Not Found')""".splitlines()

NOT_FOUND_TRACEBACK = """Traceback (most recent call last):
  File "/x/starlette/routing.py", line 1, in app
starlette.exceptions.HTTPException: 404: Not Found""".splitlines()

CRASH = """Traceback (most recent call last):
  File "/x/engine.py", line 88, in start
ZeroDivisionError: division by zero""".splitlines()


def lines(texts, run=CURRENT, t=None):
    return [LogLine(text, t, run) for text in texts]


def test_json_lines_are_read_by_their_fields():
    text = logscan.as_text(jl("[CRITICAL] ✗ FAIL: Secret: JWT_SECRET - JWT secret must be set", "CRITICAL"))
    assert text.startswith("CRITICAL - qbitel_ref.startup_validation - [CRITICAL] ✗ FAIL")
    assert logscan.as_text(jl("\n" + "=" * 80)).endswith(" | " + "=" * 80)
    assert logscan.as_text("{not json") == "{not json"
    assert logscan.as_text('{"no": "message"}') == '{"no": "message"}'


def test_a_json_lines_own_time_and_the_plain_formatters():
    assert logscan.line_time(jl("x", t=T0 + 1.5)) == T0 + 1.5
    assert logscan.line_time("2026-12-01 20:40:00,250 - qbitel_ref.app - INFO - x") is not None
    assert logscan.line_time("no time") is None


def test_noise_blocks_of_a_healthy_real_engine_are_set_aside():
    texts = ["ok", *LOGGING_ERROR, "between", *NOT_FOUND_TRACEBACK, *CRASH]
    noise, blocks = logscan.noise_lines(texts)
    assert blocks == 2
    assert texts.index("between") not in noise and 0 not in noise
    crash_at = len(texts) - len(CRASH)
    assert crash_at not in noise  # a real traceback stays evidence


def test_scan_log_keeps_time_and_run_and_ignores_noise():
    log = (lines(LOGGING_ERROR * 3, t=T0) + lines(["Database connection error: refused"], EARLIER, T0 - 60)
           + lines(CRASH, CURRENT, T0 + 1))
    found = logscan.scan_log(log)
    assert found.noise_blocks == 3
    traces = found.hits["logs.stack_trace"]
    assert len(traces) == 1 and traces[0].run == CURRENT and traces[0].time == T0 + 1
    db = found.hits["logs.db_error"]
    assert db[0].run == EARLIER and db[0].time == T0 - 60


def test_scan_log_reads_json_validation_lines():
    log = lines([jl("[CRITICAL] ✗ FAIL: Secret: JWT_SECRET - JWT secret must be set (minimum 32 "
                    "characters)", "CRITICAL"), jl("❌ VALIDATION FAILED: Critical issues must be resolved",
                                                  "CRITICAL")])
    found = logscan.scan_log(log)
    assert len(found.hits["logs.validation"]) == 2
    assert found.hits["logs.validation"][0].time == T0  # from the line's own timestamp
