"""Who owns a chaos run, and whether that owner could still be alive.

A PID alone names nobody: two runs on one Docker host may live in different PID namespaces
(containers, `unshare`) or on different machines, and a PID is reused after its process dies.
So a run's labels carry its owner's identity:

- the kernel's boot id (/proc/sys/kernel/random/boot_id): one per boot of one kernel, the
  same in every container on it, different on another machine or after a reboot;
- the inode of its PID namespace (/proc/self/ns/pid);
- its PID in that namespace;
- its start time (clock ticks after boot, field 22 of /proc/PID/stat), which tells the owner
  from a later process that got the same PID.

An owner is judged dead only when that is proven from here: same kernel boot, and either its
namespace is this process's own, or a namespace this process can see completely (its own
descendants are all visible in /proc), with no process of that PID and start time in it.
Everything else (another machine, a namespace out of sight, labels without an identity) is
"cannot tell", and its stack is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

PREFIX = "servicedown.chaos.owner."
KEYS = ("boot", "pidns", "pid", "start", "host")


@dataclass(frozen=True)
class Owner:
    boot: str
    pidns: str
    pid: int
    start: str
    host: str = ""

    def labels(self) -> dict[str, str]:
        return {PREFIX + k: str(getattr(self, k)) for k in KEYS}

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Owner | None:
        """The owner a resource's labels name, or None when they do not name one fully."""
        got = {k: (labels.get(PREFIX + k) or "").strip() for k in KEYS}
        if not (got["boot"] and got["pidns"].isdigit() and got["pid"].isdigit()
                and got["start"].isdigit()):
            return None
        return cls(got["boot"], got["pidns"], int(got["pid"]), got["start"], got["host"])


@dataclass(frozen=True)
class Judgement:
    alive: bool | None  # None: cannot tell from here
    reason: str

    @property
    def dead(self) -> bool:
        return self.alive is False


class ProcView(Protocol):
    """What this process can see of the others (the real one reads /proc)."""

    def me(self) -> Owner | None:
        """This process's identity; None when /proc is not its own namespace's view."""

    def start_of(self, pid: int) -> str | None:
        """Start time of a PID of this process's own namespace; None if no such process."""

    def in_namespace(self, pidns: str) -> tuple[dict[int, str], bool]:
        """{PID inside that namespace: start time} of the processes seen in it, and whether
        every process here could be examined (a hidden one might be the owner)."""


def judge(owner: Owner | None, proc: ProcView) -> Judgement:
    if owner is None:
        return Judgement(None, "its labels name no owner identity (made by an older version)")
    me = proc.me()
    if me is None:
        return Judgement(None, "this process's /proc is not its own PID namespace's view")
    if owner.boot != me.boot:
        return Judgement(None, f"its owner runs on another machine or boot (host '{owner.host}')")
    if owner.pidns == me.pidns:
        start = proc.start_of(owner.pid)
        seen, complete = ({owner.pid: start} if start else {}), True
    else:
        seen, complete = proc.in_namespace(owner.pidns)
        if not seen:
            # A namespace with no process in sight is gone or is not below this one.
            return Judgement(None, f"its owner's PID namespace {owner.pidns} is out of sight")
    start = seen.get(owner.pid)
    if start == owner.start:
        return Judgement(True, f"its owner (PID {owner.pid}) is alive")
    if start is not None:
        return Judgement(False, f"PID {owner.pid} now belongs to a later process")
    if not complete:
        return Judgement(None, "some processes of its owner's namespace could not be examined")
    return Judgement(False, f"no process {owner.pid} in its owner's PID namespace any more")


def _start_time(stat: str) -> str:
    # The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


class LocalProc:
    """The real view, from /proc."""

    def __init__(self, root: Path = Path("/proc")) -> None:
        self.root = root

    def me(self) -> Owner | None:
        try:
            stat = (self.root / "self" / "stat").read_text()
            if int(stat.split(" ", 1)[0]) != os.getpid():
                return None  # /proc mounted from another namespace: its PIDs are not ours
            boot = (self.root / "sys/kernel/random/boot_id").read_text().strip()
            pidns = str(os.stat(self.root / "self" / "ns" / "pid").st_ino)
            return Owner(boot, pidns, os.getpid(), _start_time(stat), os.uname().nodename)
        except (OSError, ValueError, IndexError):
            return None

    def start_of(self, pid: int) -> str | None:
        try:
            return _start_time((self.root / str(pid) / "stat").read_text())
        except (OSError, IndexError):
            return None

    def in_namespace(self, pidns: str) -> tuple[dict[int, str], bool]:
        seen: dict[int, str] = {}
        complete = True
        for entry in self.root.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                # NSpid: its PID in this namespace, then in each one below, down to its own.
                nspids = next(line.split()[1:] for line in (entry / "status").read_text().splitlines()
                              if line.startswith("NSpid:"))
                if len(nspids) == 1:
                    continue  # in this process's own namespace, which is not the owner's
                try:
                    if str(os.stat(entry / "ns" / "pid").st_ino) != pidns:
                        continue
                except PermissionError:
                    complete = False  # not allowed to look: it might be the owner
                    continue
                seen[int(nspids[-1])] = _start_time((entry / "stat").read_text())
            except FileNotFoundError:
                continue  # exited meanwhile
            except (OSError, StopIteration, ValueError, IndexError):
                complete = False
        return seen, complete
