"""An interrupt (Ctrl-C, or SIGTERM turned into one) while the checks' threads are being
started must not leave a thread behind that keeps the process from exiting.

`Thread.start()` waits for the new thread to run; an interrupt in that wait leaves the thread
running but unknown to its pool, blocked on the pool's queue. Unless the pool is shut down on
the way out, nothing ever wakes it, and the interpreter's exit waits for it forever (a chaos
run interrupted mid-fault cleaned up, printed its summary, and never ended).
"""

from __future__ import annotations

import threading
import time

import pytest

from servicedown import polling
from servicedown.config import Settings
from servicedown.diagnosis import runner
from servicedown.diagnosis.runner import run_checks
from servicedown.targets.url import UrlTarget


def check_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("check") and t.is_alive()]


@pytest.mark.parametrize("interrupted_start", [1, 3, 8])
def test_an_interrupt_while_check_threads_start_leaves_none_behind(monkeypatch, interrupted_start):
    assert polling.until(lambda: not check_threads(), 10), "threads of an earlier run still alive"
    real_start = threading.Thread.start
    started = {"n": 0}

    def start(self: threading.Thread) -> None:
        real_start(self)  # the thread runs, as it does when the interrupt lands in start()'s wait
        if self.name.startswith("check"):
            started["n"] += 1
            if started["n"] == interrupted_start:
                raise KeyboardInterrupt

    # Every check holds its thread a moment, so each one submitted starts a thread of its own
    # (a pool reuses an idle thread, and most checks of a URL target end at once).
    real_one = runner._one

    def slow_one(spec, ctx):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        return real_one(spec, ctx)

    monkeypatch.setattr(runner, "_one", slow_one)
    monkeypatch.setattr(threading.Thread, "start", start)
    settings = Settings(target="url", base_url="http://127.0.0.1:9", http_timeout_s=1.0)
    with pytest.raises(KeyboardInterrupt) as info:
        run_checks(settings, UrlTarget(settings))
    monkeypatch.undo()
    # The traceback (which pytest, like any caller, keeps) holds the pool: it is not collected.
    assert info.traceback
    assert polling.until(lambda: not check_threads(), 15), \
        f"left running: {[t.name for t in check_threads()]}"


EXITS = """
import sys, threading
from servicedown.config import Settings
from servicedown.diagnosis.runner import run_checks
from servicedown.targets.url import UrlTarget

real_start = threading.Thread.start
def start(self):
    real_start(self)
    if self.name.startswith("check"):
        raise KeyboardInterrupt
threading.Thread.start = start
settings = Settings(target="url", base_url="http://127.0.0.1:9", http_timeout_s=1.0)
try:
    run_checks(settings, UrlTarget(settings))
except KeyboardInterrupt:
    kept = sys.exc_info()  # as pytest keeps an interrupt's traceback to report it
    print("interrupted", flush=True)
"""


def test_a_process_interrupted_while_checks_start_still_exits():
    """The process itself ends (the bound only catches the hang: it normally takes a second)."""
    import subprocess
    import sys

    from tests.support import ROOT

    try:
        p = subprocess.run([sys.executable, "-c", EXITS], capture_output=True, text=True, timeout=60,
                           cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    except subprocess.TimeoutExpired:
        pytest.fail("the interrupted process did not exit: a check thread holds its exit")
    assert "interrupted" in p.stdout, p.stderr[-2000:]
