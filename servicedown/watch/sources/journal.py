"""systemd: `journalctl -f` and the unit's properties, in one command on the host."""

from __future__ import annotations

import contextlib
import selectors
import shlex
import subprocess
import threading
import time
from collections.abc import Iterator

from servicedown.backends.command import end_process_group
from servicedown.backends.host import HostBackend
from servicedown.config import Settings
from servicedown.targets.systemd_read import unit_id
from servicedown.watch.sources.base import Emit, Source, WatchEvent

HOST_SESSION_S = 300  # the follower on a systemd host ends after this and is started again
HOST_SILENCE_S = 15.0  # the follower prints a heartbeat every 5 s; this long without a line: gone

# One command on the host: `journalctl -f` for the unit's lines (systemd's own about it too), and
# the unit's properties printed when they change, with a heartbeat so silence can be told from
# a host that is gone. Both bounded by `timeout` where the host has it; a closed pipe ends both.
FOLLOW_SCRIPT = r"""
unit="$1"; bound="$2"
t() { if command -v timeout >/dev/null 2>&1; then timeout -k 2 "$@"; else shift; "$@"; fi; }
t "$bound" journalctl -f -n 0 -q -o short-unix --no-pager -u "$unit" &
j=$!
trap 'kill $j 2>/dev/null' EXIT INT TERM HUP PIPE
last=""; n=0
while [ "$n" -lt "$bound" ]; do
  now=$(systemctl show "$unit" -p ActiveState -p SubState -p MainPID -p NRestarts -p Result 2>&1 \
        | tr '\n' ' ')
  if [ "$now" != "$last" ]; then echo "P $(date +%s.%N) $now" || exit 0; last="$now"; fi
  if [ $((n % 5)) -eq 0 ]; then echo H || exit 0; fi
  n=$((n + 1)); sleep 1
done
"""
LIFECYCLE = ("Main process exited", "Failed with result", "Scheduled restart job", "OOM killer",
             "Start request repeated", "Failed to ", "Killing process", "Stopping", "Stopped",
             "Deactivated successfully", "Started", "Consumed", "A process of this unit")
ERROR_WORDS = ("ERROR", "CRITICAL", "FATAL", "Traceback", "Exception")


def unit_props(text: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in text.split() if "=" in p)


class JournalFollow(Source):
    name_word = "journal"

    def __init__(self, emit: Emit, settings: Settings) -> None:
        super().__init__(emit)
        self.settings = settings
        self.unit = unit_id(settings.unit)
        self.backend = HostBackend(settings.host)
        self.proc: subprocess.Popen[str] | None = None
        self.main_pid: str | None = None
        self.props: dict[str, str] = {}

    def follow(self) -> None:
        argv = self.backend.stream_argv(shlex.join(["sh", "-c", FOLLOW_SCRIPT, "sh", self.settings.unit,
                                                    str(HOST_SESSION_S)]))
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1,
                                     start_new_session=True)
        last_other = ""
        try:
            for line in _lines(self.proc, HOST_SILENCE_S, self.stopping):
                if line == "H":
                    self.mark(True)
                elif line.startswith("P "):
                    self.mark(True)
                    self._props(line[2:])
                elif line[:1].isdigit():
                    self._journal(line)
                elif line.strip():
                    last_other = line.strip()
        finally:
            _end(self.proc)
        if not self.stopping.is_set() and self.proc.returncode not in (0, 124, None):
            raise RuntimeError(f"following the journal on {self.settings.host} failed "
                               f"(exit {self.proc.returncode}): {last_other[:200]}")

    def _props(self, text: str) -> None:
        stamp, _, rest = text.partition(" ")
        try:
            at = float(stamp)
        except ValueError:
            at = time.time()
        props = unit_props(rest)
        pid = props.get("MainPID")
        restarted = bool(pid and pid != "0" and self.main_pid not in (None, "0", pid))
        restarted = restarted or bool(self.main_pid == "0" and pid not in (None, "0") and self.props)
        if pid and pid != "0":
            self.main_pid = pid
        elif pid == "0":
            self.main_pid = self.main_pid if self.main_pid is not None else "0"
        if props == self.props:
            return
        first = not self.props
        self.props = props
        if first:
            return  # the state the full run already read
        what = (f"unit {self.unit}: {props.get('ActiveState')}/{props.get('SubState')} "
                f"(pid {pid}, restarts {props.get('NRestarts')}, result {props.get('Result')})")
        self.emit(WatchEvent(at, "service", what, "journal", restart=restarted))

    def _journal(self, line: str) -> None:
        stamp, _, rest = line.partition(" ")
        try:
            at = float(stamp)
        except ValueError:
            return
        _host, _, text = rest.partition(" ")
        ident, _, message = text.partition(": ")
        if ident.startswith("systemd") and any(w in message for w in LIFECYCLE):
            self.emit(WatchEvent(at, "service", f"journal: {message[:200]}", "journal"))
        elif any(w in message for w in ERROR_WORDS):
            self.emit(WatchEvent(at, "log", f"journal: {message[:200]}", "journal"))

    def stop(self) -> None:
        super().stop()
        if self.proc is not None:
            _end(self.proc)


def _lines(proc: subprocess.Popen[str], silence_s: float, stopping: threading.Event) -> Iterator[str]:
    """The process's output lines; RuntimeError after silence_s without one (the host is gone)."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while not stopping.is_set():
            if not sel.select(timeout=silence_s):
                raise RuntimeError(f"no word from the host for {silence_s:g} s")
            line = proc.stdout.readline()
            if not line:
                return
            yield line.rstrip("\n")
    finally:
        sel.close()


def _end(proc: subprocess.Popen[str]) -> None:
    """End the follower and whatever it started (its own process group)."""
    if proc.poll() is None:
        end_process_group(proc, grace_s=3)
    if proc.stdout is not None:
        with contextlib.suppress(Exception):
            proc.stdout.close()
