"""Compose target: the service as a container of a Compose project, read from the Docker API.

Containers are found by the labels every Compose version sets
(`com.docker.compose.project`, `com.docker.compose.service`), so Compose v1 and v2 and any
project folder work alike. How to ask Docker is backends/docker.py; this module says what
its answers (inspect documents, events) mean for the runbook's questions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from servicedown import states
from servicedown.backends.command import NOT_FOUND, REFUSED, CommandResult
from servicedown.backends.docker import DockerBackend, short
from servicedown.config import Settings
from servicedown.redact import clip
from servicedown.states import Exit
from servicedown.targets.base import (
    ABSENT,
    CURRENT,
    EARLIER,
    UNKNOWN,
    LogLine,
    NotPresent,
    ServiceState,
    Target,
    TargetError,
)

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
STARTUP_LOG_S = 90.0  # the engine validates and starts within this after its process starts
DRAIN_S = 60.0  # a stop asked this long ago that the process outlived: not a stop in progress
STOP_SIGNALS = frozenset({"15", "TERM", "2", "INT", "3", "QUIT", "9", "KILL"})
STOP_TO_DIE_S = 20.0  # a stop's SIGTERM, its grace period, then the die: one stop


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

    def peer_down(self, host: str) -> str | None:
        try:
            found = self._containers(host)
        except Exception:  # only used to tell a stopped peer from a typo
            return None
        if not found or container_status(found[0]) == "running":
            return None
        return (f"'{host}' is the service '{host}' of compose project "
                f"'{self.settings.compose_project}', whose container {container_name(found[0])} "
                f"is {container_status(found[0])}: a stopped service drops out of Docker's DNS")

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
            return ServiceState(exists=False, status="missing", how=states.MISSING,
                                how_detail=self.missing_message(self.settings.service),
                                detail={"problem": self.missing_message(self.settings.service)})
        st = doc.get("State") or {}
        now = self.backend.now()
        running = bool(st.get("Running")) and not st.get("Paused")
        started = _epoch(st.get("StartedAt"))
        uptime = now - started if started and running else None
        timeline = self._timeline(doc["Id"], now)
        kernel = self.backend.kernel_oom_kills(doc["Id"], now - self.event_window_s)
        all_exits = _exits(timeline, kernel or [], doc, running, now - self.event_window_s)
        # What ended a run that a lasting one followed is history: not counted as this incident.
        since = states.settled_since(all_exits, started if running else None, uptime)
        earlier, exits = states.split_settled(all_exits, since)
        kernel_now = [k for k in kernel or [] if since is None or k >= since]
        last = all_exits[-1] if all_exits else None
        oom_killed: bool | None = bool(exits and (st.get("OOMKilled") or exits[-1].oom))
        if kernel is None and running and exits and not any(e.oom for e in exits):
            # Restarted since: OOMKilled was reset, and the event buffer may have lost the oom.
            oom_killed = None
        events = [line for _, line in timeline]
        if kernel:
            events.append(f"{states.clock(kernel[-1])} kernel: {len(kernel)} OOM kill(s) in this "
                          "container's memory cgroup")
        restarting = bool(st.get("Restarting"))
        how, how_detail, history = _how(st, running, restarting, uptime, exits, doc)
        asked = _stop_pending(timeline, started, now) \
            if running and how in (states.RUNNING, states.STARTING) else None
        if asked:
            how, how_detail = states.STOPPING, (f"stopping on request: {asked}, and not yet ended "
                                                "(draining, or ignoring the signal)")
        policy = ((doc.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
        history = [_history_line(e, policy) for e in earlier[-3:]] + history
        hc = doc.get("HostConfig") or {}
        # A running container's ExitCode is reset; its last exit lives on in the die events.
        exit_code = st.get("ExitCode") if not running or last is None else last.code
        return ServiceState(
            exists=True,
            running=running and not restarting,
            status=st.get("Status", "unknown"),
            health=(st.get("Health") or {}).get("Status"),
            restart_count=doc.get("RestartCount"),
            restarting=restarting,
            exit_code=exit_code,
            oom_killed=oom_killed,
            uptime_s=uptime,
            events=events,
            oom_events=max(sum(1 for e in exits if e.oom), len(kernel_now)),
            die_events=sum(1 for e in exits if e.code not in (0, None) and not e.requested),
            pid=st.get("Pid") or None,
            how=how, how_detail=how_detail, started_at=started, last_exit=last, exits=exits,
            history=history,
            detail={
                "container": container_name(doc),
                "image": (doc.get("Config") or {}).get("Image"),
                "restart_policy": (hc.get("RestartPolicy") or {}).get("Name"),
                "error": st.get("Error") or None,
                "health_log": _health_log(st),
            },
        )

    def _timeline(self, container_id: str, now: float) -> list[tuple[dict[str, Any], str]]:
        """The container's events in the event window (they survive restarts by policy; a
        recreated container is a new one, and a deploy is not a crash), each with its line."""
        until = int(now)
        try:
            items = self.backend.events(container_id, until - self.event_window_s, until)
        except Exception as exc:  # events enrich the state; their absence is not a failure
            return [({"Action": "unavailable"}, f"events unavailable: {short(exc)}")]
        out = []
        for ev in items:
            action = ev.get("Action") or ev.get("status")
            attrs = (ev.get("Actor") or {}).get("Attributes") or {}
            when = states.clock(_event_time(ev))
            if action == "die":
                out.append((ev, f"{when} die exitCode={attrs.get('exitCode', '?')}"))
            elif action == "kill":
                out.append((ev, f"{when} kill signal={attrs.get('signal', '?')}"))
            elif action in ("oom", "stop", "start", "pause", "unpause"):
                out.append((ev, f"{when} {action}"))
        return out

    def logs(self, lines: int) -> list[LogLine]:
        doc = self._container(self.settings.service)
        if doc is None:
            raise NotPresent(ABSENT)
        text = self.backend.logs(doc["Id"], tail=lines, since=self.since, timestamps=True)
        return _log_lines(text, _epoch((doc.get("State") or {}).get("StartedAt")))

    def startup_logs(self, lines: int) -> list[LogLine]:
        """The start of the current run, read by time (docker logs --since/--until): noise the
        engine prints later cannot push its startup validation out of reach."""
        doc = self._container(self.settings.service)
        if doc is None:
            raise NotPresent(ABSENT)
        started = _epoch((doc.get("State") or {}).get("StartedAt"))
        if started is None:
            return self.logs(lines)
        text = self.backend.logs(doc["Id"], since=max(started - 1, self.since or 0),
                                 until=started + STARTUP_LOG_S, timestamps=True)
        return _log_lines(text, started)[:lines]

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
    # Masked, then cut: a cut first could leave a secret's prefix no mask recognises.
    return [clip(f"exit={e.get('ExitCode')} {str(e.get('Output', '')).strip()}", 200) for e in log[-3:]]


def _epoch(text: str | None) -> float | None:
    dt = parse_docker_time(text)
    return dt.timestamp() if dt else None


def _event_time(ev: dict[str, Any]) -> float | None:
    nano = ev.get("timeNano")
    if isinstance(nano, int) and nano > 0:
        return nano / 1e9
    t = ev.get("time")
    return float(t) if isinstance(t, int | float) else None


def _exits(timeline: list[tuple[dict[str, Any], str]], kernel: list[float], doc: dict[str, Any],
           running: bool, since: float | None = None) -> list[Exit]:
    """Every exit in the window, oldest first: a die, with the stop or kill that asked for it
    (a kill event shortly before), the OOM kill that caused it (an oom event or the kernel's
    line), and how long the run lasted (from the start before it)."""
    out: list[Exit] = []
    asked: tuple[float, str] | None = None  # (when, what) of the last request
    started: float | None = None
    oom_at: float | None = None
    for ev, _ in timeline:
        action, at = ev.get("Action") or ev.get("status"), _event_time(ev)
        attrs = (ev.get("Actor") or {}).get("Attributes") or {}
        if action == "start":
            started, asked, oom_at = at, None, None
        elif action == "kill" and at is not None:
            sig = str(attrs.get("signal", "?"))
            if asked is None or "stop" not in asked[1]:
                word = "docker stop" if sig in ("15", "SIGTERM") else f"docker kill (signal {sig})"
                asked = (at, f"{word} at {states.clock(at)}")
        elif action == "oom":
            oom_at = at
        elif action == "die":
            code = _int(attrs.get("exitCode"))
            requested = _request_for(asked, at)
            oom = oom_at is not None or any(at is not None and abs(k - at) <= 3 for k in kernel)
            out.append(Exit(at, code, oom=oom and not requested, requested=requested,
                            ran_s=None if started is None or at is None else at - started))
            asked, oom_at = None, None
    st = doc.get("State") or {}
    down = not running and st.get("Status") in ("exited", "dead") and not st.get("Restarting")
    finished, begun = _epoch(st.get("FinishedAt")), _epoch(st.get("StartedAt"))
    if down and not out:
        # The die event fell out of the window (or of the daemon's short event buffer, which
        # every exec fills, or past the window's whole second): the container's own record,
        # with the stop or kill that asked for it when that event is still there.
        requested = _request_for(asked, finished)
        out.append(Exit(finished, st.get("ExitCode"), oom=bool(st.get("OOMKilled")) and not requested,
                        requested=requested,
                        ran_s=None if finished is None or begun is None else finished - begun))
    if running and not out and finished and begun and finished <= begun and (
            since is None or finished >= since):
        # The run before this one ended in the window, but its die event is gone from the
        # daemon's short buffer: the container's record keeps when (FinishedAt) and whether the
        # kernel killed it for memory (OOMKilled, or the kernel's line at that time); a start
        # resets the exit code.
        oom = bool(st.get("OOMKilled")) or any(abs(k - finished) <= 3 for k in kernel)
        out.append(Exit(finished, 137 if oom else None, oom=oom))
    policy = ((doc.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
    if down and out and not out[-1].requested and not out[-1].oom and policy in ("always",
                                                                               "unless-stopped"):
        # Docker restarts a container with this policy after any exit it did not ask for; one
        # left down was stopped or killed on request, even when the event saying so is gone.
        last = out[-1]
        # A stopped engine ends with 0 or 143 (it handles SIGTERM); 137 is a kill, or a stop
        # whose grace ran out, which the events alone could tell apart.
        word = "docker stop" if last.code in (0, 143) else "docker kill (or a stop past its grace)"
        out[-1] = Exit(last.at, last.code, False, f"{word}: the restart policy '{policy}' left it "
                       "down, which Docker does only after a request", last.ran_s)
    return out


def _request_for(asked: tuple[float, str] | None, ended: float | None) -> str:
    """The stop or kill (when, what) that asked for an exit at `ended`: one shortly before it
    (a second after, for the container record's clock against the event's)."""
    if asked is None or ended is None or not -1.0 <= ended - asked[0] <= STOP_TO_DIE_S:
        return ""
    return asked[1]


def _stop_pending(timeline: list[tuple[dict[str, Any], str]], started: float | None,
                  now: float) -> str | None:
    """A stop asked of the current run (SIGTERM, SIGINT, SIGQUIT, SIGKILL) that it has not yet
    ended with, within a drain's length: what and when. A server draining after SIGTERM
    answers 503 'shutting down' for a while: a stop in progress, not failing requests. A
    signal that does not stop (SIGHUP: reload) and one long ignored are not."""
    asked: str | None = None
    for ev, _ in timeline:
        action, at = ev.get("Action") or ev.get("status"), _event_time(ev)
        if action in ("start", "die"):
            asked = None
        elif action == "kill" and at is not None and (started is None or at >= started) \
                and now - at <= DRAIN_S:
            sig = str(((ev.get("Actor") or {}).get("Attributes") or {}).get("signal", "?"))
            if sig.upper().removeprefix("SIG") in STOP_SIGNALS:
                asked = f"signal {sig} at {states.clock(at)} (docker stop or docker kill)"
    return asked


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _how(st: dict[str, Any], running: bool, restarting: bool, uptime: float | None,
         exits: list[Exit], doc: dict[str, Any]) -> tuple[str, str, list[str]]:
    """-> (state word, the sentence with its evidence, history lines)."""
    last = exits[-1] if exits else None
    policy = ((doc.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
    if st.get("Paused"):
        return states.PAUSED, "paused (docker pause): the process is frozen and answers nothing", []
    networks = (doc.get("NetworkSettings") or {}).get("Networks")
    if running and not restarting and networks == {}:
        return states.DETACHED, ("running, but attached to no network (docker network disconnect): "
                                 "its published ports and its database are out of reach"), []
    if states.looping(exits, uptime, restarting):
        unasked = [e for e in exits if not e.requested]
        tail = f"; last: {states.exit_state(unasked[-1])[1]}" if unasked else ""
        return states.CRASH_LOOPING, (f"crash-looping: {len(unasked)} exit(s) in the event window, "
                                      f"restart policy '{policy}'{tail}"), []
    if restarting and last is not None:
        word, text = states.exit_state(last)
        return word, f"{text}; docker is restarting it (restart policy '{policy}')", []
    if running:
        history = []
        if last is not None:
            history.append(_history_line(last, policy))
        since = states.clock(_epoch(st.get("StartedAt")))
        if (st.get("Health") or {}).get("Status") == "starting":
            if last is not None and last.requested:
                return states.STARTING, (f"restarted on request ({last.requested}, started again "
                                         f"at {since}), not yet past its healthcheck"), history
            if last is not None:
                # Restarted after an exit, not serving yet: the exit is this incident.
                word, text = states.exit_state(last)
                return word, (f"{text}; restarted at {since}, not yet past its healthcheck"), []
            return states.STARTING, f"started at {since}, not yet past its healthcheck", history
        return states.RUNNING, f"running since {since}", history
    if last is None:
        return states.EXITED, f"not running (status '{st.get('Status')}'), no exit recorded", []
    return (*states.exit_state(last), [])


def _history_line(last: Exit, policy: str) -> str:
    # Docker restarts after an exit it was not asked for, as its policy says; after a request,
    # or with no policy that covers the exit, a start is someone's (its events do not say whose).
    by = "docker (restart policy)" if _policy_restarts(policy, last) else ""
    return states.history_line(last, states.exit_state(last)[0], by)


def _policy_restarts(policy: str, last: Exit) -> bool:
    """Whether Docker's restart policy restarts after this exit (on-failure: non-zero only)."""
    if last.requested or policy in ("", "no"):
        return False
    return policy != "on-failure" or last.code not in (0, None)


def _log_lines(text: str, started: float | None) -> list[LogLine]:
    """`docker logs -t` lines -> LogLines; a line at or after the last start is of the current
    run (a little slack: Docker stamps the start and the first line in the same instant)."""
    out = []
    # Lines end at "\n" only: a log's other control characters (\r, \x0b, \x1c...) are its
    # content, and Docker counts lines (its `tail`) by "\n".
    for raw in text.removesuffix("\n").split("\n") if text else []:
        stamp, sep, rest = raw.partition(" ")
        when = _epoch(stamp) if sep and "T" in stamp and stamp[:1].isdigit() else None
        body = rest if when is not None else raw
        run = UNKNOWN if when is None or started is None else \
            CURRENT if when >= started - 0.5 else EARLIER
        out.append(LogLine(body, when, run))
    return out
