"""The receiver's pure logic: payloads, config, incidents, the queue, the limits, the summary."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from servicedown.model import CheckResult, Outcome
from servicedown.receiver import config as rconfig
from servicedown.receiver.incidents import IncidentStore, incident_id
from servicedown.receiver.payload import BadPayload, parse
from servicedown.receiver.scheduler import QueueFull, Scheduler
from servicedown.receiver.server import TokenBucket, authorized
from servicedown.receiver.summary import MAX_TEXT, resolved_summary, triage_summary
from servicedown.schema import INCIDENT_FILE, Incident
from servicedown.triage import triage

T0 = "2026-12-01T22:19:08.123456789Z"


def alert(status: str = "firing", name: str = "ServiceDown", **labels: str) -> dict:
    return {"status": status, "labels": {"alertname": name, "service": "qbitel-engine", **labels},
            "annotations": {}, "startsAt": T0,
            "endsAt": "2026-12-01T22:21:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "fingerprint": "abc"}


def note(*alerts: dict, status: str = "firing", key: str = '{}:{alertname="ServiceDown"}') -> bytes:
    return json.dumps({"version": "4", "status": status, "groupKey": key, "receiver": "servicedown",
                       "alerts": list(alerts)}).encode()


# --- payload -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "malformed JSON: Expecting property name"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[]", "not a JSON object"),
    (b'{"status": "firing", "alerts": []}', "has no alerts"),
    (b'{"status": "firing"}', "no 'alerts' list"),
    (b'{"status": "sleeping", "alerts": [{}]}', "status must be 'firing' or 'resolved'"),
    (b'{"version": "2", "status": "firing", "alerts": [{}]}', "version '2' is not 4"),
    (note({"status": "firing", "labels": {"service": "x"}, "startsAt": T0}), "has no alertname"),
    (note({**alert(), "startsAt": "yesterday"}), "startsAt is not an RFC 3339 time"),
    (note({**alert(), "labels": {"alertname": "A", "n": 1}}), "must be a string"),
    (note(*[alert()] * 1001), "at most 1000"),
    (b"[" * 100000 + b"]" * 100000, "not a JSON object|nested too deeply"),
])
def test_bad_payloads_have_one_clear_reason(body, reason):
    with pytest.raises(BadPayload, match=reason):
        parse(body)


def test_a_notification_reads_times_and_leaves_labels_as_data():
    n = parse(note(alert(command="rm -rf /", base_url="http://evil"), alert("resolved")))
    assert n.status == "firing" and n.group_key.startswith("{}:")
    a, b = n.alerts
    assert a.starts_at == pytest.approx(1796163548.123456) and a.ends_at is None
    assert b.ends_at is not None and b.status == "resolved"
    assert a.labels["command"] == "rm -rf /"


# --- config --------------------------------------------------------------------------------------

def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "serve.yml"
    p.write_text(text)
    return p


CONFIG = """
listen: 127.0.0.1:39995
targets:
  engine:
    settings: {target: compose, compose_project: sdx, prometheus_url: "http://127.0.0.1:9090"}
    remediate: [ServiceDown]
  db:
    settings: {target: url, base_url: "http://127.0.0.1:8001"}
routes:
  - match: {service: qbitel-engine}
    target: engine
  - match: {service: postgres, severity: critical}
    target: db
