"""The registry of diagnosis checks: one small function per runbook step or cause.

A check function takes the shared Context and returns a Finding (outcome, message,
evidence); the runner stamps id, runbook item and timing on it. Registering by decorator
keeps each check next to its runbook section and the vocabulary in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from servicedown.model import Outcome

if TYPE_CHECKING:
    from servicedown.diagnosis.context import Context


@dataclass
class Finding:
    outcome: Outcome
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


def ok(message: str, **evidence: Any) -> Finding:
    return Finding(Outcome.PASS, message, evidence)


def bad(message: str, **evidence: Any) -> Finding:
    return Finding(Outcome.FAIL, message, evidence)


def skip(message: str, **evidence: Any) -> Finding:
    return Finding(Outcome.SKIP, message, evidence)


@dataclass(frozen=True)
class CheckSpec:
    id: str
    runbook: str  # runbook item ids, comma separated ("diagnosis-1", "cause-2.2")
    title: str
    func: Callable[[Context], Finding]
    command: str = ""  # the runbook command this check stands for, if any


CHECKS: dict[str, CheckSpec] = {}


def check(id: str, runbook: str, title: str, command: str = "") -> Callable:
    def register(func: Callable[[Context], Finding]) -> Callable[[Context], Finding]:
        if id in CHECKS:
            raise ValueError(f"check {id} registered twice")
        CHECKS[id] = CheckSpec(id, runbook, title, func, command)
        return func

    return register


def all_checks() -> dict[str, CheckSpec]:
    """Every check, importing the modules that register them (in runbook order)."""
    from servicedown.diagnosis import (  # noqa: F401
        database,
        health,
        logs,
        resources,
        running,
        startup,
    )

    order = {area: i for i, area in enumerate(AREAS)}
    return dict(sorted(CHECKS.items(), key=lambda kv: order.get(kv[0].split(".")[0], len(order))))


# Runbook order: Diagnosis 1-3, then Common Causes 2-4.
AREAS = ("running", "logs", "health", "resources", "database", "startup")
