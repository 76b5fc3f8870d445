"""Where watch hears that something changed: the platform's own event stream, and /health.

    Compose     the Docker events API, streamed (start, die, oom, kill, stop, health_status...)
    Kubernetes  a watch on the engine's pods and on the namespace's events
    systemd     `journalctl -f -u UNIT` and the unit's properties, in one command on the host
    every one   /health polled every second (a URL target has nothing else): a change of its
                answer is an event too, which is how a cut database link shows

Each source is a daemon thread that turns what it hears into WatchEvents on a queue. Every
wait is bounded: a source whose platform stops answering emits a `platform` event saying so,
retries with a pause, and says when it answers again.
"""

from __future__ import annotations

import contextlib
import os
import queue
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from servicedown.config import Settings
from servicedown.healthy import health_state

RETRY_S = 2.0  # pause before a source tries its platform again
PULSE_S = 1.0  # /health is asked this often
PING_S = 5.0  # the Docker engine is pinged this often while its stream is quiet
KUBE_WATCH_S = 30  # the API server ends each watch after this; it is then resumed
HOST_SESSION_S = 300  # the follower on a systemd host ends after this and is started again
HOST_SILENCE_S = 15.0  # the follower prints a heartbeat every 5 s; this long without a line: gone


@dataclass(frozen=True)
class WatchEvent:
    at: float  # epoch: the platform's time of the event where it gave one, else when heard
    kind: str  # a key of affected.AFFECTED
    what: str  # one line for people
    source: str  # docker | kubernetes | journal | health
    restart: bool = False  # the platform started the service (again)
    up: bool | None = None  # kind "platform": the source answers again (True) or not (False)


Emit = Callable[[WatchEvent], None]


