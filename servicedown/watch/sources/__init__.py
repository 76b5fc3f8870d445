"""Where watch hears that something changed: the platform's own event stream, and /health.

    Compose     the Docker events API, streamed (start, die, oom, kill, stop, health_status...)
    Kubernetes  a watch on the engine's pods and on the namespace's events
    systemd     `journalctl -f -u UNIT` and the unit's properties, in one command on the host
    every one   /health polled every second (a URL target has nothing else): a change of its
                answer is an event too, which is how a cut database link shows

Each source is a daemon thread that turns what it hears into WatchEvents on a queue. Every
wait is bounded: a source whose platform stops answering emits a `platform` event saying so,
retries with a pause, and says when it answers again.

As with the targets, a platform's module is imported only when it is picked: the Docker and
Kubernetes clients under them cost half a second each to import, and `pytest checks/` loads this
package for its --watch options.
"""

from __future__ import annotations

from servicedown.config import Settings
from servicedown.watch.sources.base import Emit, EventQueue, Source, WatchEvent
from servicedown.watch.sources.health import HealthPulse


def sources_for(settings: Settings, emit: Emit) -> list[Source]:
    """The platform's own stream (none for a URL target) and the /health pulse."""
    found: list[Source] = []
    if settings.target == "compose":
        from servicedown.watch.sources.docker import DockerEvents

        found.append(DockerEvents(emit, settings))
    elif settings.target == "kubernetes":
        from servicedown.watch.sources.kube import KubeWatch

        found.append(KubeWatch(emit, settings))
    elif settings.target == "systemd":
        from servicedown.watch.sources.journal import JournalFollow

        found.append(JournalFollow(emit, settings))
    found.append(HealthPulse(emit, settings))
    return found


__all__ = ["Emit", "EventQueue", "HealthPulse", "Source", "WatchEvent", "sources_for"]
