"""What every scenario builder shares: the record step, progress lines, provenance."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from servicedown import config as cfg
from servicedown import polling
from servicedown.corpus.scenarios import Scenario
from servicedown.record import incident as inc

ROOT = Path(__file__).resolve().parents[2]


def incident_name(scenario: Scenario, profile: str) -> str:
    return f"{profile}.{scenario.id}"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.stdout.strip() or "?"


def label_of(scenario: Scenario) -> inc.Label:
    return inc.Label(scenario.verdict, scenario.causes, scenario.label_source, scenario.note)


def record(scenario: Scenario, profile: str, settings: cfg.Settings, out_dir: Path,
           progress: Callable[[str], None], target_options: Mapping[str, Any] | None = None,
           backend: Any = None, known_secrets: Mapping[str, str] | None = None,
           provenance: Mapping[str, Any] | None = None) -> Path:
    name = incident_name(scenario, profile)
    incident, path, live = inc.record(
        name, settings, label_of(scenario), profile, out=out_dir / f"{name}.json",
        target_options=target_options, backend=backend, known_secrets=known_secrets,
        provenance={"command": "python -m servicedown.corpus", "scenario": scenario.id,
                    "commit": git_commit(), **dict(provenance or {})})
    top = live.triage.top.id if live.triage.top else "-"
    progress(f"    recorded {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
             f"(triage: {live.triage.verdict}, top {top}; label: {scenario.verdict} "
             f"{'+'.join(scenario.causes) or 'no cause'})")
    return path


class SettleError(RuntimeError):
    """A scenario's fault did not take effect as its label says; nothing was recorded."""


def serving(url: str) -> bool:
    """/health answers 200 (the scenario's own look, independent of the checks)."""
    try:
        with httpx.Client(timeout=2.0, verify=False) as http:
            return http.get(url.rstrip("/") + "/health").status_code == 200
    except httpx.HTTPError:
        return False


def status(url: str) -> int | None:
    """/health's HTTP status, None when nothing answers (a handshake that fails included)."""
    try:
        with httpx.Client(timeout=2.0, verify=False) as http:
            return http.get(url.rstrip("/") + "/health").status_code
    except httpx.HTTPError:
        return None


# Settling states every builder knows, beside its own probes: a fault that restarts the engine
# is only set up once the engine answers again the way the fault makes it answer.
COMMON = {
    "answers-5xx": lambda url: (status(url) or 0) >= 500,
    "answers": lambda url: status(url) is not None,
}


def settle(scenario: Scenario, url: str, timeout_s: float,
           probes: Mapping[str, Callable[[], bool]] | None = None) -> None:
    """Wait (bounded) until the scenario's `settle` holds: a number of seconds, /health
    "healthy" or "unhealthy", "answers-5xx" or "answers" (any HTTP answer), or a probe of the
    caller's by name (e.g. "db-cut")."""
    want = scenario.settle
    if isinstance(want, int | float):
        time.sleep(float(want))
        return
    common = COMMON.get(str(want))
    probe = (probes or {}).get(str(want)) or (common and (lambda: common(url))) or (
        lambda: serving(url) == (want == "healthy"))
    if not polling.until(probe, timeout_s, interval_s=0.1):
        raise SettleError(f"not seen within {timeout_s:.0f}s: {want}; the scenario is not what "
                          "its label says")


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def __str__(self) -> str:
        return f"{time.monotonic() - self.start:.1f}s"


@contextmanager
def attempt(name: str, failures: list[str], progress: Callable[[str], None]) -> Iterator[None]:
    """One scenario of a batch: how long it took, or its failure noted under `name` in
    `failures` and the batch going on (an interrupt still ends it)."""
    clock = Clock()
    try:
        yield
    except Exception as exc:
        failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
        progress(f"    FAILED after {clock}: {str(exc)[:300]}")
    else:
        progress(f"    done in {clock}")
