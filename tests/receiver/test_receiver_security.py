"""The receiver lets no one in and stays up: the token, the bind address and TLS, the limits, bad
payloads, payloads that try to name their own target or command, Prometheus out of reach, the
metrics and /healthz, and the restart only where the config allows it.

Receivers here have ports of their own (29496-29499), so their limits never touch the one the
stack's Alertmanager delivers to.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
import socket
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from servicedown.causes import CAUSES
from servicedown.chaos.certs import make_pair
from servicedown.diagnosis.catalog import all_checks
from servicedown.ports import free_port
from tests.receiver.harness import (
    ENGINE,
    Listener,
    Receiver,
    Stack,
    Token,
    alert,
    engine_target,
    notification,
    read_token,
    triaged,
    triages,
)
from tests.support import ROOT, wait_for

pytestmark = [pytest.mark.compose, pytest.mark.slow]
ROUTES = [{"match": {"service": "qbitel-engine"}, "target": "engine"}]


@pytest.fixture(scope="module")
def token() -> Token:
    return read_token()


@pytest.fixture
def make(tmp_path: Path) -> Iterator:
    started: list[Receiver] = []

    def start(port: int, **config: object) -> Receiver:
        config.setdefault("targets", {"engine": engine_target()})
        config.setdefault("routes", ROUTES)
        r = Receiver(tmp_path / f"r{port}", port, dict(config))
        started.append(r)
        r.wait_up()
        return r

    yield start
    for r in started:
        r.stop()


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def serve(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "servicedown.cli", "serve", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


# --- the token ---------------------------------------------------------------------------------------

def test_the_webhook_needs_the_token(stack: Stack, make, token: str) -> None:
    r = make(29496)
    body = notification(alert())
    for headers in ({}, {"Authorization": "Bearer wrong-token-of-some-length"}, {"Authorization": token},
                    {"Authorization": f"Basic {token}"}, {"X-Token": token}):
        resp = httpx.post(f"{r.url}/alertmanager", json=body, headers=headers, timeout=5)
        assert resp.status_code == 401, headers.keys()
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Bearer token is required" in resp.json()["error"]
    assert httpx.post(f"{r.url}/alertmanager?token={token}", json=body, timeout=5).status_code == 401
    assert r.all() == []  # nothing recorded, nothing run
    assert r.post(body, token).status_code == 202
    r.wait_incident(triaged, 60, "the authorized notification's triage")
    assert token not in r.output()


def test_a_private_token_file_or_nothing_starts(tmp_path: Path, token: str) -> None:
    loose = tmp_path / "token"
    loose.write_text(token)
    os.chmod(loose, 0o644)
    port = free_port()
    proc = serve("--listen", f"127.0.0.1:{port}", "--token-file", str(loose))
    assert proc.returncode == 2 and "readable by others" in proc.stderr and "chmod 600" in proc.stderr
    assert token not in proc.stdout + proc.stderr
    proc = serve("--listen", f"127.0.0.1:{port}", "--token-file", str(tmp_path / "none"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert not listening(port)


# --- the bind address and TLS --------------------------------------------------------------------------

def bridge_address() -> str:
    """This host's docker0 address: beyond loopback, yet not reachable from elsewhere."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True,
                         timeout=10).stdout.split()
    if "inet" not in out:
        pytest.skip("no docker0 address to bind beyond loopback")
    return out[out.index("inet") + 1].split("/")[0]


def test_beyond_loopback_it_serves_tls_or_refuses_to_start(tmp_path: Path, token: str) -> None:
    host, port = bridge_address(), free_port()
    proc = serve("--listen", f"{host}:{port}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"servicedown serve: listen {host}:{port} is beyond loopback: serve TLS "
                                   "(tls: cert_file, key_file) or listen on 127.0.0.1")
    assert not listening(port, host)
    pair = make_pair(host="receiver.test")
    (tmp_path / "cert.pem").write_bytes(pair.cert_pem)
    (tmp_path / "key.pem").write_bytes(pair.key_pem)
    r = Receiver(tmp_path / "tls", port, {"tls": {"cert_file": str(tmp_path / "cert.pem"),
                                                  "key_file": str(tmp_path / "key.pem")},
                                          "targets": {"engine": engine_target()}, "routes": ROUTES},
                 cli=("--listen", f"{host}:{port}"))
    try:
        ctx = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        ctx.check_hostname = False  # an address, not the certificate's name; the chain is verified
        wait_for(lambda: listening(port, host), 30, interval=0.2, what="the TLS receiver")
        with httpx.Client(verify=ctx, timeout=5) as client:
            assert client.get(f"https://{host}:{port}/healthz").status_code == 200
            assert client.post(f"https://{host}:{port}/alertmanager", json={}).status_code == 401
        with pytest.raises(httpx.HTTPError):  # plain HTTP gets no answer
            httpx.get(f"http://{host}:{port}/healthz", timeout=3)
        assert "listening on https://" in r.output()
    finally:
        r.stop()


# --- bad input -------------------------------------------------------------------------------------------

def test_bad_payloads_are_400_with_a_clear_reason(stack: Stack, make, token: str) -> None:
    r = make(29497)
    cases = [
        (b'{"status": "firing", "alerts": [', "malformed JSON"),
        (notification(alert()) | {"alerts": []}, "the notification has no alerts"),
        (notification(alert(service="billing")), "no configured target for ServiceDown with labels "
                                                 "{service=billing}"),
        (notification(alert()) | {"status": "exploded"}, "status must be 'firing' or 'resolved'"),
        (notification({**alert(), "startsAt": "soon"}), "alerts[1].startsAt is not an RFC 3339 time"),
    ]
    for body, reason in cases:
        resp = r.post(body, token)
        assert resp.status_code == 400, (reason, resp.text)
        assert reason in resp.json()["error"]
    ignored = r.post(notification(alert("Watchdog")), token)
    assert ignored.status_code == 200 and ignored.json()["status"] == "ignored"
    big = r.post(b" " * (1 << 20 + 1), token)
    assert big.status_code == 413
    with socket.create_connection(("127.0.0.1", 29497), timeout=5) as s:  # no Content-Length
        s.sendall(f"POST /alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n".encode())
        assert s.recv(200).startswith(b"HTTP/1.0 411")
    assert r.all() == []
    assert httpx.get(f"{r.url}/healthz", timeout=5).status_code == 200  # still up


def test_a_payload_cannot_name_its_own_target_or_command(stack: Stack, make, token: str,
                                                          tmp_path: Path) -> None:
    evil = Listener()
    marker = tmp_path / "pwned"
    try:
        r = make(29498)
        labels = {"base_url": evil.url, "target": "url", "compose_project": "qbitel",
                  "prometheus_url": evil.url, "command": f"touch {marker}", "host": f"ssh://root@{evil.url}",
                  "servicedown_target": "../../etc"}
        body = notification(alert(**labels))
        body["alerts"][0]["annotations"] = {"runbook": f"$(touch {marker})", "command": f"touch {marker}"}
        resp = r.post(body, token)
        assert resp.status_code == 202, resp.text
        answer = resp.json()
        assert {"base_url", "command", "compose_project", "host", "prometheus_url", "target"} \
            <= set(answer["ignored_labels"])
        inc = r.wait_incident(triaged, 60, "the triage")
        doc = r.triage(inc)
        assert doc["target"].startswith("compose project 'sdserve'")
        assert inc.target == "engine" and (r.incidents / inc.id).parent == r.incidents
        assert evil.connections == 0 and not marker.exists()
    finally:
        evil.close()


