"""Receiver figures: from the alert firing (Alertmanager's startsAt) to the triage written, and from
the engine's crash to a triage that names it, through real Prometheus, Alertmanager and
`servicedown serve`.

Each round SIGKILLs the engine's process from the host with its restart policy off (so it stays down
for the rule's `for:`), waits for the receiver's triage of the ServiceDown incident, starts the
engine again and waits for the resolved notification to close the incident. A private Compose
project (`sdservebench`, ports 285xx/295xx), taken down at the end.

    python -m bench.bench_serve [ROUNDS]
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from bench.common import ROOT, BenchFailed, record, run, section, spread
from servicedown.schema import INCIDENT_FILE, Incident, epoch
from servicedown.states import START_WINDOW_S

ROUNDS = 5
PROJECT = "sdservebench"
RECEIVER_PORT = 29595
SCRAPE_S, FOR_S = 2, 4
SETTINGS = {
    "COMPOSE_PROJECT_NAME": PROJECT,
    "QBITEL_HTTP_PORT": "28500",
    "QBITEL_TOXIPROXY_API_PORT": "28974",
    "QBITEL_PROMETHEUS_PORT": "29590",
    "QBITEL_ALERTMANAGER_PORT": "29593",
    "QBITEL_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{RECEIVER_PORT}/alertmanager",
    "QBITEL_SCRAPE_INTERVAL": f"{SCRAPE_S}s",
    "QBITEL_ALERT_FOR": f"ServiceDown={FOR_S}s",
    "QBITEL_ALERT_GROUP_WAIT": "1s",
    "QBITEL_ALERT_GROUP_INTERVAL": "2s",
    "QBITEL_ALERT_REPEAT_INTERVAL": "1h",
}
ENV = {**os.environ, **SETTINGS, "PYTHONPATH": str(ROOT)}
ENGINE = f"{PROJECT}-engine"
TIMEOUT_S = 120
T = TypeVar("T")


def docker(*argv: str) -> str:
    return subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=60, check=True,
                          env=ENV).stdout.strip()


def until(what: str, predicate: Callable[[], T], timeout: float = TIMEOUT_S, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise BenchFailed(f"{what}: not within {timeout:.0f} s")


def incidents(folder: Path) -> list[Incident]:
    out = []
    for path in folder.glob(f"*/{INCIDENT_FILE}"):
        try:
            inc = Incident.from_json(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
        if inc is not None:
            out.append(inc)
    return out


def ready_to_crash() -> None:
    """Healthy, past its start window (a kill earlier is a failure at start), no alert firing."""
    until("the engine healthy", lambda: docker("inspect", "-f", "{{.State.Health.Status}}", ENGINE)
          == "healthy")
    started = epoch(docker("inspect", "-f", "{{.State.StartedAt}}", ENGINE)) or time.time()
    time.sleep(max(0.0, started + START_WINDOW_S + 1 - time.time()))

    def quiet() -> bool:
        doc = httpx.get(f"http://127.0.0.1:{SETTINGS['QBITEL_PROMETHEUS_PORT']}/api/v1/alerts", timeout=5)
        return not [a for a in doc.json()["data"]["alerts"] if a["state"] == "firing"]

    until("no alert firing", quiet)


def kill_engine() -> float:
    pid = int(docker("inspect", "-f", "{{.State.Pid}}", ENGINE))
    cid = docker("inspect", "-f", "{{.Id}}", ENGINE)
    if cid not in Path(f"/proc/{pid}/cgroup").read_text():
        raise BenchFailed(f"pid {pid} is not {ENGINE}'s")
    os.kill(pid, signal.SIGKILL)
    return time.time()


def rounds(n: int, folder: Path) -> None:
    to_triage, end_to_end, run_s, recovered, causes = [], [], [], [], Counter()
    for _ in range(n):
        ready_to_crash()
        docker("update", "--restart=no", ENGINE)
        try:
            killed = kill_engine()
            inc = until("the triaged ServiceDown incident", lambda killed=killed: next(
                (i for i in incidents(folder) if i.alertname == "ServiceDown" and (i.opened_at or 0) > killed
                 and any(e.event == "triage" for e in i.log)), None))
        finally:
            docker("update", "--restart=unless-stopped", ENGINE)
        first = next(e for e in inc.log if e.event == "triage")
        to_triage.append(first.at - (inc.started_at or first.at))
        end_to_end.append(first.at - killed)
        run_s.append(float(first.detail.get("duration_s") or 0))
        causes[str(first.detail.get("top_cause"))] += 1
        started = time.time()
        docker("start", ENGINE)
        done = until("the incident closed", lambda iid=inc.id: next(
            (i for i in incidents(folder) if i.id == iid and i.status == "closed"), None))
        recovered.append((done.closed_at or started) - started)
    budget = FOR_S + SCRAPE_S + 5
    within = sum(1 for s in end_to_end if s <= budget)
    named = ", ".join(f"{c} x{k}" for c, k in causes.items())
    record("serve.alert_to_triage", "alert fired (startsAt) -> the receiver's triage written",
           spread(to_triage), "≤ 5 s", seconds=[round(s, 3) for s in to_triage])
    record("serve.crash_to_triage", "engine SIGKILL -> triage written, top cause",
           f"{spread(end_to_end)}; {within} of {n} within {budget} s; {named}",
           f"≤ for {FOR_S} s + scrape {SCRAPE_S} s + 5 s = {budget} s, crash",
           seconds=[round(s, 3) for s in end_to_end], causes=dict(causes))
    record("serve.run", "one run of the checks and the triage (engine down)", spread(run_s),
           seconds=[round(s, 3) for s in run_s])
    record("serve.resolved", "engine start -> resolved notification closes the incident",
           spread(recovered), seconds=[round(s, 3) for s in recovered])
    if causes.get("crash", 0) != n or within != n:
        raise BenchFailed(f"{n - causes.get('crash', 0)} triage(s) did not name crash, "
                          f"{n - within} outside {budget} s")


def main(ctx: Any = None, n: int = ROUNDS) -> None:
    section(f"receiver: alert to triage (private project {PROJECT}; scrape {SCRAPE_S}s, "
            f"ServiceDown for {FOR_S}s, group wait 1s)")
    token = Path(os.environ.get("SERVICEDOWN_WEBHOOK_TOKEN_FILE")
                 or Path(os.environ.get("SERVICEDOWN_CACHE") or Path.home() / ".cache/servicedown")
                 / "webhook.token")
    proc = None
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp) / "incidents"
        try:
            run(["bash", "scripts/stack.sh", "up"], timeout=300, env=SETTINGS, what="stack.sh up")
            config = Path(tmp) / "serve.yml"
            config.write_text(yaml.safe_dump({
                "listen": f"127.0.0.1:{RECEIVER_PORT}", "token_file": str(token), "reports_dir": str(folder),
                "targets": {"engine": {"settings": {
                    "target": "compose", "compose_project": PROJECT,
                    "base_url": f"http://127.0.0.1:{SETTINGS['QBITEL_HTTP_PORT']}",
                    "prometheus_url": f"http://127.0.0.1:{SETTINGS['QBITEL_PROMETHEUS_PORT']}"}}},
                "routes": [{"match": {"service": "qbitel-engine"}, "target": "engine"}]}))
            log = (Path(tmp) / "serve.out").open("w")
            serve = [sys.executable, "-m", "servicedown.cli", "serve", "--config", str(config)]
            proc = subprocess.Popen(serve, stdout=log, stderr=subprocess.STDOUT, env=ENV, cwd=tmp)
            until("the receiver", _answers, 30)
            rounds(n, folder)
        finally:
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(40)
                except subprocess.TimeoutExpired:
                    proc.kill()
            run(["bash", "scripts/stack.sh", "down"], timeout=300, env=SETTINGS, expect=range(256),
                what="stack.sh down")


def _answers() -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{RECEIVER_PORT}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main(None, int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS)
