"""Kubernetes: watches on the engine's pods and on the namespace's events."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from servicedown.backends.kube import ApiError, KubeBackend
from servicedown.config import Settings
from servicedown.targets.kubernetes_pods import container_statuses, parse_time, pod_ready
from servicedown.watch.sources.base import RETRY_S, Emit, Source, WatchEvent

KUBE_WATCH_S = 30  # the API server ends each watch after this; it is then resumed

def _k8s_time(*texts: Any) -> float | None:
    times = [t.timestamp() for t in (parse_time(x) for x in texts if isinstance(x, str)) if t]
    return max(times) if times else None


def pod_signature(pod: dict[str, Any]) -> tuple[Any, ...]:
    """What of a pod makes a difference to the checks: phase, readiness, restarts, why a
    container waits or ended, whether it is being deleted."""
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
        self.settings = settings
        self.backend = KubeBackend(settings.kubeconfig, settings.check_timeout_s, settings.namespace)
        self.pods: dict[str, tuple[Any, ...]] = {}
        self.events_thread: threading.Thread | None = None

    @property
    def ns_path(self) -> str:
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
