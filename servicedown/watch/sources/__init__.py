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

from servicedown.config import Settings
from servicedown.watch.sources.base import Emit, EventQueue, Source, WatchEvent
from servicedown.watch.sources.docker import DockerEvents, docker_event
from servicedown.watch.sources.health import HealthPulse, health_signature, signature_words
from servicedown.watch.sources.journal import JournalFollow, unit_props
from servicedown.watch.sources.kube import KubeWatch, pod_signature, pod_time, pod_words


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


__all__ = ["DockerEvents", "EventQueue", "HealthPulse", "JournalFollow", "KubeWatch", "Source",
           "WatchEvent", "docker_event", "health_signature", "pod_signature", "pod_time", "pod_words",
           "signature_words", "sources_for", "unit_props"]
