"""One bounded poll loop for every wait in the project (chaos, remediation, watch, tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def until(fetch: Callable[[], T], timeout_s: float, interval_s: float = 0.2,
          give_up: Callable[[], bool] | None = None,
          done: Callable[[T], Any] | None = None) -> T:
    """Call fetch() until done(value) holds (default: the value is truthy) or timeout_s passes;
    return the last value, so the caller can say what it saw last.

    fetch() is asked once more at the bound, so a slow last step still counts; `give_up()`
    returning True ends the wait early (e.g. the process being waited on died).
    """
    accept = done if done is not None else bool
    deadline = time.monotonic() + timeout_s
    while True:
        value = fetch()
        if accept(value) or time.monotonic() >= deadline or (give_up is not None and give_up()):
            return value
        time.sleep(min(interval_s, max(deadline - time.monotonic(), 0.0)))
