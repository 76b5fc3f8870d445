"""Startup database initialisation, failing the way the real engine's does.

The real engine connects with asyncpg when its ASGI app starts and raises
``DatabaseError("Database initialization failed: ...")`` when that fails. This engine
connects with psycopg, so the failure is psycopg's (libpq's text, no SQLSTATE on a failed
connection); ``asyncpg_wording`` turns that real failure into the lines asyncpg's give,
e.g. ``InvalidPasswordError: password authentication failed for user "qbitel_user"``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

import psycopg

from ..database import one_line
from ..settings import DatabaseSettings

logger = logging.getLogger("qbitel_ref.database")

CONNECT_TIMEOUT_SECONDS = 5
INIT_TIMEOUT_SECONDS = 10.0

# libpq puts the server's own message after "FATAL:" (or "ERROR:") and two spaces.
_SERVER_MESSAGE = re.compile(r"\b(?:FATAL|ERROR):\s+(?P<message>.+)")

# The server's messages for the failures a connect meets, and the asyncpg exception each
# SQLSTATE becomes (asyncpg names its classes after the SQLSTATE condition).
_ASYNCPG_CLASSES = (
    (re.compile(r"^password authentication failed for user"), "InvalidPasswordError"),  # 28P01
    (re.compile(r"^no pg_hba\.conf entry"), "InvalidAuthorizationSpecificationError"),  # 28000
    (re.compile(r'^role ".*" does not exist'), "InvalidAuthorizationSpecificationError"),  # 28000
    (re.compile(r'^database ".*" does not exist'), "InvalidCatalogNameError"),  # 3D000
    (re.compile(r"^sorry, too many clients already"), "TooManyConnectionsError"),  # 53300
    (re.compile(r"^the database system is (starting up|shutting down)"), "CannotConnectNowError"),  # 57P03
)


@dataclass(frozen=True)
class AsyncpgWording:
    exception: str
    message: str

    def line(self) -> str:
        return f"{self.exception}: {self.message}"


class DatabaseError(Exception):
    """The startup database initialisation failed; the ASGI app does not start."""


def asyncpg_wording(exc: BaseException) -> AsyncpgWording:
    """The exception name and message asyncpg would have raised for this failure."""
    text = str(exc)
    found = _SERVER_MESSAGE.search(text)
    if found is not None:
        message = found.group("message").strip()
        for pattern, name in _ASYNCPG_CLASSES:
            if pattern.search(message):
                return AsyncpgWording(name, message)
        return AsyncpgWording("PostgresError", message)
    if isinstance(exc, TimeoutError):
        return AsyncpgWording("TimeoutError", "connection attempt timed out")
    if "Connection refused" in text:
        return AsyncpgWording("ConnectionRefusedError", one_line(exc))
    return AsyncpgWording(type(exc).__name__, one_line(exc))


async def initialize_database(settings: DatabaseSettings) -> None:
    """Connect once and run SELECT 1, within INIT_TIMEOUT_SECONDS; DatabaseError if not."""
    try:
        async with asyncio.timeout(INIT_TIMEOUT_SECONDS):
            conn = await psycopg.AsyncConnection.connect(
                settings.conninfo(connect_timeout=CONNECT_TIMEOUT_SECONDS), autocommit=True
            )
            try:
                await conn.execute("SELECT 1")
            finally:
                await conn.close()
    except (psycopg.Error, OSError, TimeoutError) as exc:
        wording = asyncpg_wording(exc)
        logger.error("%s", wording.line())
        error = DatabaseError(f"Database initialization failed: {wording.message}")
        logger.error("DatabaseError: %s", error)
        raise error from exc
    logger.info("Database initialized: %s:%d/%s", settings.host, settings.port, settings.name)