def test_a_flood_of_1000_notifications_is_limited(stack: Stack, make, token: str) -> None:
    r = make(29499)
    body = notification(alert(), key='{}:{alertname="ServiceDown", flood="1"}')
    client = httpx.Client(timeout=10)

    def send(n: int) -> str:
        try:
            return str(r.post(body, token if n % 2 == 0 else "not-the-token-at-all", client).status_code)
        except httpx.HTTPError as exc:  # over the connection limit: closed at once
            return type(exc).__name__

    start = time.monotonic()
    with client, cf.ThreadPoolExecutor(24) as pool:
        answers = Counter(pool.map(send, range(1000)))
    took = time.monotonic() - start
    accepted = answers["202"] + answers["200"]
    unanswered = 1000 - sum(n for code, n in answers.items() if code.isdigit())
    assert answers["401"] > 0 and set(answers) <= {"202", "429", "401", "503", "ReadTimeout",
                                                    "ReadError", "RemoteProtocolError"}, answers
    assert unanswered <= 10, answers
    # The webhook's budget: a burst of 50, then 10 a second. Faster than that, the rest is 429.
    assert 1 <= accepted <= 50 + 10 * took + 5, (answers, took)
    if 500 / took > 10 * 2:
        assert answers["429"] > 0, (answers, took)
    # One incident for the group, however many notifications; the repeats joined few runs.
    incs = [i for i in r.all() if i.alertname == "ServiceDown"]
    assert len(incs) == 1 and accepted - 1 <= incs[0].repeats <= accepted - 1 + unanswered
    wait_for(lambda: httpx.get(f"{r.url}/healthz", timeout=5).json()["waiting_runs"] == 0, 90,
             what="the runs the flood asked for to end")
    # One run at a time, and repeats join the waiting one: at most one run after another for as
    # long as the flood lasted, whatever its size.
    runs = triages(r.all()[0])
    shortest = min(t["duration_s"] for t in runs)
    assert 1 <= len(runs) <= 2 + took / shortest, (len(runs), took, shortest)
    assert len(runs) * 5 <= max(accepted, 5), (len(runs), accepted)
    # Still answering, and the webhook's own budget was never spent by the unauthenticated half.
    assert httpx.get(f"{r.url}/healthz", timeout=5).status_code in (200, 503)
    time.sleep(1)
    assert r.post(body, token).status_code == 202


def test_idle_and_trickling_connections_are_bounded(make) -> None:
    r = make(29496, limits={"connections": 4, "timeout_s": 1})

    def closed_within(sock: socket.socket, seconds: float, trickle: bool = False) -> bool:
        """Whether the receiver closes it within `seconds` (a trickle sends a byte every 0.5 s)."""
        sock.settimeout(0.5)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if trickle:
                    sock.sendall(b"X")
                if sock.recv(100) == b"":
                    return True
            except TimeoutError:
                continue
            except OSError:
                return True
        return False

    idle = [socket.create_connection(("127.0.0.1", 29496), timeout=5) for _ in range(4)]
    extra = socket.create_connection(("127.0.0.1", 29496), timeout=5)
    try:
        assert closed_within(extra, 2)  # beyond the limit: closed at once
        assert all(closed_within(sock, 4) for sock in idle)  # silent for timeout_s
        slow = socket.create_connection(("127.0.0.1", 29496), timeout=5)
        slow.sendall(b"POST /alertmanager HTTP/1.1\r\nX-Slow: ")
        assert closed_within(slow, 6, trickle=True)  # a trickle lives 3 timeouts at most
        slow.close()
    finally:
        for sock in [*idle, extra]:
            sock.close()
    assert httpx.get(f"{r.url}/healthz", timeout=5).status_code == 200


# --- Prometheus out of reach, metrics, /healthz ------------------------------------------------------------

def test_prometheus_unreachable_the_triage_goes_on_and_says_so(stack: Stack, make, token: str) -> None:
    closed = free_port()
    chat = Listener()
    try:
        r = make(29496, targets={"engine": engine_target(prometheus_url=f"http://127.0.0.1:{closed}")},
                 summary={"webhook_url": f"{chat.url}/hook"})
        assert r.post(notification(alert()), token).status_code == 202
        inc = r.wait_incident(triaged, 60, "the triage")
        doc = r.triage(inc)
        checks = {c["id"]: c for c in doc["checks"] if c["id"].startswith("monitoring.")}
        assert {c["outcome"] for c in checks.values()} == {"skip"}
        assert all(c["message"].startswith(f"Prometheus unreachable: http://127.0.0.1:{closed}")
                   for c in checks.values())
        assert "Prometheus unreachable" in doc["coverage"]["unchecked"]["monitoring"]
        # The other checks still ran.
        others = [c for c in doc["checks"] if not c["id"].startswith("monitoring.")]
        assert sum(c["outcome"] in ("pass", "fail") for c in others) >= 20
        assert next(c for c in others if c["id"] == "health.endpoint")["outcome"] == "pass"
        text = wait_for(lambda: next(iter(chat.texts()), None), 30, what="the summary posted")
        assert "Not checked: monitoring (Prometheus unreachable" in text
    finally:
        chat.close()


def test_metrics_are_gauges_of_the_last_run_and_healthz_runs_nothing(stack: Stack, make, token: str) -> None:
    r = make(29497)
    empty = httpx.get(f"{r.url}/healthz", timeout=5)
    assert empty.status_code == 200 and empty.json()["targets"] == {"engine": None}
    assert r.post(notification(alert()), token).status_code == 202
    inc = r.wait_incident(triaged, 60, "the triage")
    doc = r.triage(inc)
    text = httpx.get(f"{r.url}/metrics", timeout=5).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    ok = families["servicedown_check_ok"]
    assert ok.type == "gauge"
    by_check = {s.labels["check"]: s for s in ok.samples}
    assert set(by_check) == set(all_checks())
    for check, spec in all_checks().items():
        assert by_check[check].labels == {"target": "engine", "check": check, "runbook_item": spec.runbook}
    outcomes = {c["id"]: c["outcome"] for c in doc["checks"]}
    for check, sample in by_check.items():
        if outcomes[check] in ("pass", "fail"):
            assert sample.value == (1.0 if outcomes[check] == "pass" else 0.0), check
        else:
            assert math.isnan(sample.value), check  # skipped or errored: unknown, not 0
    assert families["servicedown_cause_score"].type == "gauge"
    scores = {s.labels["cause"]: s.value for s in families["servicedown_cause_score"].samples}
    assert set(scores) == {c.id for c in CAUSES}
    assert {k: v for k, v in scores.items() if v} == {c["id"]: c["score"] for c in doc["causes"]}
    verdicts = {s.labels["verdict"]: s.value for s in families["servicedown_verdict"].samples}
    assert verdicts == {v: float(v == doc["verdict"]) for v in ("healthy", "degraded", "down")}
    hist = families["servicedown_run_duration_seconds"]
    assert hist.type == "histogram"

    def runs() -> float:
        fams = text_string_to_metric_families(httpx.get(f"{r.url}/metrics", timeout=5).text)
        hist = next(f for f in fams if f.name == "servicedown_run_duration_seconds")
        return next(s.value for s in hist.samples if s.name.endswith("_count"))

    before = runs()
    for _ in range(10):
        health = httpx.get(f"{r.url}/healthz", timeout=5)
        assert health.status_code == (503 if doc["verdict"] == "down" else 200)
        assert health.json()["targets"]["engine"]["verdict"] == doc["verdict"]
    assert runs() == before == 1.0


def test_remediation_only_for_the_alert_the_config_allows(stack: Stack, make, token: str) -> None:
    stack.wait_healthy()
    r = make(29498, targets={"engine": engine_target() | {"remediate": ["ServiceDown"]}})
    stack.compose("stop", "qbitel-engine")
    try:
        # An alert the config does not allow: read-only, the engine stays stopped.
        assert r.post(notification(alert("HighMemoryUsage")), token).status_code == 202
        mem = r.wait_incident(lambda i: i.alertname == "HighMemoryUsage" and triaged(i), 60, "its triage")
        assert not mem.remediated and stack.inspect(ENGINE, "{{.State.Status}}") == "exited"
        # ServiceDown, allowed: the runbook's restart, once.
        assert r.post(notification(alert()), token).status_code == 202
        down = r.wait_incident(lambda i: i.alertname == "ServiceDown" and triaged(i), 120, "its triage")
        fix = next(e for e in down.log if e.event == "remediation")
        assert fix.detail["healed"] is True
        assert triages(down)[0]["top_cause"] == "stopped"
        started = stack.inspect(ENGINE, "{{.State.StartedAt}}")
        assert r.post(notification(alert()), token).status_code == 202  # a repeat
        again = r.wait_incident(lambda i: i.id == down.id and len(triages(i)) >= 2, 60, "the repeat's run")
        assert [e.event for e in again.log].count("remediation") == 1
        assert stack.inspect(ENGINE, "{{.State.StartedAt}}") == started
    finally:
        stack.compose("start", "qbitel-engine")
        stack.wait_healthy()

