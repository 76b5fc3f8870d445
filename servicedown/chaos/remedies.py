"""The runbook's remedies, one per remediation kind an experiment names (experiments.py).

A remedy is what an on-call engineer would do for the cause; it is kept apart from the fault's
rollback (`Fault.revert`), which always runs afterwards, whatever the remedy did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from servicedown.chaos.faults import Fault, StackHost


def self_heal(stack: StackHost, fault: Fault[Any]) -> dict[str, Any]:
    return {"action": "none: the restart policy (unless-stopped) brings the engine back"}


def platform_restart(stack: StackHost, fault: Fault[Any]) -> dict[str, Any]:
    """The Quick Fix, `docker-compose restart qbitel-engine`, through the Compose target."""
    target = stack.target()
    try:
        return {"action": target.restart()}
    finally:
        target.close()


def restore_dependency(stack: StackHost, fault: Fault[Any]) -> dict[str, Any]:
    """The database (or the path to it) given back."""
    return {"action": f"dependency restored ({fault.kind})", **fault.fix(stack)}


def fix_env_restart(stack: StackHost, fault: Fault[Any]) -> dict[str, Any]:
    """The environment or files fixed, then the engine (re)started with them."""
    return {"action": "environment fixed, engine restarted with it", **fault.fix(stack)}


def nothing(stack: StackHost, fault: Fault[Any]) -> dict[str, Any]:
    """The fault was over before the checks ran: the right action is none."""
    return {"action": "none: the fault is over"}


REMEDIES: dict[str, Callable[[StackHost, Fault[Any]], dict[str, Any]]] = {
    "self-heal": self_heal,
    "platform-restart": platform_restart,
    "restore-dependency": restore_dependency,
    "fix-env-restart": fix_env_restart,
    "none": nothing,
}
