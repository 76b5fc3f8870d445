"""Structured logging the way the real engine does it: one JSON object a line on stdout.

The module name shadows the standard library's ``logging`` inside this package, as
upstream's does; ``subsystems.py`` trips over that on purpose.

The formatter converts the record's level name with ``LogLevel(record.levelname)``. The enum
says ``WARN``, so every WARNING record raises ``ValueError: 'WARNING' is not a valid
LogLevel`` inside ``Handler.emit``, and the standard library prints its ``--- Logging error
---`` block with the traceback on stderr instead of the line. That is the real engine's bug,
kept: its log looks like that.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from enum import Enum
from typing import Any

# The same loggers the reference configuration routes through the root handler.
ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "asyncio", "psycopg", "psycopg.pool")


class LogLevel(Enum):
    """Upstream's level names: WARN where the standard library says WARNING."""

    TRACE = "TRACE"
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record; a message's newlines stay inside it, escaped."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "timestamp": record.created,
            "iso_timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": LogLevel(record.levelname).value,
            "category": getattr(record, "category", None) or "system",
            "message": record.getMessage(),
            "component": getattr(record, "component", None) or record.name,
            "operation": getattr(record, "operation", None),
            "metadata": getattr(record, "metadata", None) or {},
        }
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            event["exception"] = {
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": traceback.format_exception(exc),
            }
        return json.dumps(event, ensure_ascii=False, default=str)


def _utf8(stream: Any) -> None:
    # Validation lines carry ✓/✗/❌; a C locale must not turn them into errors.
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(encoding="utf-8", errors="backslashreplace", line_buffering=True)


def configure_json_logging(level: int = logging.INFO) -> None:
    """Every logger to stdout as JSON lines; handleError's blocks go to stderr."""
    _utf8(sys.stdout)
    _utf8(sys.stderr)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ROUTED_LOGGERS:
        child = logging.getLogger(name)
        child.handlers.clear()
        child.propagate = True
    logging.getLogger("psycopg").setLevel(logging.WARNING)
