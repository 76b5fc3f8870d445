"""The one result of a command run anywhere (a container, a host, a pod), and the one bound.

Exit codes follow the shell's and Docker's conventions, so every caller reads them alike:
124 the command overran its bound, 125 the platform refused to run it, 126 it could not be
started, 127 not found, 255 the transport itself failed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

TIMED_OUT, REFUSED, CANNOT_RUN, NOT_FOUND, TRANSPORT = 124, 125, 126, 127, 255


@dataclass
class CommandResult:
    rc: int
    stdout: str
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def output(self) -> str:
        """stdout and stderr together, as a terminal would show them."""
        return self.stdout + self.stderr

    def to_json(self) -> dict[str, Any]:
        return {"rc": self.rc, "stdout": self.stdout, "stderr": self.stderr}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> CommandResult:
        return cls(int(doc["rc"]), str(doc.get("stdout", "")), str(doc.get("stderr", "")))


class BackendError(RuntimeError):
    """The platform could not be asked (no Docker socket, an unreachable host or API...).

    The message says what failed and what to do; it is shown as is, never as a traceback."""


class UnreadableFile(BackendError):
    """The path is there but is not a file that can be read as one (a folder, a device, too
    large, a loop of links); the message says which, so it never reads as "missing"."""


class CallTimeout(TimeoutError):
    """A call did not return within its bound; the message says which call and the bound."""


def within(call: Callable[[], T], timeout_s: float, what: str) -> T:
    """call() in a daemon thread, waited for at most timeout_s: the clients underneath (docker's
    exec, testinfra's backends, a websocket) wait forever on a peer that never answers.

    Raises CallTimeout past the bound (the thread is abandoned, never joined); re-raises what
    the call raised."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread as is
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True, name=f"bounded: {what[:40]}")
    worker.start()
    worker.join(max(timeout_s, 0.0))
    if worker.is_alive():
        raise CallTimeout(f"{what}: no answer within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def end_process_group(proc: subprocess.Popen[Any], grace_s: float) -> None:
    """End a child started with `start_new_session` and whatever it started (its own process
    group, nothing else): SIGTERM, `grace_s` to end, then SIGKILL and as long again."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue
