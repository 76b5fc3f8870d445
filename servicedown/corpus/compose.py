"""Compose (and URL-only) scenarios on one throwaway chaos stack: each on a fresh engine of
its baseline, set up with the catalogue's faults, settled, recorded, and reverted."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from servicedown.backends.docker import DockerBackend
from servicedown.chaos.faults import ENGINE, POSTGRES, Fault, make_fault
from servicedown.chaos.messy import stack_url
from servicedown.chaos.stack import DB_NAME, DB_USER, ChaosStack, StackConfig
from servicedown.corpus import common
from servicedown.corpus.scenarios import Scenario
from servicedown.probes import pgwire
from servicedown.secrets import is_secret_name

SETTLE_TIMEOUT_S = 45.0


class ScenarioError(RuntimeError):
    """A scenario could not be set up as its label says; nothing was recorded."""


def stack_config(profile: str) -> StackConfig:
    """The chaos stack of this engine profile (QBITEL_ENGINE_PROFILE), images as configured."""
    return StackConfig.from_env({**os.environ, "QBITEL_ENGINE_PROFILE": profile})


def known_secrets(stack: ChaosStack) -> dict[str, str]:
    specs = [*stack.baselines.values(), stack.engine_spec]
    found = {v: k for spec in specs for k, v in spec.env.items() if is_secret_name(k) and v}
    found[stack.db_password] = "DATABASE_PASSWORD"
    return found


def database_cut(stack: ChaosStack) -> bool:
    """The engine's side can no longer open a database session: the protocol probe the checks
    use, run in the engine's container against its own DATABASE_HOST, does not get an answer
    that accepts. (An engine's /health need not say so: the real one stays 200.)"""
    c = stack.container(ENGINE)
    env = dict(str(e).partition("=")[::2] for e in (c.attrs.get("Config") or {}).get("Env") or [])
    argv = pgwire.probe_argv(env.get("DATABASE_HOST") or "localhost", env.get("DATABASE_PORT") or 5432,
                             DB_USER, DB_NAME, 2.0)
    res = stack.docker.exec(c.id, argv, 8.0)
    return res.rc in (0, 2) and res.stdout.strip().partition("\t")[0] != "accepting"


def restarted(stack: ChaosStack) -> bool:
    """Back after an exit and answering, before Docker's healthcheck has passed: the incident
    as on-call meets it, not yet history (the healthcheck runs every second, so poll fast)."""
    c = stack.container(ENGINE)
    c.reload()
    health = ((c.attrs.get("State") or {}).get("Health") or {}).get("Status")
    return health == "starting" and common.status(stack_url(stack)) == 200


def reset(stack: ChaosStack, scenario: Scenario) -> None:
    """A fresh engine of the scenario's baseline, Postgres running, the link clean."""
    assert stack.toxiproxy is not None
    stack.toxiproxy.reset()
    pg = stack.container(POSTGRES)
    pg.reload()
    if pg.status == "paused":
        pg.unpause()
    elif pg.status != "running":
        pg.start()
    if not stack.wait_postgres_ready(60):
        raise ScenarioError("Postgres not ready within 60s before the scenario")
    stack.recreate_engine(stack.baselines[scenario.baseline], wait=True)
    stack.mark_window()


def run_settings(stack: ChaosStack, scenario: Scenario) -> Any:
    overrides = dict(scenario.settings)
    if overrides.get("db_host") == "@postgres":  # the checker's own probe of the stack's Postgres
        overrides.update(db_host="127.0.0.1", db_port=stack.pg_port)
    if scenario.kind == "url":
        overrides["target"] = "url"
    if scenario.window == "all" and "event_window_s" not in overrides:
        overrides["event_window_s"] = 600  # the option's default, as `pytest checks/` reads it
    return stack.settings(**overrides)


def record_on(stack: ChaosStack, scenario: Scenario, profile: str, out_dir: Path,
              progress: Callable[[str], None]) -> Path:
    reset(stack, scenario)
    fault: Fault[Any] | None = make_fault(*scenario.fault) if scenario.fault else None
    detail: dict[str, Any] = {}
    try:
        if fault is not None:
            progress(f"    inject {fault.describe()}")
            detail = fault.inject(stack)
        common.settle(scenario, stack_url(stack), SETTLE_TIMEOUT_S,
                      {"db-cut": lambda: database_cut(stack), "restarted": lambda: restarted(stack)})
        settings = run_settings(stack, scenario)
        options = {"since": stack.window_start} if scenario.window == "incident" else {}
        backend = DockerBackend(settings.check_timeout_s + 5, client=stack.client) \
            if scenario.kind == "compose" else None
        engine = stack.container(ENGINE)
        return common.record(
            scenario, profile, settings, out_dir, progress, target_options=options, backend=backend,
            known_secrets=known_secrets(stack),
            provenance={"engine_image": stack.config.engine_image,
                        "engine_image_id": (engine.attrs.get("Image") or "")[:19],
                        "fault": fault.describe() if fault else None, "fault_detail": detail})
    finally:
        if fault is not None:
            try:
                fault.revert(stack)
            except Exception as exc:  # the next scenario starts from a fresh engine anyway
                progress(f"    revert of {fault.describe()} failed: {str(exc)[:200]}")


def build(scenarios: list[Scenario], profile: str, out_dir: Path,
          progress: Callable[[str], None], failures: list[str]) -> int:
    """Every scenario on one stack of this engine profile; -> how many were recorded."""
    if not scenarios:
        return 0
    done = 0
    with ChaosStack(stack_config(profile), progress=progress) as stack:
        for n, sc in enumerate(scenarios, 1):
            sc = sc.on(profile)
            progress(f"[{profile} {n}/{len(scenarios)}] {sc.id} ({sc.kind}): {sc.title}")
            with common.attempt(f"{profile}.{sc.id}", failures, progress):
                record_on(stack, sc, profile, out_dir, progress)
                done += 1
    return done
