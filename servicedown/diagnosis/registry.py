"""The registry of diagnosis checks: one small function per runbook step or cause.

It imports no check module: each check module registers itself with `@check`, and
`catalog.py` imports them all (in the runbook's order) for whoever needs the full list.

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


# Why a check was skipped: the two answers mean different things to the verdict. "Cannot tell"
# is an area left unchecked (the summary says so and what would check it); "not applicable" is
# a question with no meaning here (an endpoint the deployment does not serve, TLS that is off).
CANNOT_TELL = "cannot tell on this target"
NOT_APPLICABLE = "not applicable here"


def skip(message: str, **evidence: Any) -> Finding:
    """Skipped because this target cannot answer (the area stays unchecked)."""
    return Finding(Outcome.SKIP, message, {"skipped": CANNOT_TELL, **evidence})


def not_applicable(message: str, **evidence: Any) -> Finding:
    """Skipped because the question has no meaning on this deployment."""
    return Finding(Outcome.SKIP, message, {"skipped": NOT_APPLICABLE, **evidence})


@dataclass(frozen=True)
class CheckSpec:
    id: str
    runbook: str  # meaning ids it stands for, comma separated (meanings.py: "step:memory,oom")
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
