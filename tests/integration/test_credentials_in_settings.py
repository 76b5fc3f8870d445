"""Credentials given in `--base-url` (https://monitor:pw@host) or `--host` (ssh://admin:pw@vm,
paramiko://...) are used, and never shown: not in the terminal's `target:` line, the triage
JSON, JUnit, pytest-html, the remediation message, the settings' repr or a DEBUG log.

The service is a small HTTP server in this process, so no platform is needed; the systemd host
is one nothing answers on, so the checks fail and every message about the host is printed."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import secrets
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from servicedown.backends import http as probe
from servicedown.config import Settings, SettingsError
from servicedown.remediation import restart_and_wait
from servicedown.targets.base import TargetError
from servicedown.targets.systemd import SystemdTarget
from servicedown.targets.url import UrlTarget
from tests.fakes import FakeTarget
from tests.support import ROOT, run

PASSWORD = "Pw" + secrets.token_hex(12)
TOKEN = "Tk" + secrets.token_hex(12)  # a token given as the user: https://TOKEN@host


def forms(value: str) -> list[str]:
    return [value, quote(value, safe=""), base64.b64encode(value.encode()).decode().rstrip("=")]


def leaks(text: str) -> list[str]:
    return [f for value in (PASSWORD, TOKEN) for f in forms(value) if f in text]


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self.server.auth_seen.append(self.headers.get("Authorization"))  # type: ignore[attr-defined]
        body = json.dumps({"status": "healthy" if self.status == 200 else "unhealthy"}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def service() -> Iterator[http.server.HTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    server.auth_seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def checks(tmp_path: Path, *args: str) -> dict[str, str]:
    """`pytest checks/` with every output it can write; -> name -> its text."""
    out = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
    out.mkdir()
    proc = run([sys.executable, "-m", "pytest", "checks/", "-p", "no:cacheprovider", "-rA",
                f"--triage-json={out / 'triage.json'}", f"--junitxml={out / 'junit.xml'}",
                f"--html={out / 'report.html'}", "--self-contained-html",
                f"--log-file={out / 'debug.log'}", "--log-file-level=DEBUG", *args],
               timeout=120, check=False, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    texts = {"terminal": proc.stdout + proc.stderr}
    texts |= {p.name: p.read_text(errors="replace") for p in out.iterdir() if p.is_file()}
    assert "target:" in texts["terminal"], texts["terminal"][-3000:]
    return texts


@pytest.mark.parametrize("user", [f"monitor:{PASSWORD}", TOKEN])
def test_url_target_never_shows_the_base_urls_credentials(tmp_path, service, user):
    url = f"http://{user}@127.0.0.1:{service.server_port}"
    texts = checks(tmp_path, "--target", "url", "--base-url", url)
    doc = json.loads(texts["triage.json"])
    assert "***@127.0.0.1" in doc["target"]
    assert {name: leaks(text) for name, text in texts.items() if leaks(text)} == {}
    # The credentials were used: the service got them as an Authorization header.
    assert any(a and a.startswith("Basic ") for a in service.auth_seen)


@pytest.mark.parametrize("scheme", ["paramiko"])
def test_systemd_target_never_shows_the_hosts_credentials(tmp_path, service, scheme):
    host = f"{scheme}://admin:{PASSWORD}@127.0.0.1:{closed_port()}"
    url = f"http://monitor:{PASSWORD}@127.0.0.1:{service.server_port}"
    texts = checks(tmp_path, "--target", "systemd", "--host", host, "--base-url", url,
                   "--check-timeout-s", "3")
    assert "admin:***@127.0.0.1" in texts["terminal"]
    assert {name: leaks(text) for name, text in texts.items() if leaks(text)} == {}


def test_an_ssh_password_is_refused_before_anything_runs(tmp_path):
    # testinfra would hand it to `sshpass -p` on a command line: every process listing and
    # testinfra's DEBUG log would show it. paramiko:// keeps it in the process.
    proc = run([sys.executable, "-m", "pytest", "checks/", "-p", "no:cacheprovider", "--target",
                "systemd", "--host", f"ssh://admin:{PASSWORD}@127.0.0.1:{closed_port()}"],
               timeout=60, check=False, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4 and "sshpass" in out and "paramiko://" in out
    assert "Traceback" not in out and leaks(out) == []


def test_remediation_message_never_shows_credentials(service):
    settings = Settings(target="url", base_url=f"http://monitor:{PASSWORD}@127.0.0.1:{service.server_port}")
    outcome = restart_and_wait(settings, FakeTarget(settings=settings), timeout_s=5)
    assert outcome.healed and "***@127.0.0.1" in outcome.message
    assert leaks(outcome.message) == []


def test_a_refused_restart_is_a_message_without_credentials():
    host = f"paramiko://admin:{PASSWORD}@127.0.0.1:{closed_port()}"

    class Refusing(FakeTarget):
        def restart(self) -> str:
            raise TargetError(f"'systemctl restart qbitel' failed on {host}: permission denied")

    settings = Settings(target="systemd", host=host)
    outcome = restart_and_wait(settings, Refusing(settings=settings), timeout_s=1)
    assert not outcome.healed and "restart failed" in outcome.message
    assert leaks(outcome.message) == []


def test_describe_repr_and_errors_never_show_credentials():
    settings = Settings(target="systemd", host=f"paramiko://admin:{PASSWORD}@vm1",
                        base_url=f"https://{TOKEN}@vm1:8000")
    shown = [SystemdTarget(settings).describe(), UrlTarget(settings).describe(), repr(settings),
             str(settings)]
    assert [t for t in shown if leaks(t)] == []
    assert "admin:***@vm1" in shown[0] and "https://***@vm1:8000" in shown[1]
    for bad in (f"ftp://monitor:{PASSWORD}@vm1", f"https://monitor:{PASSWORD}@vm1:99999"):
        with pytest.raises(SettingsError) as err:
            Settings(base_url=bad)
        assert leaks(str(err.value)) == []


def test_http_probe_sends_credentials_as_a_header_and_logs_none(service, caplog):
    caplog.set_level(logging.DEBUG)
    with probe.make_client(3, False) as client:
        answer = probe.get(client, f"http://monitor:{PASSWORD}@127.0.0.1:{service.server_port}/health", 3)
    assert answer.status == 200
    expected = "Basic " + base64.b64encode(f"monitor:{PASSWORD}".encode()).decode()
    assert service.auth_seen == [expected]
    assert leaks(answer.summary() + json.dumps(answer.evidence())) == []
    assert leaks("\n".join(r.getMessage() for r in caplog.records)) == []
