"""The secret canary: a throwaway engine runs with known secret values, `pytest checks/` and the
post-mortem run against it, and no byte of any value appears in anything they write or print.

The engine is a separate container from `qbitel-engine:local` labelled as Compose would label a
project of its own (`servicedown-canary`), so the shared stack is never touched. It has no
database: its database checks fail, which gives the report causes and evidence to write about.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import quote, quote_plus

import pytest

from tests.support import ROOT, run

pytestmark = [pytest.mark.compose, pytest.mark.slow]

IMAGE = os.environ.get("QBITEL_ENGINE_IMAGE", "qbitel-engine:local")
PROJECT = "servicedown-canary"


def _canaries() -> dict[str, str]:
    """Values no code could print by accident: long, random, and long enough for the engine."""
    return {"DATABASE_PASSWORD": "cnryDB" + secrets.token_hex(16),
            "JWT_SECRET": "cnryJWT" + secrets.token_hex(24),
            "ENCRYPTION_KEY": "cnryENC" + secrets.token_hex(24),
            "QBITEL_API_TOKEN": "cnryTOK" + secrets.token_hex(12)}


def _forms(value: str) -> set[bytes]:
    """The value as bytes in the encodings a report could carry it in."""
    import base64
    import json

    texts = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    out = {t.encode() for t in texts}
    out.add(base64.b64encode(value.encode()).rstrip(b"="))
    return out


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        opener.open(url, timeout=2).close()
        return True
    except urllib.error.HTTPError:
        return True  # a 503 is an answer: the engine is up without its database
    except OSError:
        return False


@pytest.fixture
def canary_engine():
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=30)
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"image {IMAGE} not built: run 'make bootstrap'")
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine: {exc}")
    values = _canaries()
    env = {"QBITEL_ENVIRONMENT": "production", "DATABASE_HOST": "127.0.0.1", "DATABASE_PORT": "1",
           "DATABASE_NAME": "qbitel", "DATABASE_USER": "qbitel_user",
           # A DSN carries the password inside a value whose name says nothing about secrets.
           "DATABASE_URL": f"postgresql://qbitel_user:{values['DATABASE_PASSWORD']}@127.0.0.1:1/qbitel",
           **values}
    container = client.containers.run(
        IMAGE, detach=True, name=f"{PROJECT}-{secrets.token_hex(4)}", environment=env,
        labels={"com.docker.compose.project": PROJECT, "com.docker.compose.service": "qbitel-engine"},
        ports={"8000/tcp": ("127.0.0.1", None)}, mem_limit="256m")
    try:
        deadline = time.monotonic() + 60
        while True:
            container.reload()
            bound = (container.attrs["NetworkSettings"]["Ports"] or {}).get("8000/tcp")
            if bound:
                url = f"http://127.0.0.1:{bound[0]['HostPort']}"
                if _answers(url + "/health/live"):
                    break
            if container.status == "exited" or time.monotonic() > deadline:
                raise AssertionError(f"the canary engine did not answer (status {container.status})")
            time.sleep(0.5)
        yield url, values
    finally:
        container.remove(force=True, v=True)
        client.close()


def test_no_canary_byte_in_anything_written(canary_engine, tmp_path):
    url, values = canary_engine
    reports = tmp_path / "reports"
    reports.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    checks = run([sys.executable, "-m", "pytest", "checks/", "-p", "no:cacheprovider", "-rA",
                  "--target", "compose", "--compose-project", PROJECT, "--base-url", url,
                  f"--triage-json={reports / 'triage.json'}", f"--html={reports / 'checks.html'}",
                  "--self-contained-html", f"--junitxml={reports / 'checks.junit.xml'}"],
                 timeout=180, check=False, cwd=ROOT, env=env)
    report = run([sys.executable, "-m", "servicedown.report", "--reports-dir", str(reports)], timeout=60,
                 cwd=ROOT, env=env)

    # The run really read this engine: its secrets were there (lengths seen) and checks failed.
    import json

    doc = json.loads((reports / "triage.json").read_text())
    assert PROJECT in doc["target"]
    seen = {c["id"]: c for c in doc["checks"]}
    assert seen["startup.env"]["outcome"] == "pass", seen["startup.env"]
    assert seen["startup.env"]["evidence"]["DATABASE_PASSWORD"]["length"] == len(values["DATABASE_PASSWORD"])
    assert doc["verdict"] in ("degraded", "down") and doc["causes"], "no failure for the report to show"
    written = sorted(p for p in reports.rglob("*") if p.is_file())
    names = {p.name for p in written}
    assert {"triage.json", "checks.html", "checks.junit.xml", "postmortem.html", "postmortem.md"} <= names

    # Not one of them, in any encoding a report could carry, anywhere.
    outputs = {"pytest checks/ output": (checks.stdout + checks.stderr).encode(),
               "report output": (report.stdout + report.stderr).encode()}
    outputs |= {str(p.relative_to(tmp_path)): p.read_bytes() for p in written}
    leaks = [f"{name} in {where}" for where, data in outputs.items() for name, value in values.items()
             if any(form in data for form in _forms(value))]
    assert leaks == [], f"secret values leaked: {leaks}"
