"""stack.sh's monitoring settings and ports: bad input ends in one clear message, before
anything starts (a throwaway project and cache, so nothing shared is touched)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import COMPOSE_DIR, ROOT, run

PROJECT = "sdmonitoring-badinput"


@pytest.fixture
def sh(tmp_path: Path) -> Iterator:
    def stack_up(**env: str) -> subprocess.CompletedProcess:
        full = {**os.environ, "COMPOSE_PROJECT_NAME": PROJECT, "SERVICEDOWN_CACHE": str(tmp_path / "cache"),
                "QBITEL_HTTP_PORT": "28100", "QBITEL_PROMETHEUS_PORT": "29190",
                "QBITEL_ALERTMANAGER_PORT": "29193", **env}
        return run(["bash", str(ROOT / "scripts" / "stack.sh"), "up"], check=False, timeout=120, env=full)

    yield stack_up
    shutil.rmtree(COMPOSE_DIR / ".monitoring" / PROJECT, ignore_errors=True)
    if shutil.which("docker") is None:
        return
    containers = run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                     timeout=30, check=False).stdout.split()
    assert containers == [], "stack.sh started containers despite the bad input"


def one_clear_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert out.count("ERROR:") == 1 and "What to do:" in out, out
    for needle in needles:
        assert needle in out, out
    return out


@pytest.mark.parametrize(("env", "needle"), [
    ({"QBITEL_ALERT_FOR_SCALE": "fast"}, "QBITEL_ALERT_FOR_SCALE must be a positive number"),
    ({"QBITEL_ALERT_FOR": "ServiceDwon=5s"}, "unknown alert 'ServiceDwon'"),
    ({"QBITEL_ALERTMANAGER_PORT": "0"}, "QBITEL_ALERTMANAGER_PORT must be a port number"),
])
def test_bad_setting_stops_before_anything(sh, tmp_path: Path, env: dict[str, str], needle: str) -> None:
    one_clear_error(sh(**env), needle, "docs/monitoring.md")
    assert not (tmp_path / "cache").exists()  # not even secrets were made


@pytest.mark.compose
@pytest.mark.parametrize("setting", ["QBITEL_PROMETHEUS_PORT", "QBITEL_ALERTMANAGER_PORT"])
def test_monitoring_port_taken(sh, setting: str) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = str(listener.getsockname()[1])
        one_clear_error(sh(**{setting: port}), f"port {port} on 127.0.0.1 is already taken", setting)


@pytest.mark.parametrize("content", ["", None])
def test_unusable_token_file(sh, tmp_path: Path, content: str | None) -> None:
    token = tmp_path / "token"
    if content is not None:
        token.write_text(content)
    else:
        token.mkdir()  # a folder where the file should be
    proc = sh(SERVICEDOWN_WEBHOOK_TOKEN_FILE=str(token))
    one_clear_error(proc, "webhook token file", "SERVICEDOWN_WEBHOOK_TOKEN_FILE")
    assert not list((tmp_path / "cache").glob("stack-*"))  # checked before the stack's secrets
