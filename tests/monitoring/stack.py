"""The monitoring tests' private stack and their webhook listener on the receiver address.

The stack is a Compose project of its own (SERVICEDOWN_MONITORING_TEST_PROJECT, default
`sdmonitoring`) on its own host ports, so stopping its engine or its Postgres disturbs no one
using the shared `qbitel` project. Its alerts' `for:` durations are shortened by the stack's own
settings.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.support import COMPOSE_DIR, ROOT, run, wait_for

PROJECT = os.environ.get("SERVICEDOWN_MONITORING_TEST_PROJECT") or "sdmonitoring"
RECEIVER_PORT = 29095
# Shortened for the tests: ServiceDown and PostgresDown after 3 s, every other rule at a tenth.
SETTINGS = {
    "COMPOSE_PROJECT_NAME": PROJECT,
    "QBITEL_HTTP_PORT": "28000",
    "QBITEL_TOXIPROXY_API_PORT": "28474",
    "QBITEL_PROMETHEUS_PORT": "29090",
    "QBITEL_ALERTMANAGER_PORT": "29093",
    "QBITEL_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{RECEIVER_PORT}/alertmanager",
    "QBITEL_SCRAPE_INTERVAL": "2s",
    "QBITEL_ALERT_FOR_SCALE": "0.1",
    "QBITEL_ALERT_FOR": "ServiceDown=3s,PostgresDown=3s",
    "QBITEL_ALERT_GROUP_WAIT": "1s",
    "QBITEL_ALERT_GROUP_INTERVAL": "2s",
    "QBITEL_ALERT_REPEAT_INTERVAL": "1h",
}


def cache_dir() -> Path:
    # The same default as scripts/lib.sh.
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "servicedown"
    return Path(os.environ.get("SERVICEDOWN_CACHE") or default)


def token_file() -> Path:
    return Path(os.environ.get("SERVICEDOWN_WEBHOOK_TOKEN_FILE") or cache_dir() / "webhook.token")


@dataclass
class MonitoringStack:
    env: dict[str, str]
    up_output: str
    prometheus: str = f"http://127.0.0.1:{SETTINGS['QBITEL_PROMETHEUS_PORT']}"
    alertmanager: str = f"http://127.0.0.1:{SETTINGS['QBITEL_ALERTMANAGER_PORT']}"

    def container(self, service: str) -> str:
        return f"{PROJECT}-{service}"

    def compose(self, *args: str, timeout: float = 120) -> str:
        return run(["docker-compose", *args], timeout=timeout, cwd=COMPOSE_DIR, env=self.env).stdout

    def query(self, promql: str) -> list[dict[str, Any]]:
        resp = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": promql}, timeout=5)
        resp.raise_for_status()
        return resp.json()["data"]["result"]

    def api(self, base: str, path: str) -> Any:
        resp = httpx.get(f"{base}{path}", timeout=5)
        resp.raise_for_status()
        return resp.json()

    def wait_healthy(self, timeout: float = 150) -> None:
        """The engine healthy again and every target scraped up: the state the tests start from."""
        def healthy() -> bool:
            state = run(["docker", "inspect", "-f", "{{.State.Health.Status}}", self.container("engine")],
                        timeout=30, check=False).stdout.strip()
            return state == "healthy"

        wait_for(healthy, timeout, interval=1, what="the engine to be healthy again")
        ready = ["python3", str(ROOT / "scripts" / "monitoring_ready.py"), "wait", "90"]
        run(ready, timeout=120, env=self.env)

    def stack_sh(self, verb: str, timeout: float = 120) -> str:
        return run(["bash", str(ROOT / "scripts" / "stack.sh"), verb], timeout=timeout, env=self.env).stdout


@dataclass
class Delivery:
    received_at: float
    path: str
    authorization: str = field(repr=False)
    body: dict[str, Any]

    def names(self, status: str) -> set[str]:
        """Alert names in this notification with that status (firing, resolved)."""
        alerts = self.body.get("alerts", [])
        return {a["labels"].get("alertname", "") for a in alerts if a.get("status") == status}


class WebhookListener:
    """What Alertmanager delivers to the receiver address, kept in arrival order."""

    def __init__(self, port: int) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {"unparsed": True}
                with listener._lock:
                    listener.deliveries.append(
                        Delivery(time.time(), self.path, self.headers.get("Authorization") or "", body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass  # the Authorization header must not reach any log

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, match: Callable[[Delivery], bool], since: float, timeout: float,
                 what: str) -> Delivery:
        def found() -> Delivery | None:
            with self._lock:
                return next((d for d in self.deliveries if d.received_at >= since and match(d)), None)

        return wait_for(found, timeout, interval=0.2, what=what)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


