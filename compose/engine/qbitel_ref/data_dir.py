"""The engine's data directory: write journal, heartbeat file, space probe.

All functions here block (fsync); callers run them in a worker thread.
Errors are plain OSError so the caller can log their text, e.g.
"[Errno 28] No space left on device".
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JOURNAL_NAME = "journal.log"
HEARTBEAT_NAME = "heartbeat.json"
FULL_PERCENT = 98.0  # at or above: the data dir counts as failed
LOW_PERCENT = 85.0  # at or above: a warning (the DiskSpaceLow alert's threshold)
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_out_of_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


@dataclass(frozen=True)
class DiskStatus:
    path: str
    used_percent: float | None
    inodes_used_percent: float | None
    free_bytes: int | None
    write_error: str | None

    @property
    def status(self) -> str:
        if self.write_error is not None:
            return "fail"
        worst = max(self.used_percent or 0.0, self.inodes_used_percent or 0.0)
        if worst >= FULL_PERCENT:
            return "fail"
        return "warn" if worst >= LOW_PERCENT else "pass"

    @property
    def message(self) -> str:
        if self.write_error is not None:
            return f"Data directory not writable: {self.write_error}"
        used = f"{self.used_percent:.1f}%" if self.used_percent is not None else "unknown"
        inodes = f"{self.inodes_used_percent:.1f}%" if self.inodes_used_percent is not None else "n/a"
        status = self.status
        if status == "fail":
            return f"Data directory full: {used} used, inodes {inodes} used"
        if status == "warn":
            return f"Data directory low on space: {used} used, inodes {inodes} used"
        return f"Data directory writable: {used} used, inodes {inodes} used"

    def as_details(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "used_percent": self.used_percent,
            "inodes_used_percent": self.inodes_used_percent,
            "free_bytes": self.free_bytes,
            "write_error": self.write_error,
        }


class DataDir:
    def __init__(self, path: Path, journal_max_bytes: int = 64 * 1024 * 1024) -> None:
        self.path = path
        self.journal_path = path / JOURNAL_NAME
        self.heartbeat_path = path / HEARTBEAT_NAME
        self.journal_max_bytes = journal_max_bytes
        # Appends from several worker threads must not interleave lines.
        self._journal_lock = threading.Lock()

    def prepare(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        # Leftovers of a probe interrupted by a kill (OOM, SIGKILL).
        for stale in self.path.glob(".probe-*"):
            with contextlib.suppress(OSError):
                stale.unlink()

    def append_journal(self, entry: dict[str, Any]) -> None:
        """Append one JSON line and fsync it, so a full disk fails this call."""
        line = (json.dumps(entry, separators=(",", ":"), default=str) + "\n").encode()
        with self._journal_lock:
            self._rotate_if_large()
            fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                _write_all(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def _rotate_if_large(self) -> None:
        # One previous generation is kept; the journal must not fill the disk itself.
        try:
            size = self.journal_path.stat().st_size
        except FileNotFoundError:
            return
        if size >= self.journal_max_bytes:
            os.replace(self.journal_path, self.journal_path.with_suffix(".log.1"))

    def write_heartbeat(self, state: dict[str, Any]) -> None:
        """Replace the heartbeat file atomically (write, fsync, rename)."""
        data = json.dumps(state, separators=(",", ":"), default=str).encode()
        tmp = self.path / f".{HEARTBEAT_NAME}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.heartbeat_path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def probe(self) -> DiskStatus:
        """Space figures plus a write of a fresh small file.

        A fresh file (not a rewrite of the last probe's) must take new blocks,
        so it fails with ENOSPC once something else has filled the disk.
        """
        used = inodes = None
        free: int | None = None
        try:
            st = os.statvfs(self.path)
            used_blocks = st.f_blocks - st.f_bfree
            # df's formula: the root-reserved blocks count as not available.
            if used_blocks + st.f_bavail > 0:
                used = round(100.0 * used_blocks / (used_blocks + st.f_bavail), 2)
            if st.f_files > 0:
                used_inodes = st.f_files - st.f_ffree
                if used_inodes + st.f_favail > 0:
                    inodes = round(100.0 * used_inodes / (used_inodes + st.f_favail), 2)
            free = st.f_bavail * st.f_frsize
        except OSError as exc:
            return DiskStatus(str(self.path), None, None, None, str(exc))
        probe = self.path / f".probe-{uuid.uuid4().hex}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                _write_all(fd, f"probe {time.time()}\n".encode().ljust(512, b"."))
            finally:
                os.close(fd)
        except OSError as exc:
            return DiskStatus(str(self.path), used, inodes, free, str(exc))
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
        return DiskStatus(str(self.path), used, inodes, free, None)
