"""The Docker API, as the Compose target and the chaos harness ask it: inspect documents,
events, logs, commands and files of containers found by their labels. Every call bounded.

Answers are the API's own JSON (what `docker inspect` and `docker events` print), so a reader
can be given recorded answers instead of a live engine.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from typing import Any

import docker
from docker.errors import DockerException

from servicedown.backends.command import (
    CANNOT_RUN,
    TIMED_OUT,
    BackendError,
    CallTimeout,
    CommandResult,
    within,
)
from servicedown.probes import kernlog

MAX_LINK_HOPS = 8  # symlinks followed inside a container (Let's Encrypt's live/ is made of them)


class DockerError(BackendError):
    """The engine could not be asked; the message says what failed and what to do."""


def short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def docker_client(timeout: float) -> Any:
    """A Docker client that answered a ping, or a DockerError that says how to reach the engine."""
    try:
        client = docker.from_env(timeout=max(int(timeout), 1))
        client.ping()
    except DockerException as exc:
        raise DockerError(
            f"cannot reach the Docker engine ({short(exc)}); start Docker, "
            "or point DOCKER_HOST at the engine that runs the stack"
        ) from None
    return client


class DockerBackend:
    """One Docker engine. `timeout_s` bounds each API call (the client's socket timeout); a
    `client` given is borrowed (its owner closes it), one made here is closed by `close`."""

    def __init__(self, timeout_s: float = 10.0, client: Any = None) -> None:
        self.timeout_s = timeout_s
        self._client = client
        self._owned = client is None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_client(self.timeout_s)
        return self._client

    def ping(self) -> None:
        _ = self.client

    def now(self) -> float:
        return time.time()

    def local(self) -> bool:
        """The engine runs on this host (its kernel log and processes are ours to read)."""
        host = os.environ.get("DOCKER_HOST", "")
        return host in ("", "unix:///var/run/docker.sock", "unix:///run/docker.sock")

    # --- reading -----------------------------------------------------------------------------
    def containers(self, labels: dict[str, str]) -> list[dict[str, Any]]:
        """The inspect document of every container (running or not) carrying all `labels`."""
        wanted = [f"{k}={v}" if v else k for k, v in labels.items()]
        try:
            found = self.client.containers.list(all=True, filters={"label": wanted})
        except DockerException as exc:
            raise DockerError(f"listing containers failed: {short(exc)}") from None
        return [c.attrs for c in found]

    def events(self, container_id: str, since: int, until: int,
               actions: tuple[str, ...] = ("start", "die", "oom", "kill", "stop", "pause",
                                           "unpause")) -> list[dict[str, Any]]:
        """The container's events between two epoch seconds, oldest first."""
        stream = self.client.events(since=since, until=until, decode=True,
                                    filters={"type": "container", "event": list(actions),
                                             "container": [container_id]})
        return list(stream)

    def logs(self, container_id: str, tail: int | None = None, since: float | None = None,
             until: float | None = None, timestamps: bool = False) -> str:
        """stdout and stderr as `docker logs` prints them (with RFC 3339 times if asked)."""
        kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": timestamps,
                                  "tail": "all" if tail is None else tail}
        if since is not None:
            kwargs["since"] = float(since)
        if until is not None:
            kwargs["until"] = float(until)
        raw = self.client.api.logs(container_id, **kwargs)
        return raw.decode("utf-8", errors="replace")

    def kernel_oom_kills(self, container_id: str, since: float) -> list[float] | None:
        """Kernel OOM kills in this container's memory cgroup since `since` (epoch); None when
        the kernel log cannot be read from here (a remote engine, no permission)."""
        if not self.local():
            return None
        return kernlog.oom_kills(container_id, since)

    def read_file(self, container_id: str, path: str, max_bytes: int) -> bytes | None:
        """A regular file as the container sees it, through the archive API (which also reads
        a stopped container). Symlinks are followed inside the container; None when the file
        is missing, is not a regular file, or is larger than max_bytes."""
        for _ in range(MAX_LINK_HOPS):
            try:
                stream, stat = self.client.api.get_archive(container_id, path)
            except DockerException:
                return None
            mode = int(stat.get("mode", 0))
            if mode & (1 << 27):  # Go's os.ModeSymlink: follow it, relative to the link's folder
                target = str(stat.get("linkTarget") or "")
                if not target:
                    return None
                path = target if target.startswith("/") else os.path.join(os.path.dirname(path), target)
                continue
            if mode & (1 << 31) or int(stat.get("size", 0)) > max_bytes:  # a folder, or too big
                return None
            data = b"".join(stream)
            try:
                with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                    member = next((m for m in tar.getmembers() if m.isfile()), None)
                    fh = tar.extractfile(member) if member else None
                    return fh.read(max_bytes) if fh else None
            except (tarfile.TarError, OSError):
                return None
        return None

    # --- acting -----------------------------------------------------------------------------
    def exec(self, container_id: str, argv: list[str], timeout: float) -> CommandResult:
        """Run argv in a running container, bounded by `timeout` (+ the API's own margin)."""
        def call() -> Any:
            return self.client.containers.get(container_id).exec_run(argv, demux=True)

        try:
            res = within(call, timeout + 2, f"exec {argv[0]} in {container_id[:12]}")
        except CallTimeout as exc:
            return CommandResult(TIMED_OUT, "", str(exc))
        except DockerException as exc:
            return CommandResult(CANNOT_RUN, "", short(exc))
        except Exception as exc:  # the socket's own timeout: the exec hung past the client's bound
            return CommandResult(TIMED_OUT, "", f"exec did not finish: {short(exc)}")
        out, err = res.output if isinstance(res.output, tuple) else (res.output, b"")
        return CommandResult(
            res.exit_code if res.exit_code is not None else 125,
            (out or b"").decode("utf-8", errors="replace"),
            (err or b"").decode("utf-8", errors="replace"),
        )

    def start_detached(self, container_id: str, argv: list[str]) -> None:
        """Start argv in the container and return at once (a load that runs by itself)."""
        self.client.containers.get(container_id).exec_run(argv, detach=True)

    def restart(self, container_id: str, timeout: int = 10) -> None:
        self.client.containers.get(container_id).restart(timeout=timeout)

    def close(self) -> None:
        if self._client is not None and self._owned:
            self._client.close()
            self._client = None
