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
from docker.utils import decode_json_header
from requests import RequestException

from servicedown.backends.command import (
    CANNOT_RUN,
    TIMED_OUT,
    BackendError,
    CallTimeout,
    CommandResult,
    UnreadableFile,
    within,
)
from servicedown.probes import kernlog
from servicedown.redact import clip

MAX_LINK_HOPS = 8  # symlinks followed inside a container (Let's Encrypt's live/ is made of them)
# Go's os.FileMode bits, as the archive API reports a path's mode.
MODE_DIR, MODE_SYMLINK = 1 << 31, 1 << 27
MODE_IRREGULAR = (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)  # device, pipe, socket...


class DockerError(BackendError):
    """The engine could not be asked; the message says what failed and what to do."""


def short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return clip(text, 200)


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

    def stream_events(self, labels: dict[str, str], actions: tuple[str, ...],
                      since: float | None = None) -> Any:
        """A streaming subscription to the events of the containers carrying all `labels`
        (`docker events --filter ... --since`), from `since` (epoch) so a resubscription loses
        nothing. Iterate it for decoded events; `close()` from another thread ends it.

        The Docker API keeps only a short buffer of past events, so watching needs the stream.
        The SDK reads it without a timeout: whoever iterates it must bound the wait by pinging
        the engine and closing the stream when the engine stops answering (watch/sources.py)."""
        wanted = [f"{k}={v}" if v else k for k, v in labels.items()]
        try:
            return self.client.api.events(
                since=None if since is None else f"{since:.9f}", decode=True,
                filters={"type": "container", "label": wanted, "event": list(actions)})
        except DockerException as exc:
            raise DockerError(f"subscribing to Docker events failed: {short(exc)}") from None

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

    def _stat(self, container_id: str, path: str) -> dict[str, Any] | None:
        """What the archive API says of a path, asked with HEAD so that nothing is sent: a
        GET of a folder streams its whole tree. None when the path does not exist."""
        api = self.client.api
        try:
            res = api.head(api._url("/containers/{0}/archive", container_id), params={"path": path},
                           timeout=self.timeout_s)
        except RequestException as exc:
            raise DockerError(f"asking Docker about {path} failed: {short(exc)}") from None
        header = res.headers.get("X-Docker-Container-Path-Stat")
        if res.status_code == 404:
            return None
        if res.status_code != 200 or not header:
            # Docker answers 500, with no word of why, for a loop of links on the path.
            raise UnreadableFile(f"{path}: Docker cannot resolve it (HTTP {res.status_code}); "
                                 "a loop of symbolic links?")
        return decode_json_header(header)

    def read_file(self, container_id: str, path: str, max_bytes: int) -> bytes | None:
        """A regular file as the container sees it, through the archive API (which also reads
        a stopped container). Symlinks are followed inside the container, as the service's
        open() would. None when nothing is there (or a link points at nothing); UnreadableFile,
        saying why, when what is there is not a file of at most max_bytes."""
        asked, seen = path, [path]
        for _ in range(MAX_LINK_HOPS):
            stat = self._stat(container_id, path)
            if stat is None:
                return None
            mode = int(stat.get("mode", 0))
            if mode & MODE_SYMLINK:  # the API returns the link itself: follow it from its folder
                target = str(stat.get("linkTarget") or "")
                if not target:
                    return None
                path = os.path.normpath(os.path.join(os.path.dirname(path), target))
                seen.append(path)
                continue
            where = asked if path == asked else f"{asked} (a link to {path})"
            if mode & MODE_DIR:
                raise UnreadableFile(f"{where} is a folder, not a file")
            if mode & MODE_IRREGULAR:
                raise UnreadableFile(f"{where} is not a regular file")
            size = int(stat.get("size", 0))
            if size > max_bytes:
                raise UnreadableFile(f"{where} is {size} bytes, more than the {max_bytes} read")
            try:
                stream, _ = self.client.api.get_archive(container_id, path)
                data = b"".join(stream)  # one regular file of at most max_bytes, in a tar
                with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                    member = next((m for m in tar.getmembers() if m.isfile()), None)
                    fh = tar.extractfile(member) if member else None
                    return fh.read(max_bytes) if fh else None
            except (DockerException, RequestException, tarfile.TarError, OSError):
                return None
        raise UnreadableFile(f"{asked} goes through more than {MAX_LINK_HOPS} symbolic links "
                             f"({' -> '.join(seen[:4])} ...): a loop?")

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
