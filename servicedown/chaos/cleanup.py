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
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from servicedown.chaos import owner

LABEL = "servicedown.chaos"  # value: the run id; the owner's identity: owner.PREFIX + ...


class NotOwned(RuntimeError):
    """Chaos was asked to act on something this run did not create."""


def ensure_owned(obj: Any, run_id: str) -> Any:
    """Return the container (or network, volume) if this run created it, else raise."""
    if _labels(obj).get(LABEL) != run_id:
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


@dataclass
class Sweep:
    swept: dict[str, str] = field(default_factory=dict)  # run id -> why its owner is dead
    kept: dict[str, str] = field(default_factory=dict)  # run id -> why it was left alone


def _labels(item: Any) -> dict[str, str]:
    attrs = getattr(item, "attrs", None) or {}
    return (attrs.get("Config") or {}).get("Labels") or attrs.get("Labels") or {}


def sweep_orphans(client: Any, proc: owner.ProcView | None = None) -> Sweep:
    """Remove the runs whose owner is proven dead (killed hard, so its own cleanup never ran).
    A run whose owner is alive, or might be (another machine, a PID namespace out of sight,
    labels of an older version), is never touched: see `owner.judge`."""
    proc = proc or owner.LocalProc()
    runs: dict[str, dict[str, str]] = {}
    f = _filters(None)
    for kind in (client.containers.list(all=True, filters=f), client.networks.list(filters=f),
                 client.volumes.list(filters=f)):
        for item in kind:
            labels = _labels(item)
            if labels.get(LABEL):
                runs.setdefault(labels[LABEL], labels)
    result = Sweep()
    for run_id, labels in runs.items():
        verdict = owner.judge(owner.Owner.from_labels(labels), proc)
        if verdict.dead:
            remove_run(client, run_id)
            result.swept[run_id] = verdict.reason
        else:
            result.kept[run_id] = verdict.reason
    return result


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
