"""PostgreSQL access: a real connection pool, the records table, the health ping.

The engine must come up and report the database as down rather than crash,
so the pool opens without waiting and the schema is created by a background
task that keeps retrying.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from .circuit_breaker import CircuitBreaker
from .log_throttle import ThrottledLog
from .metrics import EngineMetrics
from .settings import DatabaseSettings

logger = logging.getLogger("qbitel_ref.database")

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS records (
        id BIGSERIAL PRIMARY KEY,
        key TEXT NOT NULL,
        value JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX IF NOT EXISTS records_key_id_idx ON records (key, id)",
)
MAX_LIST_LIMIT = 1000
STATEMENT_TIMEOUT_MS = 15000


def one_line(exc: BaseException) -> str:
    """libpq messages span lines; log lines must not."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class DatabaseUnavailable(Exception):
    """The database could not serve a request; the API answers 503."""


class InvalidRecord(Exception):
    """Postgres refused the value itself (e.g. a NUL in a JSON string)."""


@dataclass(frozen=True)
class Record:
    id: int
    key: str
    value: Any
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "value": self.value,
            "created_at": self.created_at.isoformat(),
        }


def _is_dependency_failure(exc: BaseException) -> bool:
    # Only failures of the database itself count towards opening the breaker.
    return isinstance(exc, DatabaseUnavailable)


