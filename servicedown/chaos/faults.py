"""Faults: one class per way a runbook cause is made to happen (the providers that act).

Each acts only on this run's containers, through `ChaosStack.container`, which refuses anything
without the run's label. `inject()` returns details for the journal (names and lengths, never
a secret's value); `revert()` is idempotent and safe after a partial or interrupted inject;
`fix()` is the runbook's remedy where it is more than undoing the fault.
"""

from __future__ import annotations

import abc
import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import psycopg
from testcontainers.core.transferable import build_transfer_tar

from servicedown import polling
from servicedown import secrets as secret_rules
from servicedown.backends.command import CommandResult
from servicedown.backends.docker import DockerBackend
from servicedown.chaos.certs import make_pair
from servicedown.chaos.cleanup import NotOwned
from servicedown.chaos.stack import (
    DATA_DIR,
    ENGINE,
    POSTGRES,
    PROXY,
    EngineSpec,
    StackConfig,
    make_secret,
)
from servicedown.chaos.toxics import Toxic, Toxiproxy
from servicedown.redact import clip
from servicedown.targets.compose import ComposeTarget


class FaultError(RuntimeError):
    """The fault could not be injected as declared; the message says why."""


EXEC_TIMEOUT_S = 30.0  # the longest command a fault runs in a container (filling a disk)


def _exec(stack: StackHost, container: Any, argv: list[str]) -> CommandResult:
    return stack.docker.exec(container.id, argv, EXEC_TIMEOUT_S)


def _until(predicate: Callable[[], Any], timeout_s: float, what: str,
           interval_s: float = 0.1) -> Any:
    value = polling.until(predicate, timeout_s, interval_s)
    if not value:
        raise FaultError(f"{what}: not seen within {timeout_s:.0f}s")
    return value


def _running(container: Any) -> bool:
    with contextlib.suppress(Exception):
        container.reload()
        return bool(container.status == "running")
    return False


def _undo_in_engine(stack: StackHost, argv: list[str]) -> dict[str, Any]:
    """A revert that runs `argv` in the engine, if it runs: a stopped engine has nothing left."""
    c = stack.container(ENGINE)
    if _running(c):
        _exec(stack, c, argv)
    return {}


class ProxyHost(Protocol):
    """What the toxiproxy faults act on: the toxiproxy between the engine and Postgres (a chaos
    stack's, or the reference stack's for a load run)."""

    @property
    def toxiproxy(self) -> Toxiproxy | None: ...


class StackHost(ProxyHost, Protocol):
    """What the other faults act on: a stack whose containers this run owns (ChaosStack)."""

    docker: DockerBackend
    config: StackConfig
    engine_spec: EngineSpec
    engine_port: int | None

    def container(self, service: str) -> Any: ...

    def recreate_engine(self, spec: EngineSpec, wait: bool = False) -> None: ...

    def target(self) -> ComposeTarget: ...

    def wait_postgres_ready(self, timeout_s: float) -> bool: ...

    def wait_engine_healthy(self, timeout_s: float) -> tuple[bool, str]: ...

    def pg_connect_kwargs(self) -> dict[str, Any]: ...


H = TypeVar("H", bound=ProxyHost)


class Fault(abc.ABC, Generic[H]):
    """One way a runbook cause is made to happen. `inject` makes it, `fix` is the runbook's
    remedy for it (what the remediation phase does), `revert` is the rollback that always runs
    afterwards: idempotent, safe after a partial inject or a fix."""

    kind: ClassVar[str]

    def __init__(self, **params: Any) -> None:
        self.params = params

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind}({args})" if args else self.kind

    @abc.abstractmethod
    def inject(self, stack: H) -> dict[str, Any]: ...

    @abc.abstractmethod
    def revert(self, stack: H) -> dict[str, Any]: ...

    def fix(self, stack: H) -> dict[str, Any]:
        """The runbook's remedy for this fault, where it is giving back what the fault took (a
        dependency): the same action as the rollback, which then finds nothing left to undo."""
        return self.revert(stack)