class Source(threading.Thread):
    """One event source: `follow()` blocks while the platform streams, raising when it cannot be
    reached; run() retries it until `stop()`, with one `platform` event per change of answer."""

    name_word = "source"

    def __init__(self, emit: Emit) -> None:
        super().__init__(daemon=True, name=f"watch-{self.name_word}")
        self.emit = emit
        self.stopping = threading.Event()
        self.answering: bool | None = None
        self.problem = ""

    def follow(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.follow()
            except Exception as exc:  # whatever broke the stream is what the user sees
                if self.stopping.is_set():
                    return
                self.mark(False, " ".join(str(exc).split())[:240] or type(exc).__name__)
            self.stopping.wait(RETRY_S)

    def mark(self, up: bool, why: str = "") -> None:
        """Say once when the platform stops or starts answering."""
        if self.answering is up:
            return
        first = self.answering is None
        self.answering, self.problem = up, "" if up else why
        if first and up:
            return  # answering from the start: nothing changed
        what = (f"{self.name_word}: answering again" if up else
                f"{self.name_word}: not answering ({why})")
        self.emit(WatchEvent(time.time(), "platform", what, self.name_word, up=up))

    def stop(self) -> None:
        self.stopping.set()


# --- Compose: the Docker events API -----------------------------------------------------------
DOCKER_ACTIONS = ("create", "start", "restart", "die", "oom", "kill", "stop", "pause", "unpause",
                  "destroy", "health_status")


def docker_event(ev: dict[str, Any], settings: Settings) -> WatchEvent | None:
    """A Docker event of the project's containers as a WatchEvent (None: not one watch uses)."""
    action = str(ev.get("Action") or ev.get("status") or "")
    attrs = (ev.get("Actor") or {}).get("Attributes") or {}
    service = str(attrs.get("com.docker.compose.service") or attrs.get("name") or "?")
    if not action or action.startswith("exec_"):
        return None
    nano = ev.get("timeNano")
    at = nano / 1e9 if isinstance(nano, int) and nano > 0 else float(ev.get("time") or time.time())
    kind = ("service" if service == settings.service else
            "database" if service == settings.db_service else "network")
    extra = f" exitCode={attrs['exitCode']}" if action == "die" and "exitCode" in attrs else ""
    extra += f" signal={attrs['signal']}" if action == "kill" and "signal" in attrs else ""
    return WatchEvent(at, kind, f"container {service}: {action}{extra}", "docker",
                      restart=kind == "service" and action == "start")


class DockerEvents(Source):
    name_word = "docker events"

    def __init__(self, emit: Emit, settings: Settings) -> None:
        super().__init__(emit)
        from servicedown.backends.docker import DockerBackend

        self.settings = settings
        self.backend = DockerBackend(timeout_s=5.0)  # its own connection: the stream holds one
        self.since = time.time() - 1.0  # resubscribing from the last event loses none
        self.seen: deque[tuple[Any, ...]] = deque(maxlen=512)
        self.stream: Any = None

    def follow(self) -> None:
        from servicedown.targets.compose import PROJECT_LABEL

        self.backend.ping()
        self.stream = self.backend.stream_events({PROJECT_LABEL: self.settings.compose_project},
                                                 DOCKER_ACTIONS, since=self.since)
        self.mark(True)
        dog = threading.Thread(target=self._watchdog, args=(self.stream,), daemon=True,
                               name="watch-docker-ping")
        dog.start()
        try:
            for ev in self.stream:
                if self.stopping.is_set():
                    return
                key = (ev.get("timeNano"), (ev.get("Actor") or {}).get("ID"), ev.get("Action"))
                if key in self.seen:
                    continue
                self.seen.append(key)
                event = docker_event(ev, self.settings)
                if event is not None:
                    self.since = max(self.since, event.at)
                    self.emit(event)
        finally:
            with contextlib.suppress(Exception):
                self.stream.close()
        if not self.stopping.is_set():
            raise RuntimeError("the Docker event stream ended")

    def _watchdog(self, stream: Any) -> None:
        """The SDK reads the stream without a timeout: a ping that fails closes it, so an engine
        that stops answering ends the wait instead of holding it forever."""
        while not self.stopping.wait(PING_S):
            if stream is not self.stream:
                return
            try:
                self.backend.client.ping()
            except Exception as exc:
                self.mark(False, f"the Docker engine does not answer a ping ({str(exc)[:160]})")
                with contextlib.suppress(Exception):
                    stream.close()
                return

    def stop(self) -> None:
        super().stop()
        with contextlib.suppress(Exception):
            if self.stream is not None:
                self.stream.close()


# --- Kubernetes: watches on pods and events -----------------------------------------------------
def _k8s_time(*texts: Any) -> float | None:
    from servicedown.targets.kubernetes_pods import parse_time

    times = [t.timestamp() for t in (parse_time(x) for x in texts if isinstance(x, str)) if t]
    return max(times) if times else None


def pod_signature(pod: dict[str, Any]) -> tuple[Any, ...]:
    """What of a pod makes a difference to the checks: phase, readiness, restarts, why a
    container waits or ended, whether it is being deleted."""
    from servicedown.targets.kubernetes_pods import container_statuses, pod_ready

    st = pod.get("status") or {}
    statuses = container_statuses(pod)
    waiting = tuple(sorted(str(((c.get("state") or {}).get("waiting") or {}).get("reason") or "")
                           for c in statuses))
    ended = tuple(sorted(str(((c.get("state") or {}).get("terminated") or {}).get("reason") or "")
                         for c in statuses))
    return (st.get("phase"), st.get("reason"), pod_ready(pod),
            sum(int(c.get("restartCount") or 0) for c in statuses), waiting, ended,
            bool((pod.get("metadata") or {}).get("deletionTimestamp")))


def pod_time(pod: dict[str, Any]) -> float | None:
    """The latest time the pod's status records: a container's start or end, a condition."""
    from servicedown.targets.kubernetes_pods import container_statuses

    st = pod.get("status") or {}
    texts: list[Any] = [c.get("lastTransitionTime") for c in st.get("conditions") or []]
    for c in container_statuses(pod):
        for part in (c.get("state") or {}, c.get("lastState") or {}):
            for v in part.values():
                if isinstance(v, dict):
                    texts += [v.get("startedAt"), v.get("finishedAt")]
    return _k8s_time(*texts)


def pod_words(sig: tuple[Any, ...]) -> str:
    phase, reason, ready, restarts, waiting, ended, deleting = sig
    parts = [str(phase or "?"), "ready" if ready else "not ready", f"restarts {restarts}"]
    parts += [w for w in (*waiting, *ended, reason or "") if w]
    if deleting:
        parts.append("deleting")
    return ", ".join(parts)


class KubeWatch(Source):
    name_word = "kubernetes watch"

    def __init__(self, emit: Emit, settings: Settings) -> None:
        super().__init__(emit)
        from servicedown.backends.kube import KubeBackend

        self.settings = settings
        self.backend = KubeBackend(settings.kubeconfig, settings.check_timeout_s, settings.namespace)
        self.pods: dict[str, tuple[Any, ...]] = {}
        self.events_thread: threading.Thread | None = None

    @property
    def ns_path(self) -> str:
        from urllib.parse import quote

        return f"/api/v1/namespaces/{quote(self.settings.namespace)}"

    def follow(self) -> None:
        if self.events_thread is None or not self.events_thread.is_alive():
            self.events_thread = threading.Thread(target=self._events_forever, daemon=True,
                                                  name="watch-kube-events")
            self.events_thread.start()
        self._follow(f"{self.ns_path}/pods", {"labelSelector": self.settings.selector},
                     self._pod, self._seed_pods)

    def _events_forever(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(Exception):  # the pod watch reports the API's absence
                self._follow(f"{self.ns_path}/events", {"fieldSelector": "involvedObject.kind=Pod"},
                             self._event, None)
            self.stopping.wait(RETRY_S)

    def _follow(self, path: str, query: dict[str, Any], handle: Callable[[str, dict], None],
                seed: Callable[[list[dict]], None] | None) -> None:
        """List, then watch from the list's resourceVersion, resuming each time the API ends
        the watch; a 410 (the version is too old) lists again."""
        from servicedown.backends.kube import ApiError

        doc = self.backend.get(path, query)
        self.mark(True)
        if seed is not None:
            seed(list(doc.get("items") or []))
        version = (doc.get("metadata") or {}).get("resourceVersion")
        while not self.stopping.is_set():
            try:
                for ev in self.backend.watch(path, {**query, "resourceVersion": version},
                                             KUBE_WATCH_S):
                    if self.stopping.is_set():
                        return
                    kind, obj = ev.get("type"), ev.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            return  # follow() lists again
                        raise RuntimeError(f"watch error: {obj.get('message')}")
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if kind != "BOOKMARK":
                        handle(str(kind), obj)
            except ApiError as exc:
                if exc.status == 410:
                    return
                raise

    def _seed_pods(self, pods: list[dict]) -> None:
        self.pods = {str((p.get("metadata") or {}).get("name")): pod_signature(p) for p in pods}

    def _pod(self, kind: str, pod: dict) -> None:
        name = str((pod.get("metadata") or {}).get("name"))
        before = self.pods.get(name)
        if kind == "DELETED":
            self.pods.pop(name, None)
            self.emit(WatchEvent(time.time(), "service", f"pod {name} deleted", "kubernetes"))
            return
        sig = pod_signature(pod)
        self.pods[name] = sig
        if sig == before:
            return
        restarted = before is not None and sig[3] > before[3]
        at = (pod_time(pod) if restarted or before is None else None) or time.time()
        what = f"pod {name} {'added' if before is None else 'changed'}: {pod_words(sig)}"
        self.emit(WatchEvent(at, "service", what, "kubernetes", restart=restarted))

    def _event(self, kind: str, ev: dict) -> None:
        if kind == "DELETED":
            return
        involved = ev.get("involvedObject") or {}
        name = str(involved.get("name") or "")
        if name not in self.pods and not name.startswith(self.settings.deployment + "-"):
            return
        at = _k8s_time(ev.get("lastTimestamp"), ev.get("eventTime"), ev.get("firstTimestamp"))
        what = f"event {ev.get('reason')}: pod {name}: {' '.join(str(ev.get('message') or '').split())[:200]}"
        self.emit(WatchEvent(at or time.time(), "service", what, "kubernetes"))

    def stop(self) -> None:
        super().stop()
        self.backend.close()


# --- systemd: the journal and the unit's properties ---------------------------------------------
# One command on the host: `journalctl -f` for the unit's lines (systemd's own about it too), and
# the unit's properties printed when they change, with a heartbeat so silence can be told from
# a host that is gone. Both bounded by `timeout` where the host has it; a closed pipe ends both.
FOLLOW_SCRIPT = r"""
unit="$1"; bound="$2"
t() { if command -v timeout >/dev/null 2>&1; then timeout -k 2 "$@"; else shift; "$@"; fi; }
t "$bound" journalctl -f -n 0 -q -o short-unix --no-pager -u "$unit" &
j=$!
trap 'kill $j 2>/dev/null' EXIT INT TERM HUP PIPE
last=""; n=0
while [ "$n" -lt "$bound" ]; do
  now=$(systemctl show "$unit" -p ActiveState -p SubState -p MainPID -p NRestarts -p Result 2>&1 \
        | tr '\n' ' ')
  if [ "$now" != "$last" ]; then echo "P $(date +%s.%N) $now" || exit 0; last="$now"; fi
  if [ $((n % 5)) -eq 0 ]; then echo H || exit 0; fi
  n=$((n + 1)); sleep 1
done
"""
LIFECYCLE = ("Main process exited", "Failed with result", "Scheduled restart job", "OOM killer",
             "Start request repeated", "Failed to ", "Killing process", "Stopping", "Stopped",
             "Deactivated successfully", "Started", "Consumed", "A process of this unit")
ERROR_WORDS = ("ERROR", "CRITICAL", "FATAL", "Traceback", "Exception")


def unit_props(text: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in text.split() if "=" in p)


class JournalFollow(Source):
    name_word = "journal"

    def __init__(self, emit: Emit, settings: Settings) -> None:
        super().__init__(emit)
        from servicedown.backends.host import HostBackend
        from servicedown.targets.systemd_read import unit_id

        self.settings = settings
        self.unit = unit_id(settings.unit)
        self.backend = HostBackend(settings.host)
        self.proc: subprocess.Popen[str] | None = None
        self.main_pid: str | None = None
        self.props: dict[str, str] = {}

    def follow(self) -> None:
        import shlex

        argv = self.backend.stream_argv(shlex.join(["sh", "-c", FOLLOW_SCRIPT, "sh", self.settings.unit,
                                                    str(HOST_SESSION_S)]))
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1,
                                     start_new_session=True)
        last_other = ""
        try:
            for line in _lines(self.proc, HOST_SILENCE_S, self.stopping):
                if line == "H":
                    self.mark(True)
                elif line.startswith("P "):
                    self.mark(True)
                    self._props(line[2:])
                elif line[:1].isdigit():
                    self._journal(line)
                elif line.strip():
                    last_other = line.strip()
        finally:
            _end(self.proc)
        if not self.stopping.is_set() and self.proc.returncode not in (0, 124, None):
            raise RuntimeError(f"following the journal on {self.settings.host} failed "
                               f"(exit {self.proc.returncode}): {last_other[:200]}")

    def _props(self, text: str) -> None:
        stamp, _, rest = text.partition(" ")
        try:
            at = float(stamp)
        except ValueError:
            at = time.time()
        props = unit_props(rest)
        pid = props.get("MainPID")
        restarted = bool(pid and pid != "0" and self.main_pid not in (None, "0", pid))
        restarted = restarted or bool(self.main_pid == "0" and pid not in (None, "0") and self.props)
        if pid and pid != "0":
            self.main_pid = pid
        elif pid == "0":
            self.main_pid = self.main_pid if self.main_pid is not None else "0"
        if props == self.props:
            return
        first = not self.props
        self.props = props
        if first:
            return  # the state the full run already read
        what = (f"unit {self.unit}: {props.get('ActiveState')}/{props.get('SubState')} "
                f"(pid {pid}, restarts {props.get('NRestarts')}, result {props.get('Result')})")
        self.emit(WatchEvent(at, "service", what, "journal", restart=restarted))

    def _journal(self, line: str) -> None:
        stamp, _, rest = line.partition(" ")
        try:
            at = float(stamp)
        except ValueError:
            return
        _host, _, text = rest.partition(" ")
        ident, _, message = text.partition(": ")
        if ident.startswith("systemd") and any(w in message for w in LIFECYCLE):
            self.emit(WatchEvent(at, "service", f"journal: {message[:200]}", "journal"))
        elif any(w in message for w in ERROR_WORDS):
            self.emit(WatchEvent(at, "log", f"journal: {message[:200]}", "journal"))

    def stop(self) -> None:
        super().stop()
        if self.proc is not None:
            _end(self.proc)


def _lines(proc: subprocess.Popen[str], silence_s: float, stopping: threading.Event) -> Iterator[str]:
    """The process's output lines; RuntimeError after silence_s without one (the host is gone)."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while not stopping.is_set():
            if not sel.select(timeout=silence_s):
                raise RuntimeError(f"no word from the host for {silence_s:g} s")
            line = proc.stdout.readline()
            if not line:
                return
            yield line.rstrip("\n")
    finally:
        sel.close()


def _end(proc: subprocess.Popen[str]) -> None:
    """End the follower and whatever it started (its own process group)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=3)
    if proc.stdout is not None:
        with contextlib.suppress(Exception):
            proc.stdout.close()


