"""File descriptor pressure, reported in the words the runbook greps for.

With uvloop, libuv handles EMFILE on accept() silently (it accepts and drops
the connection), so nothing would say "Too many open files". The heartbeat
loop calls this every few seconds so the log says it anyway.
"""

from __future__ import annotations

import errno
import os
import resource
from dataclasses import dataclass

NEAR_LIMIT_RATIO = 0.9
AT_LIMIT_SLACK = 2  # libuv keeps a spare fd for its EMFILE trick


@dataclass(frozen=True)
class FdPressure:
    level: str  # "ok" | "warn" | "error"
    message: str


def _soft_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def check_fd_pressure(fd_dir: str = "/proc/self/fd", limit: int | None = None) -> FdPressure:
    limit = _soft_limit() if limit is None else limit
    try:
        # listdir needs a descriptor itself: EMFILE here is the answer.
        in_use = len(os.listdir(fd_dir))
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            return FdPressure("error", f"Too many open files: limit of {limit} reached ({exc})")
        return FdPressure("ok", f"open file descriptors unknown ({exc})")
    if in_use >= limit - AT_LIMIT_SLACK:
        message = f"Too many open files: {in_use} of {limit} file descriptors in use"
        return FdPressure("error", message)
    if in_use >= limit * NEAR_LIMIT_RATIO:
        return FdPressure("warn", f"File descriptors near limit: {in_use} of {limit} in use")
    return FdPressure("ok", f"{in_use} of {limit} file descriptors in use")
