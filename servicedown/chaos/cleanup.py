"""Guaranteed cleanup of what a chaos run created, found by its labels only.

Ryuk (testcontainers' reaper) needs an image that cannot be pulled everywhere, so the harness
disables it and cleans up itself: in `with`/`finally`, at interpreter exit, and on SIGTERM
(turned into KeyboardInterrupt so every `finally` on the way runs). Nothing here ever lists
or removes a resource without this harness's label, so a stack of someone else (the
reference Compose project, another engineer's containers) is never touched.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

LABEL = "servicedown.chaos"  # value: the run id
LABEL_PID = "servicedown.chaos.pid"  # the process that owns the run
LABEL_HOST = "servicedown.chaos.host"  # the host that process runs on


class NotOwned(RuntimeError):
    """Chaos was asked to act on something this run did not create."""


def ensure_owned(obj: Any, run_id: str) -> Any:
    """Return the container (or network, volume) if this run created it, else raise."""
    attrs = getattr(obj, "attrs", None) or {}
    labels = (attrs.get("Config") or {}).get("Labels") or attrs.get("Labels") or {}
    if labels.get(LABEL) != run_id:
        name = getattr(obj, "name", "?")
        raise NotOwned(f"refusing to act on '{name}': it does not carry {LABEL}={run_id} "
                       "(chaos acts only on what its own run created)")
    return obj


@dataclass
class Leftovers:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.containers or self.networks or self.volumes)

    def to_json(self) -> dict[str, list[str]]:
        return {"containers": self.containers, "networks": self.networks, "volumes": self.volumes}


def _filters(run_id: str | None) -> dict[str, str]:
    return {"label": f"{LABEL}={run_id}" if run_id else LABEL}


def leftovers(client: Any, run_id: str | None) -> Leftovers:
    """What still exists with this run's label (or, with None, any chaos run's)."""
    f = _filters(run_id)
    return Leftovers(
        sorted(c.name for c in client.containers.list(all=True, filters=f)),
        sorted(n.name for n in client.networks.list(filters=f)),
        sorted(v.name for v in client.volumes.list(filters=f)),
    )


def remove_run(client: Any, run_id: str, errors: list[str] | None = None) -> Leftovers:
    """Remove every container, network and volume of one run (containers first: a network or
    volume in use cannot go). Each removal is tried even when an earlier one failed."""
    errors = [] if errors is None else errors
    f = _filters(run_id)
    for kind, lister, remover in (
        ("container", lambda: client.containers.list(all=True, filters=f),
         lambda c: c.remove(force=True, v=True)),
        ("network", lambda: client.networks.list(filters=f), lambda n: n.remove()),
        ("volume", lambda: client.volumes.list(filters=f), lambda v: v.remove(force=True)),
    ):
        try:
            items = lister()
        except Exception as exc:  # keep going: the next kind may still be removable
            errors.append(f"listing {kind}s: {exc}")
            continue
        for item in items:
            try:
                ensure_owned(item, run_id)
                remover(item)
            except Exception as exc:
                if "No such" not in str(exc) and "404" not in str(exc):
                    errors.append(f"removing {kind} {getattr(item, 'name', '?')}: {exc}")
    return leftovers(client, run_id)


def sweep_orphans(client: Any, host: str) -> list[str]:
    """Runs left behind by a chaos process on this host that no longer exists (killed hard,
    so its own cleanup never ran). A run whose process is alive is never touched."""
    runs: dict[str, str] = {}
    for c in client.containers.list(all=True, filters=_filters(None)):
        labels = c.labels or {}
        if labels.get(LABEL_HOST) == host:
            runs[labels.get(LABEL, "")] = labels.get(LABEL_PID, "")
    for kind in (client.networks, client.volumes):
        for item in kind.list(filters=_filters(None)):
            labels = (item.attrs or {}).get("Labels") or {}
            if labels.get(LABEL_HOST) == host:
                runs.setdefault(labels.get(LABEL, ""), labels.get(LABEL_PID, ""))
    swept = []
    for run_id, pid in runs.items():
        if run_id and pid.isdigit() and not _alive(int(pid)):
            remove_run(client, run_id)
            swept.append(run_id)
    return swept


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Cleanup must not be cut short by a second Ctrl-C: hold SIGINT/SIGTERM while it runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in old:
        signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class Guard:
    """Runs `close` at interpreter exit and turns SIGTERM into KeyboardInterrupt (the default
    SIGINT behaviour), so a CI runner's cancel unwinds through the experiments' `finally`
    reverts and the stack's cleanup exactly as Ctrl-C does."""

    def __init__(self, close: Callable[[], Any]) -> None:
        self._close = close
        self._old_term: Any = None
        atexit.register(self._at_exit)
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            self._old_term = signal.signal(signal.SIGTERM, _raise_interrupt)

    def _at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self._close()

    def release(self) -> None:
        atexit.unregister(self._at_exit)
        if self._old_term is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._old_term)
            self._old_term = None


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")
