"""One bounded poll loop for every wait in the project (chaos, remediation, tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def until(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.2,
          give_up: Callable[[], bool] | None = None) -> Any:
    """The first truthy value of predicate() within timeout_s, else a falsy one.

    The predicate is asked once more at the bound, so a slow last step still counts;
    `give_up()` returning True ends the wait early (e.g. the process being waited on died).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline or (give_up is not None and give_up()):
            return value
        time.sleep(interval_s)
