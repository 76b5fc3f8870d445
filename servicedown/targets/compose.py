"""Compose target: the service as a container of a Compose project, read from the Docker API.

Containers are found by the labels every Compose version sets
(`com.docker.compose.project`, `com.docker.compose.service`), so Compose v1 and v2 and any
project folder work alike. How to ask Docker is backends/docker.py; this module says what
its answers (inspect documents, events) mean for the runbook's questions.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from servicedown.backends.command import NOT_FOUND, REFUSED, CommandResult
from servicedown.backends.docker import DockerBackend, short
from servicedown.config import Settings
from servicedown.targets.base import ServiceState, Target, TargetError

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def parse_docker_time(text: str | None) -> datetime | None:
    """Docker's RFC 3339 times carry nanoseconds, which fromisoformat rejects."""
    if not text or text.startswith("0001-"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    tz = ""
    for sign in ("+", "-"):
        if sign in frac:
            frac, _, tz = frac.partition(sign)
            tz = sign + tz
    try:
        dt = datetime.fromisoformat(head + (f".{frac[:6]}" if frac else "") + (tz or "+00:00"))
    except ValueError:
        return None
    return dt.astimezone(UTC)


def container_name(doc: dict[str, Any]) -> str:
    return str(doc.get("Name", "?")).lstrip("/")


def container_status(doc: dict[str, Any]) -> str:
    return str((doc.get("State") or {}).get("Status", "unknown"))


class ComposeTarget(Target):
    """`since` (epoch seconds) cuts the service's logs and events to an incident window: the
    chaos harness runs every experiment on one stack, whose logs still hold the experiments
    before; a real incident has only its own."""

    kind = "compose"

    def __init__(self, settings: Settings, backend: DockerBackend | None = None,
                 since: float | None = None) -> None:
        super().__init__(settings)
        self.backend = backend or DockerBackend(settings.check_timeout_s + 5)
        self.since = since

    def describe(self) -> str:
        s = self.settings
        return f"compose project '{s.compose_project}', service '{s.service}' (database '{s.db_service}')"

    def preflight(self) -> None:
        self.backend.ping()

    @property
    def event_window_s(self) -> int:
        """The window of recent events: the settings', or since the incident window opened.
        Read when used, next to the backend's `now`: a window fixed earlier would drop the
        events of the first second when a second ticks in between."""
        if self.since is None:
            return self.settings.event_window_s
        return max(1, int(self.backend.now()) - int(self.since))

    # --- finding containers -------------------------------------------------------------
    def _containers(self, service: str) -> list[dict[str, Any]]:
        found = self.backend.containers({PROJECT_LABEL: self.settings.compose_project,
                                         SERVICE_LABEL: service})
        # Prefer a running replica, then the most recently created one.
        return sorted(found, key=lambda d: (container_status(d) != "running", -_created(d)))

    def _container(self, service: str) -> dict[str, Any] | None:
        found = self._containers(service)
        return found[0] if found else None

    def _services_in_project(self) -> list[str]:
        try:
            found = self.backend.containers({PROJECT_LABEL: self.settings.compose_project})
        except Exception:  # only used to enrich a message
            return []
        return sorted({((d.get("Config") or {}).get("Labels") or {}).get(SERVICE_LABEL, "?")
                       for d in found})

    def missing_message(self, service: str) -> str:
        others = self._services_in_project()
        if others:
            return (f"no container for service '{service}' in compose project "
                    f"'{self.settings.compose_project}' (services there: {', '.join(others)})")
        return (f"compose project '{self.settings.compose_project}' has no containers; "
                "check --compose-project (docker-compose ls / docker ps shows the names)")

    # --- the runbook's questions -----------------------------------------------------
    def state(self) -> ServiceState:
        doc = self._container(self.settings.service)
        if doc is None:
            return ServiceState(exists=False, status="missing",
                                detail={"problem": self.missing_message(self.settings.service)})
        st = doc.get("State") or {}
        now = self.backend.now()
        running = bool(st.get("Running"))
        started = parse_docker_time(st.get("StartedAt"))
        uptime = now - started.timestamp() if started and running else None
        events, ooms, dies, last_exit = self._events(doc["Id"], now)
        # A running container's ExitCode is reset; its last exit lives on in the die events.
        exit_code = st.get("ExitCode") if not running or last_exit is None else last_exit
        oom_killed: bool | None = bool(st.get("OOMKilled"))
        kernel = self.backend.kernel_oom_kills(doc["Id"], now - self.event_window_s)
        if kernel:
            events.append(f"{datetime.fromtimestamp(kernel[-1], UTC):%H:%M:%S} kernel: "
                          f"{len(kernel)} OOM kill(s) in this container's memory cgroup")
            ooms = max(ooms, len(kernel))
        elif kernel is None and running and dies:
            # Restarted since: OOMKilled was reset, and the event buffer may have lost the oom.
            oom_killed = None if not ooms else oom_killed
        hc = doc.get("HostConfig") or {}
        return ServiceState(
            exists=True,
            running=running and not st.get("Restarting"),
            status=st.get("Status", "unknown"),
            health=(st.get("Health") or {}).get("Status"),
            restart_count=doc.get("RestartCount"),
            restarting=bool(st.get("Restarting")),
            exit_code=exit_code,
            oom_killed=oom_killed,
            uptime_s=uptime,
            events=events,
            oom_events=ooms,
            die_events=dies,
            pid=st.get("Pid") or None,
            detail={
                "container": container_name(doc),
                "image": (doc.get("Config") or {}).get("Image"),
                "restart_policy": (hc.get("RestartPolicy") or {}).get("Name"),
                "error": st.get("Error") or None,
                "health_log": _health_log(st),
            },
        )

    def _events(self, container_id: str, now: float) -> tuple[list[str], int, int, int | None]:
        """die/oom/kill events of this container in the event window (they survive restarts
        by policy; a recreated container is a new one, and a deploy is not a crash).

        -> (event lines, oom count, count of non-zero exits, exit code of the last die)."""
        until = int(now)
        out: list[str] = []
        ooms = dies = 0
        last_exit: int | None = None
        try:
            items = self.backend.events(container_id, until - self.event_window_s, until)
        except Exception as exc:  # events enrich the state; their absence is not a failure
            return [f"events unavailable: {short(exc)}"], 0, 0, None
        for ev in items:
            action = ev.get("Action") or ev.get("status")
            attrs = (ev.get("Actor") or {}).get("Attributes") or {}
            when = datetime.fromtimestamp(ev.get("time", until), UTC).strftime("%H:%M:%S")
            if action == "oom":
                ooms += 1
                out.append(f"{when} oom")
            elif action == "die":
                out.append(f"{when} die exitCode={attrs.get('exitCode', '?')}")
                with contextlib.suppress(TypeError, ValueError):
                    last_exit = int(attrs.get("exitCode"))
                # A clean exit (a stop that drained) is not a crash.
                dies += last_exit != 0
            elif action == "kill":
                out.append(f"{when} kill signal={attrs.get('signal', '?')}")
        return out, ooms, dies, last_exit

    def logs(self, lines: int) -> list[str]:
        doc = self._container(self.settings.service)
        if doc is None:
            raise TargetError(self.missing_message(self.settings.service))
        return self.backend.logs(doc["Id"], tail=lines, since=self.since).splitlines()

    def environment(self) -> dict[str, str] | None:
        doc = self._container(self.settings.service)
        if doc is None:
            return None
        env: dict[str, str] = {}
        for item in (doc.get("Config") or {}).get("Env") or []:
            key, _, value = item.partition("=")
            env[key] = value
        return env

    def run_in_service(self, argv: list[str], timeout: float) -> CommandResult | None:
        doc = self._container(self.settings.service)
        if doc is None or container_status(doc) != "running":
            return None
        return self.backend.exec(doc["Id"], argv, timeout)

    def run_in_database(self, argv: list[str], timeout: float) -> CommandResult | None:
        doc = self._container(self.settings.db_service)
        if doc is None:
            return CommandResult(NOT_FOUND, "", self.missing_message(self.settings.db_service))
        if container_status(doc) != "running":
            return CommandResult(REFUSED, "", f"database container '{container_name(doc)}' is "
                                              f"{container_status(doc)}")
        return self.backend.exec(doc["Id"], argv, timeout)

    def read_file(self, path: str, max_bytes: int) -> bytes | None:
        # The archive API also reads from a stopped container (a crash loop on a bad cert).
        doc = self._container(self.settings.service)
        if doc is None:
            return None
        return self.backend.read_file(doc["Id"], path, max_bytes)

    def restart_command(self) -> str:
        return f"docker-compose -p {self.settings.compose_project} restart {self.settings.service}"

    def restart(self) -> str:
        doc = self._container(self.settings.service)
        if doc is None:
            raise TargetError(self.missing_message(self.settings.service))
        self.backend.restart(doc["Id"], timeout=10)
        return f"restarted container {container_name(doc)} (same as: {self.restart_command()})"

    def fingerprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for doc in self.backend.containers({PROJECT_LABEL: self.settings.compose_project}):
            st = doc.get("State") or {}
            out[container_name(doc)] = {"id": doc.get("Id"), "restart_count": doc.get("RestartCount"),
                                        "started_at": st.get("StartedAt"), "status": st.get("Status")}
        return out

    def close(self) -> None:
        self.backend.close()


def _created(doc: dict[str, Any]) -> float:
    dt = parse_docker_time(doc.get("Created"))
    return dt.timestamp() if dt else 0.0


def _health_log(state: dict[str, Any]) -> list[str] | None:
    log = (state.get("Health") or {}).get("Log") or []
    if not log:
        return None
    return [f"exit={e.get('ExitCode')} {str(e.get('Output', '')).strip()[:200]}" for e in log[-3:]]
