"""Where each backend asks its platform: the methods a recording logs and a replay answers.

Only these methods cross the boundary; everything else a backend has (Kubernetes' `get` over
`request`, the host's `probe` and `script` over `run`, the messages of `forbidden`) is plain
code that runs unchanged on top of them, live and in replay. A unit test holds every public
method of each backend to this table, so a new way of asking a platform cannot bypass it.
"""

from __future__ import annotations

from dataclasses import dataclass

from servicedown.backends.docker import DockerBackend
from servicedown.backends.host import HostBackend
from servicedown.backends.kube import KubeBackend
from servicedown.backends.network import NetworkBackend


@dataclass(frozen=True)
class Boundary:
    name: str  # the backend's name in a recording
    cls: type
    calls: tuple[str, ...]  # methods that ask the platform
    acting: tuple[str, ...] = ()  # of those, the ones that change it: logged, never memoised
    pure: tuple[str, ...] = ()  # public methods that only compute on top of the calls
    state: tuple[str, ...] = ()  # attributes the calls set that targets read (kept as recorded)
    # Live streams `servicedown watch` follows; a diagnosis run never asks them, and one run's
    # recording cannot hold a stream: a replay refuses them by name.
    streams: tuple[str, ...] = ()
    client: str = "_client"  # the attribute holding the live client; poisoned in a replay


BOUNDARIES: dict[str, Boundary] = {b.name: b for b in (
    Boundary("docker", DockerBackend,
             calls=("ping", "containers", "events", "logs", "kernel_oom_kills", "read_file", "exec",
                    "start_detached", "restart"),
             acting=("start_detached", "restart"), pure=("local", "close"), streams=("stream_events",)),
    Boundary("host", HostBackend, calls=("run",), pure=("script", "probe", "stream_argv", "close"),
             client="_host"),
    Boundary("kube", KubeBackend, calls=("request", "exec"),
             pure=("api", "get", "unreachable", "forbidden", "close"), state=("server", "source"),
             streams=("watch",),
             client="_api"),
    Boundary("network", NetworkBackend, calls=("get", "get_json", "pg_ping", "peer_certificate"),
             pure=("close",)),
)}


def boundary_of(backend: object) -> Boundary:
    for b in BOUNDARIES.values():
        if isinstance(backend, b.cls):
            return b
    raise TypeError(f"no recording boundary for {type(backend).__name__}; known: "
                    + ", ".join(b.cls.__name__ for b in BOUNDARIES.values()))