class Database:
    def __init__(
        self,
        settings: DatabaseSettings,
        metrics: EngineMetrics,
        breaker: CircuitBreaker,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.breaker = breaker
        self.schema_ready = False
        self._pool: AsyncConnectionPool | None = None
        self._schema_lock = asyncio.Lock()
        self._health_log = ThrottledLog(logger)
        metrics.db_connections_max.set(settings.pool_max_size)

    # -- lifecycle -----------------------------------------------------------

    async def open(self) -> None:
        conninfo = self.settings.conninfo(connect_timeout=5)
        self._pool = AsyncConnectionPool(
            conninfo,
            min_size=min(2, self.settings.pool_max_size),
            max_size=self.settings.pool_max_size,
            timeout=self.settings.pool_timeout,
            name="qbitel-db",
            open=False,
            # Pre-ping on checkout, like the real engine's pool_pre_ping.
            check=AsyncConnectionPool.check_connection,
            kwargs={"options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"},
        )
        await self._pool.open(wait=False)
        logger.info(
            "Database pool opened for %s:%d/%s (size %d, overflow %d, timeout %.0fs)",
            self.settings.host,
            self.settings.port,
            self.settings.name,
            self.settings.pool_size,
            self.settings.pool_max_overflow,
            self.settings.pool_timeout,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close(timeout=5.0)
            self._pool = None

    def pool_counts(self) -> tuple[int, int]:
        """(active, idle) connections; refreshed into the gauges at scrape time."""
        if self._pool is None:
            return 0, 0
        stats = self._pool.get_stats()
        size = stats.get("pool_size", 0)
        idle = stats.get("pool_available", 0)
        return max(0, size - idle), idle

    # -- schema --------------------------------------------------------------

    async def _connect_direct(self, timeout: float) -> psycopg.AsyncConnection[Any]:
        """A connection outside the pool, so failures show libpq's own reason."""
        async with asyncio.timeout(timeout):
            return await psycopg.AsyncConnection.connect(
                self.settings.conninfo(connect_timeout=int(timeout)), autocommit=True
            )

    async def ensure_schema(self) -> None:
        async with self._schema_lock:
            if self.schema_ready:
                return
            conn = await self._connect_direct(timeout=5.0)
            try:
                for statement in SCHEMA:
                    await conn.execute(statement)
            finally:
                await conn.close()
            self.schema_ready = True
            logger.info("Database schema ready (table 'records')")

    async def keep_schema(self) -> None:
        """Background task: retry until the table exists, backing off to 10 s."""
        delay = 1.0
        while not self.schema_ready:
            try:
                await self.ensure_schema()
                return
            except (psycopg.Error, OSError, TimeoutError) as exc:
                self.metrics.db_connection_errors_total.inc()
                logger.error("Database connection error: %s (retrying in %.0fs)", one_line(exc), delay)
            await asyncio.sleep(delay)
            delay = min(10.0, delay * 2)

    # -- health ----------------------------------------------------------------

    async def ping(self, timeout: float = 2.0) -> None:
        """SELECT 1 within `timeout` in all; logs `Database health check failed`.

        An idle pooled connection answers cheaply. Without one (pool empty,
        exhausted or broken) a direct connection tells the real reason, e.g.
        "Connection refused" or "too many clients", instead of a pool timeout.
        """
        try:
            async with asyncio.timeout(timeout):
                if not await self._ping_pooled(timeout / 2):
                    conn = await self._connect_direct(timeout)
                    try:
                        await conn.execute("SELECT 1")
                    finally:
                        await conn.close()
        except (psycopg.Error, OSError, TimeoutError) as exc:
            self.metrics.db_connection_errors_total.inc()
            timed_out = isinstance(exc, TimeoutError)
            reason = f"no answer within {timeout:g}s" if timed_out else one_line(exc)
            self._health_log.log(logging.ERROR, f"Database health check failed: {reason}")
            raise DatabaseUnavailable(reason) from exc
        self._health_ok()

    async def _ping_pooled(self, timeout: float) -> bool:
        if self._pool is None or self.pool_counts()[1] == 0:
            return False
        try:
            async with asyncio.timeout(timeout):
                async with self._pool.connection(timeout=timeout) as conn:
                    await conn.execute("SELECT 1")
        except (psycopg.Error, OSError, TimeoutError):
            return False  # ask the server directly for the reason
        return True

    def _health_ok(self) -> None:
        if self._health_log.active:
            logger.info("Database health check succeeded again")
        self._health_log.reset()

    # -- records ---------------------------------------------------------------

    async def _run(self, operation: str, query: str, params: tuple[Any, ...]) -> list[Any]:
        """One transaction through the pool and the breaker; commits before returning."""
        if self._pool is None:
            raise DatabaseUnavailable("database pool is not open")
        with self.breaker.protect(_is_dependency_failure):
            try:
                if not self.schema_ready:
                    await self.ensure_schema()
                # The pool waits up to DB_POOL_TIMEOUT; the query has its own
                # statement_timeout; this bound covers a silent network.
                async with asyncio.timeout(self.settings.pool_timeout + 20):
                    async with self._pool.connection() as conn, conn.transaction():
                        cursor = await conn.execute(query, params)
                        rows = await cursor.fetchall()
                return rows
            except psycopg.errors.UndefinedTable as exc:
                self.schema_ready = False  # someone dropped it: recreate next time
                raise self._unavailable(operation, exc) from exc
            except psycopg.DataError as exc:
                raise InvalidRecord(one_line(exc)) from exc
            except (psycopg.Error, OSError, TimeoutError) as exc:
                raise self._unavailable(operation, exc) from exc

    def _unavailable(self, operation: str, exc: BaseException) -> DatabaseUnavailable:
        self.metrics.db_connection_errors_total.inc()
        reason = one_line(exc) if not isinstance(exc, TimeoutError) else "timed out"
        logger.error("Database connection error: %s failed: %s", operation, reason)
        return DatabaseUnavailable(reason)

    async def insert_record(self, key: str, value: Any) -> Record:
        rows = await self._run(
            "insert",
            "INSERT INTO records (key, value) VALUES (%s, %s) RETURNING id, key, value, created_at",
            (key, Jsonb(value)),
        )
        return Record(*rows[0])

    async def get_record(self, record_id: int) -> Record | None:
        rows = await self._run(
            "select",
            "SELECT id, key, value, created_at FROM records WHERE id = %s",
            (record_id,),
        )
        return Record(*rows[0]) if rows else None

    async def list_records(self, key: str, limit: int) -> list[Record]:
        rows = await self._run(
            "list",
            "SELECT id, key, value, created_at FROM records WHERE key = %s ORDER BY id LIMIT %s",
            (key, max(1, min(limit, MAX_LIST_LIMIT))),
        )
        return [Record(*row) for row in rows]