summary: {webhook_url: "https://chat.example/hooks/T0/B0/s3cr3t"}
"""


def test_config_routes_labels_to_configured_targets_only(tmp_path):
    c = rconfig.load(write(tmp_path, CONFIG), {})
    assert (c.host, c.port, c.loopback) == ("127.0.0.1", 39995, True)
    assert c.targets["engine"].settings.compose_project == "sdx"
    assert c.targets["engine"].settings.remediate is False
    assert c.targets["engine"].remediate == ("ServiceDown",)
    assert c.route({"service": "qbitel-engine", "base_url": "http://evil"}) == "engine"
    assert c.route({"service": "postgres"}) is None  # severity missing
    assert c.route({"service": "postgres", "severity": "critical"}) == "db"
    assert c.summary.where == "https://chat.example" and "s3cr3t" not in repr(c.summary)


def test_without_a_file_one_target_from_the_environment(tmp_path):
    c = rconfig.load(None, {"SERVICEDOWN_COMPOSE_PROJECT": "other",
                            "SERVICEDOWN_PROMETHEUS_URL": "http://127.0.0.1:9090"})
    assert list(c.targets) == ["default"]
    assert c.targets["default"].settings.compose_project == "other"
    assert c.route({"service": "postgres"}) == c.route({"service": "qbitel-engine"}) == "default"
    assert c.targets["default"].remediate == ()


@pytest.mark.parametrize(("text", "message"), [
    ("listen: 0.0.0.0:9095\n", "beyond loopback: serve TLS"),
    ("listen: 192.168.1.5:9095\n", "beyond loopback"),
    ("listen: nowhere\n", "use HOST:PORT"),
    ("targets: {e: {settings: {target: ftp}}}\n", "unknown target 'ftp'"),
    ("targets: {e: {settings: {bogus: 1}}}\n", "unknown setting 'bogus'"),
    ("targets: {e: {settings: {remediate: true}}}\n", "remediate is not a setting here"),
    ("targets: {e: {}, f: {}}\n", "routes must say which alerts go where"),
    ("targets: {e: {}}\nroutes: [{match: {service: x}, target: nope}]\n", "target 'nope' is not one"),
    ("targets: {e: {}}\nroutes: [{match: {}, target: e}]\n", "match must map label names"),
    ("tls: {cert_file: a.pem}\n", "both cert_file and key_file"),
    ("summary: {webhook_url: 'file:///etc/passwd'}\n", "not an http"),
    ("limits: {queue: 0}\n", "queue: 0 is outside"),
    ("colour: blue\n", "unknown key 'colour'"),
    ("listen: [\n", "not valid YAML"),
])
def test_config_mistakes_are_one_message(tmp_path, text, message):
    with pytest.raises(rconfig.ConfigError, match=message):
        rconfig.load(write(tmp_path, text), {})


def test_token_file_must_be_private_and_long(tmp_path):
    p = tmp_path / "token"
    p.write_text("x" * 43)
    os.chmod(p, 0o644)
    with pytest.raises(rconfig.ConfigError, match="readable by others"):
        rconfig.read_token(p)
    os.chmod(p, 0o600)
    assert rconfig.read_token(p) == "x" * 43
    p.write_text("short")
    with pytest.raises(rconfig.ConfigError, match="at least 16"):
        rconfig.read_token(p)
    with pytest.raises(rconfig.ConfigError, match="does not exist"):
        rconfig.read_token(tmp_path / "missing")


def test_bearer_is_compared_whole():
    assert authorized("Bearer " + "t" * 20, "t" * 20)
    assert authorized("bearer  " + "t" * 20, "t" * 20)
    for header in (None, "", "t" * 20, "Basic " + "t" * 20, "Bearer " + "t" * 19, "Bearer " + "t" * 21):
        assert not authorized(header, "t" * 20)


# --- incidents -----------------------------------------------------------------------------------

def test_repeats_keep_one_incident_and_resolution_closes_it(tmp_path):
    store = IncidentStore(tmp_path)
    n = parse(note(alert()))
    inc, event = store.notify(n, n.alerts, "engine", now=1000.0)
    assert event == "firing" and inc is not None
    assert inc.id == incident_id("ServiceDown", f"{n.group_key}\nengine", n.alerts[0].starts_at)
    assert inc.id.startswith("20261201T221908Z-ServiceDown-")
    for k in range(3):
        again, event = store.notify(n, n.alerts, "engine", now=1001.0 + k)
        assert (again.id, event) == (inc.id, "repeat")
    other, event = store.notify(n, n.alerts, "db", now=1002.0)  # another target: its own incident
    assert other.id != inc.id and event == "firing"
    r = parse(note(alert("resolved"), status="resolved"))
    closed, event = store.notify(r, r.alerts, "engine", now=1010.0)
    assert (closed.id, event, closed.status, closed.repeats) == (inc.id, "resolved", "closed", 3)
    assert closed.recovery_s == pytest.approx(111.877, abs=0.01)
    assert [e.event for e in closed.log] == ["firing", "repeat", "repeat", "repeat", "resolved"]
    assert store.notify(r, r.alerts, "engine")[1] == "unknown"  # already closed
    fresh, event = store.notify(n, n.alerts, "engine")  # fires again: a new incident
    assert event == "firing" and fresh.id != inc.id
    doc = json.loads((tmp_path / inc.id / INCIDENT_FILE).read_text())
    assert Incident.from_json(doc).status == "closed"


def test_open_incidents_survive_a_restart(tmp_path):
    n = parse(note(alert()))
    inc, _ = IncidentStore(tmp_path).notify(n, n.alerts, "engine")
    again, event = IncidentStore(tmp_path).notify(n, n.alerts, "engine")
    assert (again.id, event) == (inc.id, "repeat")


def test_ids_are_safe_folder_names_whatever_the_labels():
    iid = incident_id("../../etc/passwd; rm -rf /", "k", 0)
    assert iid.startswith("19700101T000000Z-etc-passwd-rm-rf-") and "/" not in iid and ".." not in iid


def test_remediation_is_claimed_once_and_only_for_allowed_alerts(tmp_path):
    store = IncidentStore(tmp_path)
    n = parse(note(alert(), alert(name="HighMemoryUsage")))
    down, _ = store.notify(n, n.alerts[:1], "engine")
    mem, _ = store.notify(parse(note(alert(name="HighMemoryUsage"), key="k2")), n.alerts[1:], "engine")
    assert store.claim_remediation([mem.id], ["ServiceDown"]) is None
    assert store.claim_remediation([mem.id, down.id], ["ServiceDown"]) == down.id
    assert store.claim_remediation([down.id], ["ServiceDown"]) is None


# --- the queue -------------------------------------------------------------------------------------

def test_one_run_per_target_repeats_join_the_waiting_run_and_the_queue_is_bounded():
    gate, started, done = threading.Event(), [], []

    def run(job):
        started.append((job.target, list(job.incidents)))
        gate.wait(5)
        done.append(job.target)

    s = Scheduler(run, limit=2, workers=2)
    s.start()
    assert s.submit("a", ["i1"]) == "queued"
    deadline = time.monotonic() + 5
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert started == [("a", ["i1"])]
    # "a" runs: its next requests wait, joined into one run.
    assert [s.submit("a", [i]) for i in ("i2", "i3", "i2")] == ["queued", "joined", "joined"]
    assert s.submit("b", ["j1"]) == "queued"
    with pytest.raises(QueueFull):
        s.submit("c", ["k1"])
    gate.set()
    while len(done) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(started) == [("a", ["i1"]), ("a", ["i2", "i3"]), ("b", ["j1"])]
    assert s.stop(5)


def test_token_bucket_allows_a_burst_then_the_rate():
    now = [0.0]
    b = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [b.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5
    assert [b.take(), b.take()] == [True, False]


# --- the summary -----------------------------------------------------------------------------------

def test_summary_has_verdict_cause_evidence_and_steps_and_fits_a_chat():
    results = [CheckResult("running.state", "x", Outcome.FAIL, "not running: killed by SIGKILL " * 30,
                           {"how": "crashed"}),
               CheckResult("running.exit_code", "x", Outcome.FAIL, "last exit code 137 (SIGKILL, not the "
                           "OOM killer: the platform recorded no OOM kill)"),
               CheckResult("monitoring.alerts", "x", Outcome.SKIP, "Prometheus unreachable: refused",
                           {"skipped": "cannot tell on this target"})]
    t = triage(results)
    inc = Incident("20261201T221908Z-ServiceDown-1a2b3c4d", "k", "ServiceDown", "engine",
                   labels={"service": "qbitel-engine"}, started_at=100.0)
    text = triage_summary(inc, t, "reports/incidents/x/postmortem.html")
    lines = text.splitlines()
    assert lines[0].startswith("servicedown: ServiceDown firing on qbitel-engine (target engine)")
    assert lines[1].startswith("Verdict: DOWN")
    assert "Top cause: crash" in lines[1]
    assert "Evidence:" in lines and "Runbook steps:" in lines
    assert "Not checked: monitoring (Prometheus unreachable: refused)" in text
    assert len(text) <= MAX_TEXT and all(len(line) <= 310 for line in lines)
    inc.resolved_at, inc.status = 233.0, "closed"
    assert "firing for 2m 13s" in resolved_summary(inc, "p")


def test_the_incident_page_is_the_reports_with_the_incidents_timeline(tmp_path):
    from servicedown.files import write_atomic
    from servicedown.receiver import page
    from servicedown.schema import IncidentEvent, iso

    t = triage([CheckResult("running.state", "x", Outcome.FAIL, "not running: stopped on request",
                            {"how": "stopped"})])
    (tmp_path / "triage.json").write_text(json.dumps(t.to_json() | {"target": "compose 'x'",
                                                                    "time": iso(1_800_000_010)}))
    inc = Incident("20270115T080000Z-ServiceDown-1a2b3c4d", "k", "ServiceDown", "engine",
                   status="closed", started_at=1_800_000_000, resolved_at=1_800_000_100,
                   log=[IncidentEvent(1_800_000_001, "firing"),
                        IncidentEvent(1_800_000_012, "triage", {"verdict": "down", "top_cause": "stopped",
                                                                "checks": {"running.state": "fail"}}),
                        IncidentEvent(1_800_000_101, "resolved")])
    page.write(tmp_path, inc, write_atomic)
    md = (tmp_path / "postmortem.md").read_text()
    html = (tmp_path / "postmortem.html").read_text()
    assert "alert firing: ServiceDown" in md and "alert resolved: ServiceDown" in md
    assert "detected: triage: down, top cause stopped" in md
    # An incident folder holds no chaos, load or coverage results: not listed as missing.
    assert "chaos" not in md.lower() and 'id="missing"' not in html
    assert "Stopped on request" in html
