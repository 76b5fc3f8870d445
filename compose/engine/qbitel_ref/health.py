"""Dependency checks behind /health and the Kubernetes-style probes.

Nothing is cached: each request probes again, so a report is never older
than the request that asked for it. Each check is bounded (the database one
short, so /health answers well inside Docker's 10 s healthcheck timeout).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .data_dir import DataDir
from .database import Database, DatabaseUnavailable
from .log_throttle import ThrottledLog
from .memory import read_memory_usage

logger = logging.getLogger("qbitel_ref.health")

CHECK_TIMEOUT_SECONDS = 5.0
DATABASE_TIMEOUT_SECONDS = 2.0
MEMORY_FAIL_PERCENT = 95.0
MEMORY_WARN_PERCENT = 85.0


@dataclass
class CheckOutcome:
    status: str  # "pass" | "warn" | "fail"
    message: str
    critical: bool
    response_time_ms: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def as_probe(self) -> dict[str, Any]:
        """The shape /health/dependencies uses for one check."""
        return {
            "status": self.status,
            "message": self.message,
            "critical": self.critical,
            "response_time_ms": self.response_time_ms,
            **self.details,
        }


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


class DependencyChecks:
    def __init__(self, database: Database, data_dir: DataDir) -> None:
        self.database = database
        self.data_dir = data_dir
        self._disk_log = ThrottledLog(logger)

    async def database_check(self) -> CheckOutcome:
        started = time.perf_counter()
        try:
            await self.database.ping(timeout=DATABASE_TIMEOUT_SECONDS)
        except DatabaseUnavailable as exc:
            return CheckOutcome("fail", f"Database unreachable: {exc}", True, _elapsed_ms(started))
        return CheckOutcome("pass", "Database responding (SELECT 1)", True, _elapsed_ms(started))

    async def disk_check(self) -> CheckOutcome:
        started = time.perf_counter()
        status = await asyncio.to_thread(self.data_dir.probe)
        if status.status == "fail":
            self._disk_log.log(logging.ERROR, f"Data directory check failed: {status.message}")
        else:
            self._disk_log.reset()
        return CheckOutcome(status.status, status.message, True, _elapsed_ms(started), status.as_details())

    async def memory_check(self) -> CheckOutcome:
        started = time.perf_counter()
        usage = read_memory_usage()
        if usage is None:
            return CheckOutcome("warn", "Memory usage unknown", False, _elapsed_ms(started))
        details = {
            "usage_percent": usage.percent,
            "used_bytes": usage.used_bytes,
            "limit_bytes": usage.limit_bytes,
            "source": usage.source,
        }
        if usage.percent >= MEMORY_FAIL_PERCENT:
            status, message = "fail", f"Critical memory usage: {usage.percent:.1f}%"
        elif usage.percent >= MEMORY_WARN_PERCENT:
            status, message = "warn", f"High memory usage: {usage.percent:.1f}%"
        else:
            status, message = "pass", f"Memory usage {usage.percent:.1f}%"
        return CheckOutcome(status, message, False, _elapsed_ms(started), details)

    async def run_all(self, *, database: bool = True) -> dict[str, CheckOutcome]:
        """All checks concurrently, each bounded by CHECK_TIMEOUT_SECONDS.

        `database=False` leaves the database out, as the real engine's /health does.
        """
        checks: dict[str, tuple[Callable[[], Awaitable[CheckOutcome]], bool]] = {
            "database": (self.database_check, True),
            "disk": (self.disk_check, True),
            "memory": (self.memory_check, False),
        }
        if not database:
            del checks["database"]
        results = await asyncio.gather(*(_bounded(check, critical) for check, critical in checks.values()))
        return dict(zip(checks, results, strict=True))


async def _bounded(check: Callable[[], Awaitable[CheckOutcome]], critical: bool) -> CheckOutcome:
    started = time.perf_counter()
    try:
        return await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        message = f"Check timed out after {CHECK_TIMEOUT_SECONDS:g}s"
        return CheckOutcome("fail", message, critical, _elapsed_ms(started))
    except Exception as exc:  # a broken check must not break the endpoint
        logger.exception("Health check raised")
        return CheckOutcome("fail", f"Check error: {exc}", critical, _elapsed_ms(started))


def overall_probe_status(checks: dict[str, CheckOutcome]) -> str:
    if any(c.status == "fail" and c.critical for c in checks.values()):
        return "fail"
    if any(c.status != "pass" for c in checks.values()):
        return "warn"
    return "pass"


class StartupTracker:
    """The startup probe's state: grace period, timeout, latch once passed."""

    def __init__(
        self,
        grace_seconds: float,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.grace_seconds = grace_seconds
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self.started_at = clock()
        self.complete = False

    @property
    def elapsed(self) -> float:
        return self._clock() - self.started_at

    def evaluate(self, critical_ok: bool) -> tuple[bool, dict[str, Any]]:
        elapsed = round(self.elapsed, 3)
        if self.complete:
            return True, {
                "startup": {
                    "status": "pass",
                    "message": "Startup complete",
                    "elapsed_seconds": elapsed,
                }
            }
        if elapsed > self.timeout_seconds:
            return False, {
                "timeout": {
                    "status": "fail",
                    "message": f"Startup timeout exceeded ({self.timeout_seconds:g}s)",
                    "elapsed_seconds": elapsed,
                }
            }
        checks: dict[str, Any] = {
            "minimum_time": {
                "status": "pass" if elapsed >= self.grace_seconds else "fail",
                "message": f"Minimum startup time {self.grace_seconds:g}s",
                "elapsed_seconds": elapsed,
            },
            "critical_dependencies": {
                "status": "pass" if critical_ok else "fail",
                "message": (
                    "Critical dependencies ready" if critical_ok else "Critical dependencies not ready"
                ),
            },
        }
        if all(check["status"] == "pass" for check in checks.values()):
            self.complete = True
            logger.info("Startup complete after %.1fs", elapsed)
        return self.complete, checks
