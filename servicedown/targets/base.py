"""The one target model: what every platform (Compose, systemd, Kubernetes, a plain URL) answers.

A target answers the runbook's questions about the service: is it running (and how did it
last end), its recent logs, its environment (for presence checks only), a command runner
in the service's context and in the database's, and the platform's restart.
Swapping the platform swaps one object, as testinfra's backends do.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any

from servicedown import states
from servicedown.backends.command import BackendError, CommandResult, UnreadableFile
from servicedown.config import Settings
from servicedown.schema import iso
from servicedown.states import Exit


class TargetError(BackendError):
    """The platform could not be asked (no Docker socket, unknown unit, no cluster...).

    The message says what failed and what to do; it is shown as is, never as a traceback.
    """


def head_result(path: str, res: CommandResult | None) -> bytes | None:
    """What `head -c N PATH` read: the bytes, None when it read nothing, UnreadableFile for a
    folder (which head refuses) so that it never reads as a missing file."""
    if res is None or not res.ok:
        if res is not None and "Is a directory" in res.stderr:
            raise UnreadableFile(f"{path} is a folder, not a file")
        return None
    return res.stdout.encode("utf-8", errors="surrogateescape")


class NotSupported(TargetError):
    """This platform cannot answer that question (a url target has no logs); checks skip."""


ABSENT = "the service does not exist, so there are no logs to read (running.exists says why)"


class NotPresent(NotSupported):
    """The service is not there to ask (no container, unit or pod): the question does not apply,
    and running.exists already says why once."""


@dataclass(frozen=True)
class LogLine:
    """One log line with its time and the run it came from, so a finding can be told "since
    the last start" from "an earlier run" (Docker keeps a container's log across restarts)."""

    text: str
    time: float | None = None  # epoch: the platform's own stamp, else the line's
    run: str = "unknown"  # "current" (since the last start) | "earlier" | "unknown"


CURRENT, EARLIER, UNKNOWN = "current", "earlier", "unknown"


@dataclass
class ServiceState:
    exists: bool
    running: bool = False
    status: str = "missing"  # the platform's own word: running, exited, restarting, active...
    health: str | None = None  # healthy | unhealthy | starting | None (no platform health)
    restart_count: int | None = None
    restarting: bool = False
    exit_code: int | None = None
    oom_killed: bool | None = None
    result: str | None = None  # systemd Result= / k8s last termination reason
    enabled: bool | None = None
    uptime_s: float | None = None
    events: list[str] = field(default_factory=list)  # recent die/oom/kill events, oldest first
    oom_events: int = 0
    die_events: int = 0
    pid: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # How it is (not) running, in the words of states.py, and the sentence with the evidence.
    how: str = ""
    how_detail: str = ""
    started_at: float | None = None  # epoch of the last start (the current run's)
    last_exit: Exit | None = None
    exits: list[Exit] = field(default_factory=list)  # in the event window, oldest first
    history: list[str] = field(default_factory=list)  # what happened before a run that goes on
    serving: int | None = None  # replicas serving, of `replicas` (Kubernetes)
    replicas: int | None = None

    def down_since(self) -> float | None:
        """When the service stopped serving, on the platform's clock, while it is down: the
        first exit of a loop that goes on, else the exit that ended the last run."""
        if self.how not in states.DOWN_STATES and (self.running or not self.exists):
            return None
        if self.how == states.CRASH_LOOPING:
            times = [e.at for e in self.exits if e.at is not None]
            return min(times) if times else None
        return self.last_exit.at if self.last_exit is not None else None

    def evidence(self) -> dict[str, Any]:
        d = {
            "how": self.how or None,
            "how_detail": self.how_detail or None,
            "running": self.running if self.exists else None,
            "status": self.status,
            "health": self.health,
            "restart_count": self.restart_count,
            "restarting": self.restarting,
            "exit_code": self.exit_code,
            "oom_killed": self.oom_killed,
            "result": self.result,
            "uptime_s": None if self.uptime_s is None else round(self.uptime_s, 1),
            "recent_events": self.events[-10:],
            "started_at": None if self.started_at is None else iso(self.started_at),
            "down_since": None if self.down_since() is None else iso(self.down_since()),  # type: ignore[arg-type]
            "replicas_serving": None if self.replicas is None else f"{self.serving}/{self.replicas}",
        }
        d.update(self.detail)
        return {k: v for k, v in d.items() if v is not None and v != []}


class Target(abc.ABC):
    """A deployment of the service on one platform."""

    kind: str = "abstract"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abc.abstractmethod
    def describe(self) -> str:
        """One line naming the deployment, e.g. 'compose project qbitel, service qbitel-engine'."""

    def preflight(self) -> None:
        """Raise TargetError when the platform cannot be asked at all."""

    @abc.abstractmethod
    def state(self) -> ServiceState: ...

    @abc.abstractmethod
    def logs(self, lines: int) -> list[LogLine]:
        """The last `lines` log lines of the service, oldest first, each with its time and run
        where the platform tells them (raw text; callers mask)."""

    def startup_logs(self, lines: int) -> list[LogLine]:
        """The first `lines` lines of the current (or last) run: where the engine prints its
        startup validation, which later noise must not push out of reach."""
        return [line for line in self.logs(lines) if line.run != EARLIER]

    @abc.abstractmethod
    def environment(self) -> dict[str, str] | None:
        """The running service's environment, or None when it cannot be read.

        Values are used only to judge presence, length and weakness, and to mask them
        everywhere; they are never shown.
        """

    @abc.abstractmethod
    def run_in_service(self, argv: list[str], timeout: float) -> CommandResult | None:
        """Run a command where the service runs (its container or host); None if impossible."""

    def run_in_database(self, argv: list[str], timeout: float) -> CommandResult | None:
        """Run a command where the database runs; None if this target cannot."""
        return None

    def read_file(self, path: str, max_bytes: int) -> bytes | None:
        """A file as the service sees it; None when it does not exist or cannot be read;
        UnreadableFile (saying why) when the path is a folder."""
        return head_result(path, self.run_in_service(["head", "-c", str(max_bytes), "--", path],
                                                         timeout=5))

    def peer_down(self, host: str) -> str | None:
        """When a host name the service uses does not resolve: the sentence saying it is a peer
        of this deployment that is not running (a stopped Compose service drops out of Docker's
        DNS), else None (a name nothing here knows: a typo, or somewhere else)."""
        return None

    def now(self) -> float:
        """The time on the platform's side (epoch seconds); recorded with its answers, so a
        replayed incident is judged at the moment it was recorded."""
        backend = getattr(self, "backend", None)
        return backend.now() if backend is not None else time.time()

    def env_source(self, name: str) -> str:
        """Where a command run by run_in_service finds the service's variable `name` without it
        passing through an argument: its own environment, where the platform's exec gives it
        the service's (docker exec, kubectl exec)."""
        return f"env:{name}"

    def service_pid(self) -> str:
        """The service's main PID as seen by run_in_service."""
        return "1"

    @abc.abstractmethod
    def restart(self) -> str:
        """The runbook's quick fix on this platform. Returns what was done."""

    def restart_command(self) -> str:
        """The command an engineer would type for the same restart."""
        return ""

    def fingerprint(self) -> dict[str, Any]:
        """Identity and counters that a read-only run must leave unchanged."""
        return {}

    def close(self) -> None:
        """Release clients and connections."""
