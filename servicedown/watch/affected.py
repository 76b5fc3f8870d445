"""Which checks a platform event can change: the one map from event kinds to check areas.

An event re-runs the checks of its areas at once; everything else waits for the next full run
(the floor), so a burst of events costs a few checks, not the whole catalog each time.
"""

from __future__ import annotations

from collections.abc import Iterable

from servicedown.diagnosis.catalog import all_checks

ALL = "*"  # a full run

# Event kind -> the check areas (the part of a check id before the dot) it can change.
AFFECTED: dict[str, tuple[str, ...]] = {
    # The engine's container, unit or pod started, died, was OOM-killed, killed, stopped,
    # paused or changed health: how it runs, what it logged, whether it answers, and (after a
    # start) its startup validation.
    "service": ("running", "logs", "health", "startup"),
    # The database's container stopped, started or died.
    "database": ("database", "health"),
    # The path to the database (toxiproxy, the network) changed.
    "network": ("database", "health"),
    # The /health answer changed without a platform event (db-network, a hung process, a URL
    # target): the endpoints, the database behind them, and the platform's view of the service.
    "health": ("health", "database", "running"),
    # The service logged an error line.
    "log": ("logs",),
    # The platform stopped or started answering: nothing read before can be trusted.
    "platform": (ALL,),
    "floor": (ALL,),
}


# Areas re-run first, on their own, when an event re-runs more: the platform's own word on the
# service comes in one call, so its verdict is on screen before the slower reads (logs over the
# API, HTTP probes that wait out a connection to a restarting container) have finished.
FIRST_WAVE = ("running",)


def waves(ids: set[str]) -> list[set[str]]:
    """The re-run in the order to run it: the first wave's checks, then the others."""
    first = {c for c in ids if c.split(".", 1)[0] in FIRST_WAVE}
    return [w for w in (first, ids - first) if w]


def checks_for(kinds: Iterable[str]) -> set[str] | None:
    """The check ids the events of these kinds can change; None means every check."""
    areas: set[str] = set()
    for kind in kinds:
        wanted = AFFECTED.get(kind, (ALL,))  # an unknown kind: better a full run than a miss
        if ALL in wanted:
            return None
        areas.update(wanted)
    return {cid for cid in all_checks() if cid.split(".", 1)[0] in areas}