# --- every target: /health, polled ---------------------------------------------------------------
def health_signature(status: int | None, body: Any) -> tuple[Any, ...]:
    """What of a /health answer makes a difference: its meaning, its HTTP status, and the state
    of each dependency it reports (the engine's database)."""
    parts: list[tuple[str, str]] = []
    if isinstance(body, dict):
        for c in body.get("checks") or [] if isinstance(body.get("checks"), list) else []:
            if isinstance(c, dict):
                parts.append((str(c.get("component") or c.get("name")), str(c.get("status"))))
        services = body.get("services")
        if isinstance(services, dict):
            parts += [(str(k), str(v)) for k, v in services.items()]
    return (health_state(status, body), status, tuple(sorted(parts)))


def signature_words(sig: tuple[Any, ...]) -> str:
    state, status, parts = sig
    deps = ", ".join(f"{k} {v}" for k, v in parts)
    return f"{state} (HTTP {status if status is not None else '-'}{'; ' + deps if deps else ''})"


class HealthPulse(Source):
    name_word = "health"

    def __init__(self, emit: Emit, settings: Settings) -> None:
        super().__init__(emit)
        self.settings = settings
        self.last: tuple[Any, ...] | None = None

    def follow(self) -> None:
        from servicedown.backends import http

        bound = min(self.settings.http_timeout_s, 2.0)
        url = self.settings.base + "/health"
        with http.make_client(bound, self.settings.verify_tls) as client:
            while not self.stopping.is_set():
                started = time.monotonic()
                answer = http.get(client, url, bound)
                sig = health_signature(answer.status, answer.body)
                if self.last is not None and sig != self.last:
                    self.emit(WatchEvent(time.time(), "health", f"/health: {signature_words(self.last)} "
                                         f"→ {signature_words(sig)}", "health"))
                self.last = sig
                self.stopping.wait(max(PULSE_S - (time.monotonic() - started), 0.05))