# --- the engine's resources ---------------------------------------------------------------
MEMORY_HOG = r"""
import sys, time
limit = int(sys.argv[1]); chunks = []; total = 0
while total < 2 * limit:  # bounded: never more than twice the container's own limit
    chunks.append(b"\x01" * (8 << 20)); total += 8 << 20
time.sleep(30)
"""


class MemoryHog(Fault[StackHost]):
    """Memory pressure inside the engine's cgroup until the kernel OOM-kills the engine.

    PID 1's oom_score_adj is raised first so the kernel picks the engine, not the hog (a
    process may raise its own score without privileges); the hog runs in the same cgroup."""

    kind = "memory-hog"
    MARK = "chaos-memory-hog"

    def inject(self, stack: StackHost) -> dict[str, Any]:
        c = stack.container(ENGINE)
        limit = int((c.attrs.get("HostConfig") or {}).get("Memory") or 0)
        if not limit:
            raise FaultError("refusing to hog memory in an engine without a memory limit")
        before = (c.attrs.get("RestartCount"), c.attrs["State"].get("StartedAt"))
        res = _exec(stack, c, ["sh", "-c", "echo 1000 > /proc/1/oom_score_adj"])
        if not res.ok:
            raise FaultError(f"could not raise the engine's oom_score_adj: {clip(res.output, 200)}")
        stack.docker.start_detached(c.id, ["python3", "-c", MEMORY_HOG, str(limit), self.MARK])

        def killed() -> bool:
            c.reload()
            st = c.attrs["State"]
            return bool(st.get("OOMKilled")) or \
                (c.attrs.get("RestartCount"), st.get("StartedAt")) != before

        _until(killed, 30, "the engine's OOM kill")
        return {"memory_limit": limit, "oom_killed": c.attrs["State"].get("OOMKilled"),
                "restart_count": c.attrs.get("RestartCount")}

    def revert(self, stack: StackHost) -> dict[str, Any]:
        return _undo_in_engine(stack, ["pkill", "-f", self.MARK])


class DiskFill(Fault[StackHost]):
    """The engine's size-limited data volume filled to the last block."""

    kind = "disk-fill"
    FILE = f"{DATA_DIR}/.chaos-fill"

    def inject(self, stack: StackHost) -> dict[str, Any]:
        c = stack.container(ENGINE)
        # Only a tmpfs with a size: filling a real volume would fill the host's disk.
        tmpfs = _exec(stack, c, ["sh", "-c", f"awk '$2==\"{DATA_DIR}\" && $3==\"tmpfs\"' "
                                             "/proc/mounts | grep -q size="])
        if not tmpfs.ok:
            raise FaultError(f"refusing to fill {DATA_DIR}: it is not a size-limited tmpfs")
        filled = _exec(stack, c, ["sh", "-c", f"dd if=/dev/zero of={self.FILE} bs=1M 2>/dev/null; "
                                              f"sync; df -Pk {DATA_DIR} | tail -1"])
        return {"df": " ".join(filled.stdout.split())}

    def revert(self, stack: StackHost) -> dict[str, Any]:
        return _undo_in_engine(stack, ["rm", "-f", self.FILE])


CPU_HOG = r"""
import os, sys, time
workers = int(sys.argv[1]); end = time.time() + float(sys.argv[2])
for _ in range(workers - 1):
    if os.fork() == 0:
        break
while time.time() < end:  # bounded: stops by itself even if nobody reverts it
    pass
"""


class CpuHog(Fault[StackHost]):
    """Busy loops inside the engine's cgroup, more of them than its CPU quota has cores."""

    kind = "cpu-hog"
    MARK = "chaos-cpu-hog"

    def inject(self, stack: StackHost) -> dict[str, Any]:
        c = stack.container(ENGINE)
        workers = int(self.params.get("workers", 2))
        stack.docker.start_detached(c.id, ["python3", "-c", CPU_HOG, str(workers),
                                           str(self.params.get("max_s", 120)), self.MARK])
        _until(lambda: _exec(stack, c, ["pgrep", "-fc", self.MARK]).stdout.strip() == str(workers), 10,
               "the CPU hog's workers")
        quota = (c.attrs.get("HostConfig") or {}).get("NanoCpus") or 0
        return {"workers": workers, "cpu_quota_cores": quota / 1e9}

    def revert(self, stack: StackHost) -> dict[str, Any]:
        return _undo_in_engine(stack, ["pkill", "-f", self.MARK])


