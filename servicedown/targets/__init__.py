"""One module per platform; `make_target` picks one from the settings.

Each platform's module is imported only when it is picked: the Docker, Kubernetes and testinfra
clients under them cost up to half a second each to import, and a run needs one of them."""

from __future__ import annotations

from servicedown.backends.command import CommandResult
from servicedown.config import Settings
from servicedown.targets.base import (
    NotSupported,
    ServiceState,
    Target,
    TargetError,
)


def make_target(settings: Settings) -> Target:
    if settings.target == "compose":
        from servicedown.targets.compose import ComposeTarget

        return ComposeTarget(settings)
    if settings.target == "systemd":
        from servicedown.targets.systemd import SystemdTarget

        return SystemdTarget(settings)
    if settings.target == "kubernetes":
        from servicedown.targets.kubernetes import KubernetesTarget

        return KubernetesTarget(settings)
    from servicedown.targets.url import UrlTarget

    return UrlTarget(settings)


__all__ = ["CommandResult", "NotSupported", "ServiceState", "Target", "TargetError", "make_target"]
