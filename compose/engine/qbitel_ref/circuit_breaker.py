"""Circuit breaker for the database: closed -> open -> half-open -> closed."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum

logger = logging.getLogger("qbitel_ref.circuit_breaker")


class BreakerState(IntEnum):
    # Values are what the qbitel_circuit_breaker_state metric exports.
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitOpenError(Exception):
    def __init__(self, name: str, retry_after: int) -> None:
        super().__init__(f"circuit breaker '{name}' is open; retry in {retry_after}s")
        self.retry_after = retry_after


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures.

    After `recovery_seconds` one caller at a time may probe (half-open): its
    success closes the breaker, its failure opens it for another period.
    """

    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        recovery_seconds: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_seconds = recovery_seconds
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        # Open turns half-open lazily, when someone looks after the recovery time.
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.recovery_seconds:
            self._set(BreakerState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_after(self) -> int:
        remaining = self.recovery_seconds - (self._clock() - self._opened_at)
        return max(1, math.ceil(remaining))

    def acquire(self) -> None:
        """Raise CircuitOpenError unless a call may go through now."""
        state = self.state
        if state is BreakerState.OPEN:
            raise CircuitOpenError(self.name, self.retry_after())
        if state is BreakerState.HALF_OPEN:
            if self._probe_in_flight:
                raise CircuitOpenError(self.name, 1)
            self._probe_in_flight = True

    def record_success(self) -> None:
        self._probe_in_flight = False
        self._failures = 0
        if self._state is not BreakerState.CLOSED:
            self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._probe_in_flight = False
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or (
            self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold
        ):
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)

    def release(self) -> None:
        """The call ended without telling anything about the dependency."""
        self._probe_in_flight = False

    @contextmanager
    def protect(self, is_failure: Callable[[BaseException], bool]) -> Iterator[None]:
        self.acquire()
        try:
            yield
        except BaseException as exc:
            if is_failure(exc):
                self.record_failure()
            else:
                self.release()
            raise
        self.record_success()

    def _set(self, state: BreakerState) -> None:
        previous, self._state = self._state, state
        if state is BreakerState.OPEN:
            logger.warning(
                "Circuit breaker '%s' opened after %d consecutive failures; retry in %.0fs",
                self.name,
                self._failures,
                self.recovery_seconds,
            )
        elif state is BreakerState.HALF_OPEN:
            logger.info("Circuit breaker '%s' half-open: probing", self.name)
        elif previous is not BreakerState.CLOSED:
            logger.info("Circuit breaker '%s' closed", self.name)
        if self._on_change is not None:
            self._on_change(state)
