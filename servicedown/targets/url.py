"""URL target: only the service's HTTP endpoints are known (no platform access).

Platform questions (state, logs, environment, host facts) are answered "not available",
which the checks report as skipped; the HTTP and (with --db-host) database checks still run.
"""

from __future__ import annotations

from servicedown.backends.command import CommandResult
from servicedown.targets.base import NotSupported, ServiceState, Target


class UrlTarget(Target):
    kind = "url"

    def describe(self) -> str:
        return f"url {self.settings.shown_base}"

    def state(self) -> ServiceState:
        raise NotSupported("a url target has no platform state; use --target compose|systemd|kubernetes")

    def logs(self, lines: int) -> list[str]:
        raise NotSupported("a url target has no logs; use --target compose|systemd|kubernetes")

    def environment(self) -> dict[str, str] | None:
        return None

    def run_in_service(self, argv: list[str], timeout: float) -> CommandResult | None:
        raise NotSupported("a url target cannot run commands where the service runs; use "
                           "--target compose|systemd|kubernetes for resources and the engine's side")

    def restart(self) -> str:
        raise NotSupported("a url target cannot be restarted; restart it on its platform")