class FdFlood(Fault[StackHost]):
    """A connection flood against an engine with a low open-files limit (its baseline)."""

    kind = "fd-flood"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._socks: list[socket.socket] = []

    def inject(self, stack: StackHost) -> dict[str, Any]:
        nofile = stack.engine_spec.nofile
        if not nofile:
            raise FaultError("the fd flood needs an engine with a low open-files limit "
                             "(baseline 'low-nofile')")
        wanted = nofile + int(self.params.get("extra", 32))
        failed = 0
        deadline = time.monotonic() + 15
        for _ in range(wanted):
            if time.monotonic() > deadline:
                break
            try:
                self._socks.append(socket.create_connection(("127.0.0.1", stack.engine_port),
                                                            timeout=1.0))
            except OSError:
                failed += 1
        return {"nofile": nofile, "connections_open": len(self._socks), "connect_failed": failed}

    def revert(self, stack: StackHost) -> dict[str, Any]:
        n = len(self._socks)
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()
        self._socks.clear()
        return {"closed": n}


# --- crashes ---------------------------------------------------------------------------------
def _kill_engine_process(stack: StackHost) -> int:
    """SIGKILL the engine's PID 1 from the host. `docker kill` would not do: Docker counts it as
    a manual stop, which the restart policy does not undo; a crash is a process dying."""
    c = stack.container(ENGINE)
    c.reload()
    pid = int(c.attrs["State"].get("Pid") or 0)
    if not pid:
        raise FaultError("the engine has no running process to kill")
    try:
        cgroup = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        raise FaultError("the engine's process is not visible from here: SIGKILL needs the "
                         "Docker engine on this host") from None
    if c.id not in cgroup:
        raise NotOwned(f"pid {pid} is not in container {c.name}: refusing to kill it")
    os.kill(pid, signal.SIGKILL)
    return pid


class SigKill(Fault[StackHost]):
    """SIGKILL of the engine process; with `times` > 1, each new incarnation is killed too,
    shortly after the restart policy brought it back: a crash loop."""

    kind = "sigkill"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.killed: list[int] = []

    def inject(self, stack: StackHost) -> dict[str, Any]:
        times = int(self.params.get("times", 1))
        up_s = float(self.params.get("up_s", 0.5))  # how long each incarnation lives
        c = stack.container(ENGINE)
        for n in range(times):
            if n:
                last = self.killed[-1]

                def back(last: int = last) -> bool:
                    c.reload()
                    pid = c.attrs["State"].get("Pid")
                    return c.status == "running" and bool(pid) and pid != last

                _until(back, 20, "the engine's restart by its restart policy", 0.05)
                time.sleep(up_s)
            before = c.attrs.get("RestartCount")
            self.killed.append(_kill_engine_process(stack))

            def restarted(before: Any = before) -> bool:
                c.reload()
                return c.attrs.get("RestartCount") != before or c.status == "restarting"

            _until(restarted, 15, "the restart policy reacting to the kill", 0.05)
        return {"killed_pids": self.killed, "restart_count": c.attrs.get("RestartCount"),
                "status": c.status}

    def revert(self, stack: StackHost) -> dict[str, Any]:
        # Nothing to undo; an engine left stopped (it never should be) is started again.
        c = stack.container(ENGINE)
        c.reload()
        if c.status in ("exited", "created"):
            c.start()
            return {"started": True}
        return {}


# --- the database and the path to it ----------------------------------------------------------
class PostgresStop(Fault[StackHost]):
    kind = "postgres-stop"

    def inject(self, stack: StackHost) -> dict[str, Any]:
        c = stack.container(POSTGRES)
        c.stop(timeout=10)
        c.reload()
        return {"postgres": c.status}

    def revert(self, stack: StackHost) -> dict[str, Any]:
        c = stack.container(POSTGRES)
        c.reload()
        if c.status == "running":
            return {}
        c.start()
        return {"started": True, "ready": stack.wait_postgres_ready(30)}


