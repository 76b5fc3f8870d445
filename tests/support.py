"""Helpers the project's own tests share: bounded subprocesses and the reference stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from servicedown import polling

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_DIR = ROOT / "compose"


def run(argv: list[str], timeout: float = 120, check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
    """A subprocess with a bound; output captured as text."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:4])}... exited {proc.returncode}:\n"
                             f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def docker_with_image(image: str) -> Any:
    """A Docker client that has `image`, or the test is skipped saying what to do."""
    import pytest
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=30)
        client.images.get(image)
    except docker.errors.ImageNotFound:
        pytest.skip(f"image {image} not built: run 'make bootstrap'")
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine: {exc}")
    return client


def compose(*args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess:
    return run(["docker-compose", *args], timeout=timeout, check=check, cwd=COMPOSE_DIR)


def pytest_checks(tmp_path: Path, *args: str, timeout: float = 90,
                  env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    """Run `pytest checks/` as the on-call engineer would; -> (exit code, triage JSON, output)."""
    out = tmp_path / f"triage-{time.monotonic_ns()}.json"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = run([sys.executable, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider",
                f"--triage-json={out}", *args], timeout=timeout, check=False, cwd=ROOT, env=full_env)
    doc = json.loads(out.read_text()) if out.exists() else {}
    return proc.returncode, doc, proc.stdout + proc.stderr


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.5,
             what: str = "condition") -> Any:
    value = polling.until(predicate, timeout, interval)
    if not value:
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
    return value


def failed_checks(doc: dict) -> set[str]:
    return {c["id"] for c in doc.get("checks", []) if c["outcome"] == "fail"}


def top_cause(doc: dict) -> str | None:
    causes = doc.get("causes") or []
    return causes[0]["id"] if causes else None


def stack_secret_values() -> list[str]:
    """The reference stack's secret values, to prove none of them is ever printed."""
    values = []
    for name in (".secrets.env", ".postgres.env"):
        path = COMPOSE_DIR / name
        if path.exists():
            for line in path.read_text().splitlines():
                _, _, value = line.partition("=")
                if value:
                    values.append(value)
    return values


def assert_no_secret(text: str) -> None:
    for value in stack_secret_values():
        assert value not in text, "a secret value appeared in the output"
