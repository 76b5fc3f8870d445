"""Stand-ins for a platform and the network, for tests that judge what the library says about
answers they set (masking, messages), not how a platform is asked."""

from __future__ import annotations

from typing import Any

from servicedown.backends.command import CommandResult
from servicedown.backends.http import HttpAnswer
from servicedown.config import Settings
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.runner import run_checks
from servicedown.model import CheckResult
from servicedown.targets.base import LogLine, ServiceState, Target


class FakeTarget(Target):
    """A running service with the given environment; `state_error` makes state() raise."""

    kind = "fake"

    def __init__(self, env: dict[str, str] | None = None, state_error: Exception | None = None,
                 settings: Settings | None = None) -> None:
        super().__init__(settings or Settings(target="url"))
        self.env = env
        self.state_error = state_error

    def describe(self) -> str:
        return "fake"

    def state(self) -> ServiceState:
        if self.state_error:
            raise self.state_error
        return ServiceState(exists=True, running=True, status="running")

    def logs(self, lines: int) -> list[LogLine]:
        return []

    def environment(self) -> dict[str, str] | None:
        return self.env

    def run_in_service(self, argv: list[str], timeout: float) -> CommandResult | None:
        return None

    def restart(self) -> str:
        return ""


class FakeNetwork:
    """Answers every GET with one HttpAnswer."""

    def __init__(self, answer: HttpAnswer) -> None:
        self.answer = answer

    def get(self, url: str) -> HttpAnswer:
        return self.answer

    def close(self) -> None:
        pass


class FailingHost:
    """A testinfra host backend whose every command fails with `stderr`."""

    spec = "docker://fake"
    probed = True

    def __init__(self, stderr: str) -> None:
        self.stderr = stderr

    def run(self, command: str, timeout: float, secret_output: bool = False) -> CommandResult:
        return CommandResult(1, "", self.stderr)

    def close(self) -> None:
        pass


def results(target: Target, only: list[str], network: Any = None) -> dict[str, CheckResult]:
    """The named checks run against `target` (and `network` for HTTP), by id."""
    ctx = Context(target.settings, target, network)
    return {r.id: r for r in run_checks(target.settings, target, only=only, ctx=ctx)}