class HoldConnections(Fault[StackHost]):
    """Connections opened and held (a leaking client) until Postgres refuses new ones."""

    kind = "hold-connections"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._conns: list[Any] = []

    def inject(self, stack: StackHost) -> dict[str, Any]:
        kwargs = stack.pg_connect_kwargs() | {"application_name": "servicedown-chaos-hold"}
        limit = stack.config.max_connections + 5
        deadline = time.monotonic() + 30
        refused = None
        while len(self._conns) < limit and time.monotonic() < deadline:
            try:
                self._conns.append(psycopg.connect(**kwargs))
            except psycopg.OperationalError as exc:
                refused = " ".join(str(exc).split())[-160:]
                break
        if refused is None:
            raise FaultError(f"held {len(self._conns)} connections and Postgres still accepts")
        return {"held": len(self._conns), "max_connections": stack.config.max_connections,
                "then_refused": refused}

    def revert(self, stack: StackHost) -> dict[str, Any]:
        n = len(self._conns)
        for conn in self._conns:
            with contextlib.suppress(Exception):
                conn.close()
        self._conns.clear()
        return {"released": n}


class ProxyDisabled(Fault[ProxyHost]):
    """The toxiproxy link between engine and Postgres down (`enabled: false`)."""

    kind = "proxy-disabled"

    def inject(self, stack: ProxyHost) -> dict[str, Any]:
        assert stack.toxiproxy is not None
        stack.toxiproxy.set_enabled(PROXY, False)
        return {"proxy": PROXY, "enabled": False}

    def revert(self, stack: ProxyHost) -> dict[str, Any]:
        assert stack.toxiproxy is not None
        stack.toxiproxy.set_enabled(PROXY, True)
        return {"proxy": PROXY, "enabled": True}


class ProxyToxic(Fault[ProxyHost]):
    """One toxiproxy toxic on the engine-Postgres link (latency, reset_peer, timeout...)."""

    kind = "toxic"

    @property
    def toxic(self) -> Toxic:
        return Toxic(f"chaos-{self.params['type']}", self.params["type"],
                     self.params.get("stream", "downstream"), dict(self.params["attributes"]))

    def inject(self, stack: ProxyHost) -> dict[str, Any]:
        assert stack.toxiproxy is not None
        stack.toxiproxy.add_toxic(PROXY, self.toxic)
        return {"proxy": PROXY, "toxic": self.toxic.name, "attributes": self.toxic.attributes}

    def revert(self, stack: ProxyHost) -> dict[str, Any]:
        assert stack.toxiproxy is not None
        return {"removed": stack.toxiproxy.remove_toxic(PROXY, self.toxic.name)}


# --- the engine's configuration -----------------------------------------------------------------
class EngineEnv(Fault[StackHost]):
    """The engine recreated with a changed environment (a deploy with a bad config).

    params: `unset` (names), `shorten` ({name: length}), `replace` (names given another valid
    random value, e.g. a DATABASE_PASSWORD the database does not know), `set` ({name: value}
    for variables that are not secrets, e.g. a DATABASE_HOST typo). The journal gets names and
    lengths only."""

    kind = "engine-env"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.before: EngineSpec | None = None

    def inject(self, stack: StackHost) -> dict[str, Any]:
        self.before = stack.engine_spec
        changes: dict[str, str] = {}
        for name in self.params.get("replace", ()):
            changes[name] = make_secret(name)
        for name, length in dict(self.params.get("shorten", {})).items():
            changes[name] = _short_value(name, int(length))
        plain = dict(self.params.get("set", {}))
        secret = [n for n in plain if secret_rules.is_secret_name(n)]
        if secret:
            raise FaultError(f"'set' is for plain variables; {', '.join(secret)} are secrets "
                             "(use replace or shorten)")
        changes.update(plain)
        unset = tuple(self.params.get("unset", ()))
        stack.recreate_engine(self.before.changed(f"{self.before.name}+{self.kind}", changes,
                                                  unset))
        return {"unset": list(unset), "shortened": dict(self.params.get("shorten", {})),
                "replaced": list(self.params.get("replace", ())), "set": plain}

    def fix(self, stack: StackHost) -> dict[str, Any]:
        """The runbook's remedy: the environment fixed, the engine recreated with it (what
        `docker-compose up -d qbitel-engine` does; a plain restart keeps the old env)."""
        if self.before is None or stack.engine_spec == self.before:
            return {}
        stack.recreate_engine(self.before)
        return {"recreated_with": self.before.name}

    def revert(self, stack: StackHost) -> dict[str, Any]:
        if self.before is None or stack.engine_spec == self.before:
            return {}
        stack.recreate_engine(self.before, wait=True)
        return {"recreated_with": self.before.name}


