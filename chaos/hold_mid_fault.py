"""A pytest plugin for the interrupted run of the cleanup tests (`-p chaos.hold_mid_fault`).

After the first detection poll has been journalled, the fault is on and being looked at: the
run holds there until it is interrupted, and journals that it holds. The test sends Ctrl-C on
that journal entry, so the interrupt lands mid-fault however slow the machine is, instead of
racing a run that might have reverted the fault already.

It also gives the run Python's own Ctrl-C handler: a process started in the background by a
shell inherits SIGINT ignored, and Python then never turns Ctrl-C into KeyboardInterrupt.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from servicedown.chaos.journal import Journal

HOLD_S = 1800.0  # a backstop only: the test interrupts as soon as it reads the entry
_note = Journal.note


def _holding_note(self: Journal, experiment: str, phase: str, name: str, *args: Any,
                  **kwargs: Any) -> Any:
    act = _note(self, experiment, phase, name, *args, **kwargs)
    if phase == "detect" and name == "poll" and not getattr(self, "_held", False):
        self._held = True  # type: ignore[attr-defined]
        _note(self, experiment, "detect", "holding mid-fault until interrupted")
        end = time.monotonic() + HOLD_S
        while time.monotonic() < end:
            time.sleep(0.2)
    return act


def pytest_configure(config: pytest.Config) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    Journal.note = _holding_note  # type: ignore[method-assign]
