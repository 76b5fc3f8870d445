"""Plain-text logging on stdout in the real engine's format."""

from __future__ import annotations

import io
import logging
import sys

LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


class SingleLineFilter(logging.Filter):
    """Fold multi-line messages (libpq's hints) into one line.

    Tracebacks are not part of the message and keep their lines, so a
    stack trace still reads as one in `docker logs`.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "\n" in message:
            record.msg = " ".join(message.split())
            record.args = None
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """Send every logger (ours, uvicorn's, asyncio's, psycopg's) to stdout.

    Line buffering keeps `docker logs` current even when PYTHONUNBUFFERED is
    not set; UTF-8 keeps the validation lines' ✓/✗/❌ readable under a C locale.
    """
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(encoding="utf-8", errors="backslashreplace", line_buffering=True)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(SingleLineFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn would otherwise keep its own handlers; asyncio's accept errors
    # (EMFILE: "Too many open files") must reach stdout through the root.
    for name in (
        "uvicorn",
        "uvicorn.error",
        "uvicorn.access",
        "asyncio",
        "psycopg",
        "psycopg.pool",
    ):
        child = logging.getLogger(name)
        child.handlers.clear()
        child.propagate = True
    # The pool narrates every checkout at INFO; its warnings (failed connects) stay.
    logging.getLogger("psycopg").setLevel(logging.WARNING)
