"""Repeat-suppression for error lines that a probe or a loop may hit often."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class ThrottledLog:
    """Log a message at once when it changes, else at most every `interval` s.

    /health may be hit hundreds of times a second by a load test while the
    database is down; one line every few seconds says the same thing.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last_message: str | None = None
        self._last_at = float("-inf")
        self._suppressed = 0

    @property
    def active(self) -> bool:
        return self._last_message is not None

    def log(self, level: int, message: str) -> None:
        now = self._clock()
        if message == self._last_message and now - self._last_at < self._interval:
            self._suppressed += 1
            return
        text = message
        if self._suppressed and message == self._last_message:
            text = f"{message} ({self._suppressed} repeats suppressed)"
        self._logger.log(level, text)
        self._last_message = message
        self._last_at = now
        self._suppressed = 0

    def reset(self) -> None:
        self._last_message = None
        self._suppressed = 0
