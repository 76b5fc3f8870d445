"""Monitoring figures: stack-up time with Prometheus and Alertmanager, and how long after the
engine stops the ServiceDown webhook arrives (and its resolution after it starts again).

Runs on a private Compose project of its own (ports 282xx/292xx), never the shared `qbitel` one,
and takes it down at the end. The alert's `for:` is shortened as the tests shorten it; the figures
say which settings were used.

    python -m bench.bench_monitoring [REPEATS]      (or: scripts/bench.sh bench_monitoring)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.common import ROOT, record, run, section, spread

REPEATS = 3
RECEIVER_PORT = 29295
SETTINGS = {
    "COMPOSE_PROJECT_NAME": "sdbench",
    "QBITEL_HTTP_PORT": "28200",
    "QBITEL_TOXIPROXY_API_PORT": "28674",
    "QBITEL_PROMETHEUS_PORT": "29290",
    "QBITEL_ALERTMANAGER_PORT": "29293",
    "QBITEL_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{RECEIVER_PORT}/alertmanager",
    "QBITEL_SCRAPE_INTERVAL": "2s",
    "QBITEL_ALERT_FOR": "ServiceDown=3s",
    "QBITEL_ALERT_GROUP_WAIT": "1s",
    "QBITEL_ALERT_GROUP_INTERVAL": "2s",
}
ENV = {**os.environ, **SETTINGS}
ALERT_TIMEOUT_S = 120


class Arrivals:
    """Arrival time of each (alert name, status) the webhook delivers."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str, str]] = []
        arrivals = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                now = time.monotonic()
                for alert in body["alerts"]:
                    arrivals.seen.append((now, alert["labels"].get("alertname", ""), alert["status"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", RECEIVER_PORT), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, alert: str, status: str, since: float) -> float:
        """Monotonic arrival time of the first such delivery after `since`."""
        deadline = time.monotonic() + ALERT_TIMEOUT_S
        while time.monotonic() < deadline:
            for at, name, state in list(self.seen):
                if at >= since and (name, state) == (alert, status):
                    return at
            time.sleep(0.05)
        raise TimeoutError(f"no {status} {alert} webhook within {ALERT_TIMEOUT_S} s")


def stack(verb: str) -> float:
    """Seconds of one `scripts/stack.sh VERB` on the private project; fails the benchmark
    when it fails."""
    return run(["bash", "scripts/stack.sh", verb], timeout=300, env=SETTINGS,
               what=f"scripts/stack.sh {verb} (project {SETTINGS['COMPOSE_PROJECT_NAME']})")[0]


def docker(*argv: str) -> None:
    subprocess.run(["docker", *argv], capture_output=True, timeout=60, check=True, env=ENV)


def wait_ready() -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "monitoring_ready.py"), "wait", "120"],
                   capture_output=True, timeout=150, check=True, env=ENV)


def stack_up_times(repeats: int) -> None:
    cold = []
    for _ in range(repeats):
        stack("down")
        cold.append(stack("up"))
    figure("monitoring.up_after_down", "stack-up with monitoring, after down (images cached)", cold,
           "≤ 60 s")
    warm = [stack("up") for _ in range(repeats)]
    figure("monitoring.up_already", "stack-up with monitoring, already up", warm)


def alert_times(repeats: int) -> None:
    arrivals = Arrivals()
    engine = f"{SETTINGS['COMPOSE_PROJECT_NAME']}-engine"
    fired, fired_after_exit, resolved = [], [], []
    try:
        for _ in range(repeats):
            wait_ready()
            start = time.monotonic()
            docker("stop", engine)  # SIGTERM: the engine drains for 5 s, then exits
            exited = time.monotonic()
            at = arrivals.wait("ServiceDown", "firing", start)
            fired.append(at - start)
            fired_after_exit.append(at - exited)
            started = time.monotonic()
            docker("start", engine)
            resolved.append(arrivals.wait("ServiceDown", "resolved", started) - started)
    finally:
        arrivals.server.shutdown()
        arrivals.server.server_close()
    shortened = ", ".join(f"{k.removeprefix('QBITEL_')}={v}" for k, v in SETTINGS.items()
                          if k.startswith(("QBITEL_ALERT_", "QBITEL_SCRAPE")) and "URL" not in k)
    figure("monitoring.fired", f"engine stop -> firing ServiceDown webhook ({shortened})", fired)
    # The engine answers 503 while it drains, so scrapes fail from the signal on, not from its exit.
    figure("monitoring.fired_after_exit", "the same, from the engine's exit (5 s drain before)",
           fired_after_exit)
    figure("monitoring.resolved", "engine start -> resolved ServiceDown webhook", resolved)


def figure(key: str, label: str, samples: list[float], target: str = "") -> None:
    med = statistics.median(samples)
    record(key, label, f"median {med:.1f} s (min {min(samples):.1f}, max {max(samples):.1f}, "
           f"n={len(samples)})", target, median_s=round(med, 2), spread=spread(samples))


def main(ctx: Any = None, repeats: int = REPEATS) -> None:
    section("monitoring: stack-up, alert delivery (private project sdbench)")
    try:
        stack_up_times(repeats)
        alert_times(repeats)
    finally:
        stack("down")


if __name__ == "__main__":
    main(None, int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS)
