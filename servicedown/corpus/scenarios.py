"""The corpus's scenarios as data: what is set up, on which kind of target, and the label
(the truth, as whoever sets it up knows it; never the triage's answer).

A compose scenario names a fault of the chaos catalogue (faults.py, messy.py) by kind and
params, as an experiment does; the 17 experiments themselves are scenarios too, labelled with
their runbook cause. `settle` is what must hold before the recording is taken, so that the
label's verdict is true of the moment recorded: "unhealthy" (/health stops answering 200),
"healthy" (it answers 200 again: only history is left), "db-cut" (the engine's side can no
longer open a database session, whatever its /health says), or a number of seconds.
`window`: "incident" reads logs and events from the setup's start (the chaos harness's
window); "all" reads them as `pytest checks/` does, whatever came before (stale evidence).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from servicedown.chaos.experiments import EXPERIMENTS

KINDS = ("compose", "systemd", "kubernetes", "url")
PROFILES = ("reference", "real-shape")


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    verdict: str  # the label's verdict: healthy | degraded | down
    causes: tuple[str, ...] = ()  # every cause (causes.py) behind it; () = none can be named
    kind: str = "compose"
    fault: tuple[str, Mapping[str, Any]] | None = None  # (kind, params), chaos catalogue
    baseline: str = "default"
    settle: str | float = "unhealthy"
    window: str = "incident"
    settings: Mapping[str, Any] = field(default_factory=dict)  # overrides of the run's settings
    profiles: tuple[str, ...] = PROFILES
    note: str = ""
    # Where an engine profile behaves otherwise (the real engine's /health ignores its disk):
    # profile -> (verdict, settle).
    by_profile: Mapping[str, tuple[str, str | float]] = field(default_factory=dict)

    def on(self, profile: str) -> Scenario:
        """This scenario as set up and labelled on one engine profile."""
        if profile not in self.by_profile:
            return self
        verdict, settle = self.by_profile[profile]
        return dataclasses.replace(self, verdict=verdict, settle=settle)

    @property
    def label_source(self) -> str:
        return f"corpus scenario '{self.id}' (servicedown/corpus/scenarios.py)"


# The verdict each experiment leaves when recorded, and what to wait for: crashes and OOM kills
# heal by the restart policy (recorded once answering again, before its healthcheck passes: the
# incident as on-call meets it; once healed it is history, which blip-healed and
# rerun-after-recovery record), the others hold until remediated.
_EXPERIMENT_STATE: dict[str, tuple[str, str | float]] = {
    "crash": ("degraded", "restarted"), "crash-loop": ("degraded", "restarted"),
    "oom": ("degraded", "restarted"), "cpu": ("degraded", 2.0), "tls-expired": ("degraded", 1.0),
    # The engine's pool keeps its connections: it serves while newcomers are refused.
    "db-pool-exhausted": ("degraded", 2.0),
}


# The real-shape engine's /health ignores its data volume: a full disk leaves it serving reads.
_BY_PROFILE: dict[str, dict[str, tuple[str, str | float]]] = {
    "disk-full": {"real-shape": ("degraded", 2.0)},
}

# Faults that cut the engine off its database: settled by that, not by the engine's /health.
DB_CUT_FAULTS = ("postgres-stop", "proxy-disabled", "toxic", "postgres-pause")


def _experiments() -> list[Scenario]:
    out = []
    for e in EXPERIMENTS:
        verdict, settle = _EXPERIMENT_STATE.get(
            e.id, ("down", "db-cut" if e.fault in DB_CUT_FAULTS else "unhealthy"))
        out.append(Scenario(e.id, e.title, verdict, (e.cause,), fault=(e.fault, dict(e.params)),
                            baseline=e.baseline, settle=settle, by_profile=_BY_PROFILE.get(e.id, {}),
                            note=f"chaos experiment '{e.id}' ({e.fault}), set up by its fault"))
    return out


DB_DOWN = ("postgres-stop", {})
MESSY: tuple[Scenario, ...] = (
    Scenario("healthy", "a healthy stack", "healthy", settle=0.5),
    Scenario("stale-evidence", "database errors in the logs from an earlier episode on the "
             "same container, healthy since", "healthy",
             fault=("healed", {"fault": DB_DOWN, "hold_s": 4}), settle=8.0, window="all",
             settings={"event_window_s": 5},
             note="the logs (not windowed) still hold the earlier episode's database errors; "
                  "events are read over the last 5 s, after it"),
    Scenario("blip-healed", "a 2 s break of the database link, healed before the run",
             "healthy", fault=("healed", {"fault": ("proxy-disabled", {}), "hold_s": 2}),
             settle="healthy"),
    Scenario("compound-env-db", "the engine redeployed without JWT_SECRET while Postgres is "
             "down", "down", ("missing-env", "db-down"),
             fault=("compound", {"faults": [DB_DOWN, ("engine-env", {"unset": ["JWT_SECRET"]})]})),
    Scenario("compound-disk-db", "the data volume full and Postgres down", "down",
             ("disk-full", "db-down"), fault=("compound", {"faults": [("disk-fill", {}), DB_DOWN]}),
             settle="db-cut"),
    Scenario("db-down-during-restart", "Postgres stops while the engine is being restarted",
             "down", ("db-down",), fault=("during-restart", {"fault": DB_DOWN}), settle="db-cut"),
    Scenario("stopped-on-purpose", "`docker stop` of the engine by an operator", "down",
             ("stopped",), fault=("engine-stop", {"how": "stop"}), settle=0.5,
             note="a clean stop by a person: nothing crashed"),
    Scenario("killed-on-request", "`docker kill` of the engine (SIGKILL on request)", "down",
             ("killed",), fault=("engine-stop", {"how": "kill"}), settle=0.5,
             note="Docker records the kill request: not the OOM killer, not a crash"),
    Scenario("db-paused", "Postgres frozen with `docker pause` (a hung database)", "down",
             ("db-down",), fault=("postgres-pause", {}), settle="db-cut"),
    Scenario("db-host-typo", "the engine redeployed with DATABASE_HOST=postgress (a typo)",
             "down", ("config-invalid",),
             fault=("engine-env", {"set": {"DATABASE_HOST": "postgress"}}), settle="db-cut",
             note="the name resolves nowhere and nothing of the deployment bears it: the engine's "
                  "setting is wrong (relabelled from db-network, the rule of docs/triage.md: a "
                  "stopped peer whose name drops out of DNS is the path; an unknown name is the "
                  "setting)"),
    Scenario("wrong-password-redeploy", "the engine redeployed with a DATABASE_PASSWORD the "
             "database does not know, recorded a while later", "down", ("config-invalid",),
             fault=("engine-env", {"replace": ["DATABASE_PASSWORD"]}), settle=6.0,
             note="as experiment db-down-password, left longer: the engine's own retries fill "
                  "its logs"),
    Scenario("healthy-noisy", "a healthy engine after three runs of the checks and requests to "
             "paths it does not serve", "healthy", fault=("noise", {"runs": 3}), settle=0.5,
             window="all"),
    Scenario("rerun-after-recovery", "the data volume filled, then freed and the engine "
             "restarted (the runbook's fix): the checks run again", "healthy",
             fault=("healed", {"fault": ("disk-fill", {}), "hold_s": 3, "restart": True}),
             settle="healthy"),
    Scenario("http-500", "the engine redeployed with the real engine's request-tracking bug: "
             "every request answers 500", "down", ("http-errors",),
             fault=("engine-env", {"set": {"QBITEL_ENGINE_HTTP500": "true"}}), settle="answers-5xx",
             note="up but failing every request (QBITEL_ENGINE_HTTP500=true)"),
    Scenario("url-db-down", "only a URL (and the database's address): Postgres stopped",
             "down", ("db-down",), kind="url", fault=DB_DOWN, settings={"db_host": "@postgres"},
             settle="db-cut",
             note="the checker probes Postgres itself (--db-host); no platform access"),
    Scenario("url-engine-stopped", "only a URL: the engine stopped, nothing answers", "down", (),
             kind="url", fault=("engine-stop", {"how": "stop"}), settle=0.5,
             note="with only a URL and no answer, no cause can be named: inconclusive is right"),
    Scenario("url-healthy", "only a URL: a healthy engine", "healthy", kind="url", settle=0.5),
    Scenario("url-tls-healthy", "only an https URL: a healthy engine serving a valid certificate",
             "healthy", kind="url", baseline="tls", settle="healthy"),
    Scenario("url-tls-expired", "only an https URL: the certificate replaced by an expired one and "
             "the engine restarted", "degraded", ("tls",), kind="url", baseline="tls",
             fault=("tls-files", {"cert": "expired", "restart": True}), settle="answers",
             note="from outside only the served certificate can be judged; the engine serves it, "
                  "expired, as in the compose tls-expired (degraded)"),
)

_SYSTEMD = ("reference",)  # the systemd host runs the engine image's default profile
SYSTEMD: tuple[Scenario, ...] = (
    Scenario("systemd-healthy", "a healthy unit on the systemd test host", "healthy", kind="systemd",
             settle=0.5, profiles=_SYSTEMD),
    Scenario("systemd-stopped", "`systemctl stop qbitel` by an operator", "down", ("stopped",),
             kind="systemd", settle=0.5, profiles=_SYSTEMD, note="a stop on purpose: nothing crashed"),
    Scenario("systemd-db-down", "the PostgreSQL unit stopped", "down", ("db-down",), kind="systemd",
             profiles=_SYSTEMD),
    Scenario("systemd-wrong-password", "DATABASE_PASSWORD in the unit's EnvironmentFile changed, "
             "the unit restarted", "down", ("config-invalid",), kind="systemd", profiles=_SYSTEMD,
             note="the database refuses the password (causes.py: config-invalid)"),
    Scenario("systemd-missing-env", "JWT_SECRET removed from the EnvironmentFile, the unit "
             "restarted", "down", ("missing-env",), kind="systemd", profiles=_SYSTEMD),
    Scenario("systemd-killed", "`kill -9` of the unit's main process (Restart=on-failure brings "
             "it back)", "healthy", kind="systemd", settle="healthy",
             profiles=_SYSTEMD,
             note="a person's kill -9 from a shell, recorded once systemd restarted it and it "
                  "serves: history, not an incident (relabelled from 'degraded killed', the rule "
                  "of docs/triage.md; systemd records signal 9 but no request)"),
)

KUBERNETES: tuple[Scenario, ...] = (
    Scenario("k8s-healthy", "three ready pods, their logs, the service answering", "healthy",
             kind="kubernetes", profiles=_SYSTEMD),
    Scenario("k8s-oom-loop", "pods in CrashLoopBackOff, last terminated OOMKilled (137)", "down",
             ("oom",), kind="kubernetes", profiles=_SYSTEMD),
    Scenario("k8s-crash-loop", "pods in CrashLoopBackOff after exit 1 with a traceback", "down",
             ("crash",), kind="kubernetes", profiles=_SYSTEMD),
    Scenario("k8s-missing-secret", "pods in CreateContainerConfigError: the Secret lacks "
             "jwt-secret", "down", ("missing-env",), kind="kubernetes", profiles=_SYSTEMD),
    Scenario("k8s-image-pull", "pods in ImagePullBackOff (a bad image tag)", "down",
             ("image-pull",), kind="kubernetes", profiles=_SYSTEMD),
)

SCENARIOS: tuple[Scenario, ...] = tuple(_experiments()) + MESSY + SYSTEMD + KUBERNETES
BY_ID = {s.id: s for s in SCENARIOS}


def select(patterns: Iterable[str] | None, kinds: Iterable[str] | None = None) -> list[Scenario]:
    pats = [p for p in (patterns or []) if p]
    wanted = set(kinds or KINDS)
    return [s for s in SCENARIOS if s.kind in wanted
            and (not pats or any(fnmatch.fnmatchcase(s.id, p) for p in pats))]
