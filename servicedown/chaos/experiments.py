"""The chaos experiments as data: which fault, which runbook cause it must be detected as,
which checks must fail and which must stay green, and the runbook's remedy for it.

Kept apart from the faults that act (faults.py) and the runner that sequences them, as
chaostoolkit-lib keeps an experiment apart from its providers. The checks expected to fail or
pass come from the causes table (causes.py) unless an experiment says otherwise, and then it
says why in `note`.

Remediations (the runbook's, per kind of cause):
- `self-heal`: the platform's restart policy brings the engine back; verified and timed.
- `platform-restart`: the Quick Fix, `docker-compose restart qbitel-engine`, via the target.
- `restore-dependency`: the database (or the path to it) given back.
- `fix-env-restart`: the environment or files fixed, then the engine (re)started with them.
- `none`: the fault was over before the checks ran (a healed blip, a recovery); nothing to do.

Messy experiments (MESSY) come as incidents do: two causes at once (`also` names the others,
each of which must be listed), or only the history of one that is over (`cause` empty: the
triage must name no cause). `known_gap` says why the triage is known to miss one today; its
test then reports the miss as expected, while recovery and writes are still held.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from servicedown.causes import cause

REMEDIATIONS = ("self-heal", "platform-restart", "restore-dependency", "fix-env-restart", "none")
BASELINES = ("default", "tls", "low-nofile", "low-cpu")


@dataclass(frozen=True)
class Experiment:
    id: str
    title: str
    fault: str  # a kind in faults.FAULTS
    cause: str  # the cause id (causes.py) triage must put on top; "" = none (only history left)
    remediation: str
    params: Mapping[str, Any] = field(default_factory=dict)
    baseline: str = "default"  # the engine's configuration for the steady state
    must_fail: tuple[str, ...] | None = None  # None: the cause's expected_fail
    must_pass: tuple[str, ...] | None = None  # None: the cause's expected_pass
    note: str = ""  # why this experiment's expectations differ from the cause's
    also: tuple[str, ...] = ()  # further causes injected at once: each must be listed
    known_gap: str = ""  # why the triage misses this one today (the issue that fixes it)

    @property
    def expected_fail(self) -> tuple[str, ...]:
        if self.must_fail is not None:
            return self.must_fail
        return cause(self.cause).expected_fail if self.cause else ()

    @property
    def expected_pass(self) -> tuple[str, ...]:
        if self.must_pass is not None:
            return self.must_pass
        return cause(self.cause).expected_pass if self.cause else ()

    @property
    def injected(self) -> tuple[str, ...]:
        """Every cause injected: the expected one first."""
        return tuple(c for c in (self.cause, *self.also) if c)


KILLED_NO_TRACE = ("A SIGKILL leaves no traceback (the cause's logs.stack_trace); the platform's "
                   "restart history is what shows it.")

# Order: one stack serves them all, so experiments sharing an engine baseline sit together and
# the engine is recreated as rarely as possible.
EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("crash", "SIGKILL of the engine process", "sigkill", "crash", "self-heal",
               must_fail=("running.restarts",), must_pass=("running.oom_killed",),
               note=KILLED_NO_TRACE),
    Experiment("crash-loop", "the engine killed again each time it comes back (3 times)",
               "sigkill", "crash", "self-heal", params={"times": 3},
               must_fail=("running.restarts",), must_pass=("running.oom_killed",),
               note=KILLED_NO_TRACE),
    Experiment("oom", "memory pressure in the engine's cgroup until the OOM killer acts",
               "memory-hog", "oom", "self-heal"),
    Experiment("cpu", "the engine's CPU quota (half a core) saturated by busy loops in its "
               "cgroup", "cpu-hog", "cpu", "platform-restart", baseline="low-cpu",
               params={"workers": 3}),
    Experiment("fd-limit", "a connection flood against an engine limited to 64 open files",
               "fd-flood", "fd-limit", "platform-restart", baseline="low-nofile"),
    Experiment("disk-full", "the engine's size-limited data volume filled", "disk-fill",
               "disk-full", "platform-restart"),
    Experiment("db-down", "the Postgres container stopped", "postgres-stop", "db-down",
               "restore-dependency"),
    Experiment("db-network", "the toxiproxy link to Postgres disabled", "proxy-disabled",
               "db-network", "restore-dependency"),
    Experiment("db-network-latency", "4 s latency on the link to Postgres", "toxic",
               "db-network", "restore-dependency",
               params={"type": "latency", "attributes": {"latency": 4000, "jitter": 0}}),
    Experiment("db-network-reset-peer", "connections to Postgres reset (TCP RST)", "toxic",
               "db-network", "restore-dependency",
               params={"type": "reset_peer", "attributes": {"timeout": 0}}),
    Experiment("db-network-timeout", "the link to Postgres black-holed (no data, no close)",
               "toxic", "db-network", "restore-dependency",
               params={"type": "timeout", "attributes": {"timeout": 0}}),
    Experiment("db-pool-exhausted", "connections held until max_connections is reached",
               "hold-connections", "db-pool-exhausted", "restore-dependency"),
    Experiment("db-down-password", "the engine recreated with a wrong DATABASE_PASSWORD",
               "engine-env", "config-invalid", "fix-env-restart",
               params={"replace": ("DATABASE_PASSWORD",)},
               # The engine logs the refusal at its own retry pace: the login from its side is
               # what proves it, within the detection bound.
               must_fail=("database.reachable",),
               must_pass=("database.ready", "startup.env", "startup.secrets"),
               note="The database is up and the password passes validation: the database "
                    "refuses it, seen from the engine's side where the probe logs in with the "
                    "engine's own credentials (causes.py files a password the database does not "
                    "know under config-invalid, by its authentication-failed signals)."),
    Experiment("missing-env", "the engine recreated without JWT_SECRET", "engine-env",
               "missing-env", "fix-env-restart", params={"unset": ("JWT_SECRET",)}),
    Experiment("config-invalid", "the engine recreated with a 16-character JWT_SECRET",
               "engine-env", "config-invalid", "fix-env-restart",
               params={"shorten": {"JWT_SECRET": 16}}),
    Experiment("tls-expired", "the engine's certificate replaced by an expired one",
               "tls-files", "tls", "fix-env-restart", baseline="tls",
               params={"cert": "expired"}),
    Experiment("tls-missing-key", "the engine's TLS key deleted, then the engine restarted",
               "tls-files", "tls", "fix-env-restart", baseline="tls",
               params={"remove_key": True, "restart": True}),
)

DB_DOWN = ("postgres-stop", {})
MESSY: tuple[Experiment, ...] = (
    Experiment("compound-env-db", "the engine redeployed without JWT_SECRET while Postgres is down",
               "compound", "missing-env", "fix-env-restart", also=("db-down",),
               params={"faults": [DB_DOWN, ("engine-env", {"unset": ("JWT_SECRET",)})]},
               must_fail=("startup.env", "database.ready"), must_pass=(),
               note="Two causes: the engine cannot start without JWT_SECRET whatever the database "
                    "does, so the missing variable comes first; the database must be listed too."),
    Experiment("stale-db-errors", "Postgres down for 3 s and back before the checks run",
               "healed", "", "none", params={"fault": DB_DOWN, "hold_s": 3},
               must_fail=(), must_pass=("database.ready", "health.endpoint"),
               note="Only history is left (database errors in the logs): no cause must be named."),
    Experiment("recovered-disk-full", "the data volume filled, freed and the engine restarted "
               "(the runbook's fix) before the checks run again", "healed", "", "none",
               params={"fault": ("disk-fill", {}), "hold_s": 2, "restart": True},
               must_fail=(), must_pass=("resources.disk", "health.endpoint"),
               note="A rerun after recovery: the restart and the old errors are history."),
)

BY_ID: dict[str, Experiment] = {e.id: e for e in (*EXPERIMENTS, *MESSY)}


def select(patterns: Iterable[str] | None) -> list[Experiment]:
    """Experiments whose id matches one of the patterns (exact or shell-style), table order;
    the messy ones after the catalogue's."""
    pats = [p for p in (patterns or []) if p]
    every = [*EXPERIMENTS, *MESSY]
    if not pats:
        return every
    return [e for e in every if any(fnmatch.fnmatchcase(e.id, p) for p in pats)]
