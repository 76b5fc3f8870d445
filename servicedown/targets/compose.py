"""Compose target: the service as a container of a Compose project, through the Docker API.

Containers are found by the labels every Compose version sets
(`com.docker.compose.project`, `com.docker.compose.service`), so Compose v1 and v2 and any
project folder work alike.
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import UTC, datetime
from typing import Any

from servicedown.config import Settings
from servicedown.probes import kernlog
from servicedown.targets.base import ExecResult, ServiceState, Target, TargetError

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


def docker_client(timeout: float) -> Any:
    """A Docker client, or a TargetError that says how to reach the engine."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=max(int(timeout), 1))
        client.ping()
    except DockerException as exc:
        raise TargetError(
            f"cannot reach the Docker engine ({_short(exc)}); start Docker, "
            "or point DOCKER_HOST at the engine that runs the stack"
        ) from None
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class ComposeTarget(Target):
    kind = "compose"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._client: Any = None

    # --- plumbing -------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_client(self.settings.check_timeout_s + 5)
        return self._client

    def describe(self) -> str:
        s = self.settings
        return f"compose project '{s.compose_project}', service '{s.service}' (database '{s.db_service}')"

    def preflight(self) -> None:
        _ = self.client

    def _containers(self, service: str) -> list[Any]:
        from docker.errors import DockerException

        try:
            found = self.client.containers.list(
                all=True,
                filters={"label": [f"{PROJECT_LABEL}={self.settings.compose_project}",
                                   f"{SERVICE_LABEL}={service}"]},
            )
        except DockerException as exc:
            raise TargetError(f"listing containers failed: {_short(exc)}") from None
        # Prefer a running replica, then the most recently created one.
        return sorted(found, key=lambda c: (c.status != "running", -_created(c)))

    def _container(self, service: str) -> Any | None:
        found = self._containers(service)
        return found[0] if found else None

    def _services_in_project(self) -> list[str]:
        try:
            found = self.client.containers.list(
                all=True, filters={"label": f"{PROJECT_LABEL}={self.settings.compose_project}"}
            )
        except Exception:  # only used to enrich a message
            return []
        return sorted({c.labels.get(SERVICE_LABEL, "?") for c in found})

    def missing_message(self, service: str) -> str:
        others = self._services_in_project()
        if others:
            return (f"no container for service '{service}' in compose project "
                    f"'{self.settings.compose_project}' (services there: {', '.join(others)})")
        return (f"compose project '{self.settings.compose_project}' has no containers; "
                "check --compose-project (docker-compose ls / docker ps shows the names)")

    # --- the runbook's questions -----------------------------------------------------
    def state(self) -> ServiceState:
        c = self._container(self.settings.service)
        if c is None:
            return ServiceState(exists=False, status="missing",
                                detail={"problem": self.missing_message(self.settings.service)})
        c.reload()
        st = c.attrs.get("State", {})
        health = (st.get("Health") or {}).get("Status")
        started = parse_docker_time(st.get("StartedAt"))
        uptime = (datetime.now(UTC) - started).total_seconds() if started and st.get("Running") else None
        events, ooms, dies, last_exit = self._events(c)
        running = bool(st.get("Running"))
        # A running container's ExitCode is reset; its last exit lives on in the die events.
        exit_code = st.get("ExitCode") if not running or last_exit is None else last_exit
        oom_killed: bool | None = bool(st.get("OOMKilled"))
        kernel = self._kernel_ooms(c)
        if kernel:
            events.append(f"{datetime.fromtimestamp(kernel[-1], UTC):%H:%M:%S} kernel: "
                          f"{len(kernel)} OOM kill(s) in this container's memory cgroup")
            ooms = max(ooms, len(kernel))
        elif kernel is None and running and dies:
            # Restarted since: OOMKilled was reset, and the event buffer may have lost the oom.
            oom_killed = None if not ooms else oom_killed
        hc = c.attrs.get("HostConfig", {})
        return ServiceState(
            exists=True,
            running=bool(st.get("Running")) and not st.get("Restarting"),
            status=st.get("Status", "unknown"),
            health=health,
            restart_count=c.attrs.get("RestartCount"),
            restarting=bool(st.get("Restarting")),
            exit_code=exit_code,
            oom_killed=oom_killed,
            uptime_s=uptime,
            events=events,
            oom_events=ooms,
            die_events=dies,
            pid=st.get("Pid") or None,
            detail={
                "container": c.name,
                "image": (c.attrs.get("Config") or {}).get("Image"),
                "restart_policy": (hc.get("RestartPolicy") or {}).get("Name"),
                "error": st.get("Error") or None,
                "health_log": _health_log(st),
            },
        )

    def _kernel_ooms(self, c: Any) -> list[float] | None:
        """Kernel OOM kills of this container in the window; None when not readable here."""
        if not self._local_engine():
            return None
        return kernlog.oom_kills(c.id, time.time() - self.settings.event_window_s)

    def _local_engine(self) -> bool:
        host = os.environ.get("DOCKER_HOST", "")
        return host in ("", "unix:///var/run/docker.sock", "unix:///run/docker.sock")

    def _events(self, c: Any) -> tuple[list[str], int, int, int | None]:
        """die/oom/kill events of this container in the event window (they survive restarts
        by policy; a recreated container is a new one, and a deploy is not a crash).

        -> (event lines, oom count, count of non-zero exits, exit code of the last die)."""
        now = int(time.time())
        since = now - self.settings.event_window_s
        out: list[str] = []
        ooms = dies = 0
        last_exit: int | None = None
        try:
            stream = self.client.events(
                since=since, until=now, decode=True,
                filters={"type": "container", "event": ["die", "oom", "kill"],
                         "container": [c.id]},
            )
            for ev in stream:
                action = ev.get("Action") or ev.get("status")
                attrs = (ev.get("Actor") or {}).get("Attributes") or {}
                when = datetime.fromtimestamp(ev.get("time", now), UTC).strftime("%H:%M:%S")
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
        except Exception as exc:  # events enrich the state; their absence is not a failure
            out.append(f"events unavailable: {_short(exc)}")
        return out, ooms, dies, last_exit

    def logs(self, lines: int) -> list[str]:
        c = self._container(self.settings.service)
        if c is None:
            raise TargetError(self.missing_message(self.settings.service))
        raw = c.logs(tail=lines, stdout=True, stderr=True)
        return raw.decode("utf-8", errors="replace").splitlines()

    def environment(self) -> dict[str, str] | None:
        c = self._container(self.settings.service)
        if c is None:
            return None
        env: dict[str, str] = {}
        for item in (c.attrs.get("Config") or {}).get("Env") or []:
            key, _, value = item.partition("=")
            env[key] = value
        return env

    def _exec(self, c: Any | None, argv: list[str]) -> ExecResult | None:
        if c is None or c.status != "running":
            return None
        from docker.errors import DockerException

        try:
            res = c.exec_run(argv, demux=True)
        except DockerException as exc:
            return ExecResult(126, "", _short(exc))
        except Exception as exc:  # socket timeout: the exec hung past the client's bound
            return ExecResult(124, "", f"exec did not finish: {_short(exc)}")
        out, err = res.output if isinstance(res.output, tuple) else (res.output, b"")
        return ExecResult(
            res.exit_code if res.exit_code is not None else 125,
            (out or b"").decode("utf-8", errors="replace"),
            (err or b"").decode("utf-8", errors="replace"),
        )

    def run_in_service(self, argv: list[str], timeout: float) -> ExecResult | None:
        c = self._container(self.settings.service)
        if c is not None:
            c.reload()
        return self._exec(c, argv)

    def run_in_database(self, argv: list[str], timeout: float) -> ExecResult | None:
        c = self._container(self.settings.db_service)
        if c is None:
            return ExecResult(127, "", self.missing_message(self.settings.db_service))
        c.reload()
        if c.status != "running":
            return ExecResult(125, "", f"database container '{c.name}' is {c.status}")
        return self._exec(c, argv)

    def read_file(self, path: str, max_bytes: int) -> bytes | None:
        # The archive API also reads from a stopped container (a crash loop on a bad cert).
        import io
        import tarfile

        from docker.errors import DockerException

        c = self._container(self.settings.service)
        if c is None:
            return None
        try:
            stream, stat = c.get_archive(path)
            if stat.get("size", 0) > max_bytes:
                return None
            data = b"".join(stream)
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                member = next((m for m in tar.getmembers() if m.isfile()), None)
                fh = tar.extractfile(member) if member else None
                return fh.read(max_bytes) if fh else None
        except (DockerException, tarfile.TarError, OSError):
            return None

    def restart_command(self) -> str:
        return f"docker-compose -p {self.settings.compose_project} restart {self.settings.service}"

    def restart(self) -> str:
        c = self._container(self.settings.service)
        if c is None:
            raise TargetError(self.missing_message(self.settings.service))
        c.restart(timeout=10)
        return f"restarted container {c.name} (same as: {self.restart_command()})"

    def fingerprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for c in self.client.containers.list(
            all=True, filters={"label": f"{PROJECT_LABEL}={self.settings.compose_project}"}
        ):
            st = c.attrs.get("State", {})
            out[c.name] = {"id": c.id, "restart_count": c.attrs.get("RestartCount"),
                           "started_at": st.get("StartedAt"), "status": st.get("Status")}
        return out

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _created(c: Any) -> float:
    dt = parse_docker_time(c.attrs.get("Created"))
    return dt.timestamp() if dt else 0.0


def _health_log(state: dict[str, Any]) -> list[str] | None:
    log = (state.get("Health") or {}).get("Log") or []
    if not log:
        return None
    return [f"exit={e.get('ExitCode')} {str(e.get('Output', '')).strip()[:200]}" for e in log[-3:]]