def sources_for(settings: Settings, emit: Emit) -> list[Source]:
    """The platform's own stream (none for a URL target) and the /health pulse."""
    found: list[Source] = []
    if settings.target == "compose":
        found.append(DockerEvents(emit, settings))
    elif settings.target == "kubernetes":
        found.append(KubeWatch(emit, settings))
    elif settings.target == "systemd":
        found.append(JournalFollow(emit, settings))
    found.append(HealthPulse(emit, settings))
    return found


class EventQueue:
    """The sources' events, for the loop: `wait` blocks until one comes or the bound passes,
    then gathers the burst that follows it (a kill, a die and a start come together)."""

    def __init__(self) -> None:
        self.q: queue.Queue[WatchEvent] = queue.Queue()

    def put(self, event: WatchEvent) -> None:
        self.q.put(event)

    def wait(self, timeout_s: float, burst_s: float = 0.05) -> list[WatchEvent]:
        try:
            first = self.q.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return []
        out = [first]
        deadline = time.monotonic() + burst_s
        while True:
            left = deadline - time.monotonic()
            try:
                out.append(self.q.get(timeout=max(left, 0.0)) if left > 0 else self.q.get_nowait())
            except queue.Empty:
                return out


def describe(sources: list[Source]) -> str:
    return ", ".join(s.name_word for s in sources)
