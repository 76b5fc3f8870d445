"""The engine's parts wired together, plus its background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field

from .circuit_breaker import CircuitBreaker
from .data_dir import DataDir, is_out_of_space
from .database import Database
from .fd_watch import check_fd_pressure
from .health import DependencyChecks, StartupTracker
from .log_throttle import ThrottledLog
from .metrics import EngineMetrics
from .settings import Settings

logger = logging.getLogger("qbitel_ref.engine")


@dataclass
class DrainState:
    """Set by SIGTERM: from then on every request gets 503 + Retry-After."""

    draining: bool = False
    since: float = 0.0

    def begin(self) -> None:
        if not self.draining:
            self.draining = True
            self.since = time.monotonic()


@dataclass
class Engine:
    settings: Settings
    metrics: EngineMetrics
    breaker: CircuitBreaker
    database: Database
    data_dir: DataDir
    checks: DependencyChecks
    startup: StartupTracker
    drain: DrainState = field(default_factory=DrainState)
    started_wall: float = field(default_factory=time.time)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> Engine:
        metrics = EngineMetrics(settings.data_dir)
        gauge = metrics.circuit_breaker_state.labels("database")
        breaker = CircuitBreaker(
            "database",
            settings.breaker_failure_threshold,
            settings.breaker_recovery_seconds,
            on_change=lambda state: gauge.set(int(state)),
        )
        gauge.set(0)
        database = Database(settings.database, metrics, breaker)
        data_dir = DataDir(settings.data_dir, settings.journal_max_bytes)
        return cls(
            settings=settings,
            metrics=metrics,
            breaker=breaker,
            database=database,
            data_dir=data_dir,
            checks=DependencyChecks(database, data_dir),
            startup=StartupTracker(settings.startup_grace_seconds, settings.startup_timeout_seconds),
        )

    async def start(self) -> None:
        try:
            self.data_dir.prepare()
        except OSError as exc:
            # Not fatal: /health reports the data dir, as the runbook expects.
            logger.error("Data directory unavailable: %s: %s", self.data_dir.path, exc)
        await self.database.open()
        self._tasks = [
            asyncio.create_task(self.database.keep_schema(), name="schema"),
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.database.close()

    def refresh_gauges(self) -> None:
        active, idle = self.database.pool_counts()
        self.metrics.db_connections_active.set(active)
        self.metrics.db_connections_idle.set(idle)
        self.metrics.circuit_breaker_state.labels("database").set(int(self.breaker.state))

    async def _heartbeat_loop(self) -> None:
        """Write a small state file often, so a full disk shows without traffic."""
        failures = ThrottledLog(logger, interval=30.0)
        fd_log = ThrottledLog(logger, interval=30.0)
        while True:
            pressure = check_fd_pressure()
            if pressure.level == "ok":
                fd_log.reset()
            else:
                level = logging.ERROR if pressure.level == "error" else logging.WARNING
                fd_log.log(level, pressure.message)
            state = {
                "pid": os.getpid(),
                "version": self.settings.version,
                "timestamp": time.time(),
                "uptime_seconds": round(time.time() - self.started_wall, 1),
                "draining": self.drain.draining,
                "circuit_breaker": self.breaker.state.name.lower(),
            }
            try:
                await asyncio.to_thread(self.data_dir.write_heartbeat, state)
                if failures.active:
                    logger.info("Heartbeat write to %s works again", self.data_dir.path)
                failures.reset()
            except OSError as exc:
                what = "disk full" if is_out_of_space(exc) else "write error"
                failures.log(
                    logging.ERROR,
                    f"Heartbeat write failed ({what}) in {self.data_dir.path}: {exc}",
                )
            if not self.startup.complete:
                # Startup completes when its conditions hold, whoever asks: under Compose no
                # kubelet calls /health/startup, and the probe must not time out unasked.
                deps = await self.checks.run_all()
                self.startup.evaluate(all(c.status != "fail" for c in deps.values() if c.critical))
            await asyncio.sleep(self.settings.heartbeat_seconds)