def _short_value(name: str, length: int) -> str:
    while True:
        value = make_secret("ENCRYPTION_KEY")[:length]
        if not secret_rules.assess_one(name, value).weak_patterns:
            return value


class TlsFiles(Fault[StackHost]):
    """The engine's TLS files broken in place: `cert="expired"` swaps in an expired
    certificate (the running engine keeps serving the old one, as a real expiry does);
    `remove_key` deletes the key; `restart` restarts the engine so it must load them."""

    kind = "tls-files"

    def _paths(self, stack: StackHost) -> tuple[str, str]:
        env = stack.engine_spec.env
        if not stack.engine_spec.tls:
            raise FaultError("the TLS faults need an engine with TLS on (baseline 'tls')")
        return env["TLS_CERT_FILE"], env["TLS_KEY_FILE"]

    def inject(self, stack: StackHost) -> dict[str, Any]:
        cert_path, key_path = self._paths(stack)
        c = stack.container(ENGINE)
        done: dict[str, Any] = {}
        if self.params.get("cert") == "expired":
            # With its own key, as an expiry leaves them: a restarted engine serves it.
            pair = make_pair(expired_days_ago=float(self.params.get("days_ago", 2)))
            _put(c, cert_path, pair.cert_pem)
            _put(c, key_path, pair.key_pem)
            done["cert"] = f"expired on {pair.not_after.date()}"
        if self.params.get("remove_key"):
            done["key_removed"] = _exec(stack, c, ["rm", "-f", key_path]).ok
        if self.params.get("restart"):
            c.restart(timeout=10)
            done["restarted"] = True
        return done

    def _restore(self, stack: StackHost) -> list[str]:
        c = stack.container(ENGINE)
        for path, data in stack.engine_spec.files:
            _put(c, path, data)
        return [path for path, _ in stack.engine_spec.files]

    def fix(self, stack: StackHost) -> dict[str, Any]:
        restored = self._restore(stack)
        target = stack.target()
        try:
            action = target.restart()
        finally:
            target.close()
        return {"restored": restored, "action": action}

    def revert(self, stack: StackHost) -> dict[str, Any]:
        restored = self._restore(stack)
        healthy, _ = stack.wait_engine_healthy(1.0)
        if not healthy:
            stack.container(ENGINE).restart(timeout=10)
            healthy, _ = stack.wait_engine_healthy(stack.config.startup_timeout_s)
        return {"restored": restored, "healthy": healthy}


def _put(container: Any, path: str, data: bytes) -> None:
    if not container.put_archive("/", build_transfer_tar(data, path.lstrip("/"), 0o600)):
        raise FaultError(f"could not write {path} into {container.name}")


FAULTS: dict[str, type[Fault[Any]]] = {
    cls.kind: cls
    for cls in (MemoryHog, DiskFill, CpuHog, FdFlood, SigKill, PostgresStop, HoldConnections,
                ProxyDisabled, ProxyToxic, EngineEnv, TlsFiles)
}


def _messy() -> None:
    """The messy faults (messy.py) compose these ones, so they register after them."""
    from servicedown.chaos.messy import MESSY

    FAULTS.update(MESSY)


def make_fault(kind: str, params: dict[str, Any]) -> Fault[Any]:
    try:
        return FAULTS[kind](**params)
    except KeyError:
        raise FaultError(f"unknown fault kind {kind!r}; known: {', '.join(FAULTS)}") from None


__all__ = ["FAULTS", "Fault", "FaultError", "make_fault"]

_messy()
