"""Compose: the Docker events API, streamed, for the project's containers."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from typing import Any

from servicedown.backends.docker import DockerBackend
from servicedown.config import Settings
from servicedown.targets.compose import PROJECT_LABEL
from servicedown.watch.sources.base import Emit, Source, WatchEvent

PING_S = 5.0  # the Docker engine is pinged this often while its stream is quiet

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
        self.settings = settings
        self.backend = DockerBackend(timeout_s=5.0)  # its own connection: the stream holds one
        self.since = time.time() - 1.0  # resubscribing from the last event loses none
        self.seen: deque[tuple[Any, ...]] = deque(maxlen=512)
        self.stream: Any = None

    def follow(self) -> None:
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
