"""Whether a chaos run's owner could still be alive: the decision, then the real /proc view.

The decision is pure; it is fed invented views first (every kind of owner a sweep can meet).
The real view is then checked against real processes: this one, a child that exited, a PID
held by a later process, and a process in a PID namespace of its own (`unshare`, root only).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from servicedown import polling
from servicedown.chaos.owner import LocalProc, Owner, judge

ME = Owner("boot-a", "4026531836", 4242, "1000", "ci-1")


@dataclass
class View:
    me_: Owner | None = ME
    own: dict[int, str] = field(default_factory=dict)  # PID -> start, in the sweeper's namespace
    others: dict[str, dict[int, str]] = field(default_factory=dict)  # namespace -> PID -> start
    complete: bool = True

    def me(self) -> Owner | None:
        return self.me_

    def start_of(self, pid: int) -> str | None:
        return self.own.get(pid)

    def in_namespace(self, pidns: str) -> tuple[dict[int, str], bool]:
        return dict(self.others.get(pidns, {})), self.complete


def owner(**kw) -> Owner:
    return Owner(**{"boot": "boot-a", "pidns": ME.pidns, "pid": 77, "start": "500", "host": "ci-1", **kw})


DEAD = [
    ("its PID is gone, same namespace", owner(), View(own={})),
    ("its PID now belongs to a later process", owner(), View(own={77: "900"})),
    ("in a child namespace, gone", owner(pidns="4026532000"),
     View(others={"4026532000": {1: "400", 80: "600"}})),
    ("in a child namespace, PID reused", owner(pidns="4026532000"),
     View(others={"4026532000": {77: "650"}})),
]
ALIVE = [
    ("same namespace, same start", owner(), View(own={77: "500"})),
    ("in a child namespace, seen", owner(pidns="4026532000"), View(others={"4026532000": {77: "500"}})),
]
UNKNOWN = [
    ("another machine (another boot id), even with a free PID", owner(boot="boot-b"), View(own={})),
    ("same host name, another boot", owner(boot="boot-b", host="ci-1"), View(own={77: "9"})),
    ("a namespace out of sight (a sibling container, or gone)", owner(pidns="4026532999"), View()),
    ("a namespace seen only in part", owner(pidns="4026532000"),
     View(others={"4026532000": {1: "400"}}, complete=False)),
    ("the sweeper's /proc is not its own namespace's", owner(), View(me_=None)),
    ("labels without an identity", None, View()),
]


@pytest.mark.parametrize(("case", "who", "view"), DEAD, ids=[c[0] for c in DEAD])
def test_proven_dead(case, who, view):
    assert judge(who, view).dead


@pytest.mark.parametrize(("case", "who", "view"), ALIVE, ids=[c[0] for c in ALIVE])
def test_alive(case, who, view):
    assert judge(who, view).alive is True


@pytest.mark.parametrize(("case", "who", "view"), UNKNOWN, ids=[c[0] for c in UNKNOWN])
def test_cannot_tell_is_never_dead(case, who, view):
    verdict = judge(who, view)
    assert verdict.alive is None and not verdict.dead and verdict.reason


def test_labels_round_trip_and_incomplete_labels_name_nobody():
    assert Owner.from_labels(ME.labels()) == ME
    labels = ME.labels()
    for key in ("boot", "pidns", "pid", "start"):
        broken = {k: v for k, v in labels.items() if not k.endswith("." + key)}
        assert Owner.from_labels(broken) is None
    assert Owner.from_labels({**labels, "servicedown.chaos.owner.pid": "12a"}) is None
    # What older versions wrote: a PID and a host name only.
    assert Owner.from_labels({"servicedown.chaos.pid": "77", "servicedown.chaos.host": "ci-1"}) is None


# --- the real /proc ---------------------------------------------------------------------------
def test_this_process_is_alive_to_itself():
    me = LocalProc().me()
    assert me is not None and me.pid == os.getpid()
    assert judge(me, LocalProc()).alive is True


def test_an_exited_child_is_dead_and_a_reused_pid_is_told_apart():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    me = LocalProc().me()
    assert me is not None
    # Dead either way: its PID is free, or a later process (another start time) holds it.
    gone = Owner(me.boot, me.pidns, child.pid, "1", me.host)
    assert judge(gone, LocalProc()).dead
    # A live process under the owner's PID but with another start time: a later process.
    reused = Owner(me.boot, me.pidns, os.getpid(), str(int(me.start) + 1), me.host)
    assert judge(reused, LocalProc()).dead


def test_a_process_from_another_boot_is_left_alone():
    me = LocalProc().me()
    assert me is not None
    assert judge(Owner("another-boot", me.pidns, 999_999, "1", me.host), LocalProc()).alive is None


needs_unshare = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                                   reason="a PID namespace of its own needs root and unshare")

ROOT = Path(__file__).resolve().parents[2]
UNSHARE = ["unshare", "--pid", "--mount", "--fork", "--kill-child", "--mount-proc"]
INNER = ("import json, sys; from servicedown.chaos.owner import LocalProc; "
         "print(json.dumps(LocalProc().me().__dict__), flush=True); sys.stdin.read()")


@needs_unshare
def test_a_process_in_a_child_pid_namespace():
    """Alive while it runs; dead once it exits while its namespace lives on (its PID 1 waits);
    out of sight, never dead, once the namespace is gone."""
    script = f"{sys.executable} -c '{INNER}'; sleep 60"
    proc = subprocess.Popen(UNSHARE + ["sh", "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None and proc.stdin is not None
        inner = Owner(**json.loads(proc.stdout.readline()))
        me = LocalProc().me()
        assert me is not None and inner.pidns != me.pidns and inner.boot == me.boot
        assert judge(inner, LocalProc()).alive is True
        proc.stdin.close()  # the inner Python ends; its namespace's PID 1 (sh) sleeps on
        assert polling.until(lambda: judge(inner, LocalProc()).dead, 10), judge(inner, LocalProc())
    finally:
        proc.kill()
        proc.wait(timeout=30)
    # --kill-child: the namespace's PID 1 dies with unshare, and the namespace with it.
    assert polling.until(lambda: judge(inner, LocalProc()).alive is None, 10)
