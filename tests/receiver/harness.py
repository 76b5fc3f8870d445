"""The receiver tests' private stack, receivers and listeners.

The stack is a Compose project of its own (`sdserve`, ports 28400, 28874, 29490, 29493) whose
Alertmanager delivers to the receiver under test on 127.0.0.1:29495; its alerts' `for:` are
shortened and it repeats a group that still fires every 10 s. Receivers are `servicedown serve`
processes, each with its config and incident folder; a listener stands for the chat that
summaries are posted to.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from servicedown.ports import free_port
from servicedown.schema import INCIDENT_FILE, TRIAGE_FILE, Incident
from tests.support import COMPOSE_DIR, ROOT, run, wait_for

PROJECT = "sdserve"
RECEIVER_PORT = 29495
HTTP_PORT = 28400
PROMETHEUS = "http://127.0.0.1:29490"
SCRAPE_S = 2.0
FOR = {"ServiceDown": "4s", "PostgresDown": "4s", "HighMemoryUsage": "4s",
       "DatabaseConnectionPoolExhausted": "4s"}
SETTINGS = {
    "COMPOSE_PROJECT_NAME": PROJECT,
    "QBITEL_HTTP_PORT": str(HTTP_PORT),
    "QBITEL_TOXIPROXY_API_PORT": "28874",
    "QBITEL_PROMETHEUS_PORT": "29490",
    "QBITEL_ALERTMANAGER_PORT": "29493",
    "QBITEL_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{RECEIVER_PORT}/alertmanager",
    "QBITEL_SCRAPE_INTERVAL": f"{SCRAPE_S:g}s",
    "QBITEL_ALERT_FOR_SCALE": "0.1",
    "QBITEL_ALERT_FOR": ",".join(f"{k}={v}" for k, v in FOR.items()),
    "QBITEL_ALERT_GROUP_WAIT": "1s",
    "QBITEL_ALERT_GROUP_INTERVAL": "2s",
    "QBITEL_ALERT_REPEAT_INTERVAL": "10s",
}
ENGINE = f"{PROJECT}-engine"
POSTGRES = f"{PROJECT}-postgres"


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "servicedown"
    return Path(os.environ.get("SERVICEDOWN_CACHE") or default)


def token_file() -> Path:
    return Path(os.environ.get("SERVICEDOWN_WEBHOOK_TOKEN_FILE") or cache_dir() / "webhook.token")


class Token(str):
    """The webhook's token: a string whose repr never shows it (pytest prints fixtures' values)."""

    def __repr__(self) -> str:
        return "Token(***)"


def read_token() -> Token:
    return Token(token_file().read_text().strip())


def engine_target(**more: Any) -> dict[str, Any]:
    return {"settings": {"target": "compose", "compose_project": PROJECT,
                         "base_url": f"http://127.0.0.1:{HTTP_PORT}", "prometheus_url": PROMETHEUS,
                         **more}}


class Stack:
    env = {**os.environ, **SETTINGS}

    def compose(self, *args: str, timeout: float = 120) -> str:
        return run(["docker-compose", *args], timeout=timeout, cwd=COMPOSE_DIR, env=self.env).stdout

    def docker(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        return run(["docker", *args], timeout=timeout, check=check).stdout.strip()

    def inspect(self, container: str, fmt: str) -> str:
        return self.docker("inspect", "-f", fmt, container, check=False)

    def wait_healthy(self, timeout: float = 150) -> None:
        """The engine healthy and every target scraped up: where each test starts and ends."""
        wait_for(lambda: self.inspect(ENGINE, "{{.State.Health.Status}}") == "healthy", timeout,
                 interval=1, what="the engine to be healthy")
        run([sys.executable, str(ROOT / "scripts" / "monitoring_ready.py"), "wait", "90"], timeout=120,
            env=self.env)

    def firing(self) -> set[str]:
        doc = httpx.get(f"{PROMETHEUS}/api/v1/alerts", timeout=5).json()
        return {a["labels"]["alertname"] for a in doc["data"]["alerts"] if a["state"] == "firing"}

    def wait_quiet(self, timeout: float = 90) -> None:
        """No alert firing: a test's alerts are over before the next one starts. Database
        connection failures are counted over 5 minutes: that alert outlives the outage that
        caused it, and no test waits for it."""
        wait_for(lambda: not self.firing() - {"DatabaseConnectionFailures"}, timeout, interval=1,
                 what="every alert to resolve")


@dataclass
class Posted:
    at: float
    path: str
    body: dict[str, Any]


class Listener:
    """An HTTP endpoint that records what is POSTed to it (the chat's webhook), or that anything
    connected at all (a host a payload names)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.posts: list[Posted] = []
        self.connections = 0
        me = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                me.connections += 1
                super().setup()

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                me.posts.append(Posted(time.time(), self.path, json.loads(body or b"{}")))
                self.send_response(200)
                self.end_headers()

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def texts(self, since: float = 0) -> list[str]:
        return [p.body.get("text", "") for p in self.posts if p.at >= since]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Receiver:
    """`servicedown serve` as an on-call host runs it, with its own config and incident folder."""

    def __init__(self, folder: Path, port: int, config: dict[str, Any], cli: tuple[str, ...] = ()) -> None:
        self.folder, self.port = folder, port
        folder.mkdir(parents=True, exist_ok=True)
        self.incidents = folder / "incidents"
        self.config = folder / "serve.yml"
        self.config.write_text(yaml.safe_dump({"listen": f"127.0.0.1:{port}",
                                               "token_file": str(token_file()),
                                               "reports_dir": str(self.incidents), **config}))
        self.out = folder / "serve.out"
        self._log = self.out.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "servicedown.cli", "serve", "--config", str(self.config), *cli],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=folder,
            env={**os.environ, "PYTHONPATH": str(ROOT)})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_up(self, timeout: float = 30) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"servicedown serve exited {self.proc.returncode}:\n{self.output()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code in (200, 503)
            except httpx.HTTPError:
                return False

        wait_for(up, timeout, interval=0.2, what="servicedown serve to answer")

    def output(self) -> str:
        self._log.flush()
        return self.out.read_text(errors="replace")

    def post(self, body: bytes | dict[str, Any], token: str | None = None,
             client: httpx.Client | None = None) -> httpx.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if client is not None:
            return client.post(f"{self.url}/alertmanager", content=data, headers=headers)
        return httpx.post(f"{self.url}/alertmanager", content=data, headers=headers, timeout=10)

    def all(self) -> list[Incident]:
        out = []
        for path in sorted(self.incidents.glob(f"*/{INCIDENT_FILE}")):
            try:
                inc = Incident.from_json(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # being replaced at this moment
            if inc is not None:
                out.append(inc)
        return out

    def wait_incident(self, match: Callable[[Incident], bool], timeout: float, what: str) -> Incident:
        return wait_for(lambda: next((i for i in self.all() if match(i)), None), timeout, interval=0.3,
                        what=what)

    def triage(self, inc: Incident) -> dict[str, Any]:
        return json.loads((self.incidents / inc.id / TRIAGE_FILE).read_text())

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


def triaged(inc: Incident) -> bool:
    return any(e.event == "triage" for e in inc.log)


def triages(inc: Incident) -> list[dict[str, Any]]:
    return [e.detail for e in inc.log if e.event == "triage"]


def notification(*alerts: dict[str, Any], status: str = "firing", key: str = "") -> dict[str, Any]:
    """Alertmanager's webhook body (version 4), for the tests that send their own."""
    return {"version": "4", "status": status, "receiver": "servicedown",
            "groupKey": key or f"{{}}:{{alertname=\"{alerts[0]['labels']['alertname']}\"}}",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:29493", "alerts": list(alerts)}


def alert(name: str = "ServiceDown", status: str = "firing", **labels: str) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {"status": status, "labels": {"alertname": name, "service": "qbitel-engine", **labels},
            "annotations": {}, "startsAt": now,
            "endsAt": now if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "", "fingerprint": "0123456789abcdef"}
