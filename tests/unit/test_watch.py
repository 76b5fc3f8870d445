"""watch's pure parts: the affected-checks map, the incident's clock and back-off, the events
the sources read from recorded platform answers, the timeline format, and the options."""

from __future__ import annotations

import json

import pytest

from servicedown.config import Settings
from servicedown.diagnosis.catalog import all_checks
from servicedown.model import CheckResult, Outcome
from servicedown.runbook.escalation import parse_escalation
from servicedown.schema import TIMELINE_KINDS, TimelineEntry, epoch, iso
from servicedown.watch.affected import AFFECTED, checks_for
from servicedown.watch.incident import Backoff, Incident, failing_since, failure_times
from servicedown.watch.options import UsageError, watch_options
from servicedown.watch.record import TimelineWriter, read_timeline
from servicedown.watch.sources import EventQueue, WatchEvent
from servicedown.watch.sources.docker import docker_event
from servicedown.watch.sources.health import health_signature
from servicedown.watch.sources.journal import unit_props
from servicedown.watch.sources.kube import pod_signature, pod_words

T0 = 1_800_000_000.0


def result(check: str, outcome: Outcome, **evidence) -> CheckResult:
    return CheckResult(check, "", outcome, "", evidence)


# --- which checks an event re-runs -------------------------------------------------------------
def test_a_container_event_re_runs_running_logs_health_and_startup_only():
    ids = checks_for(["service"])
    assert ids is not None
    assert {i.split(".")[0] for i in ids} == {"running", "logs", "health", "startup"}
    assert "resources.cpu" not in ids and "database.ready" not in ids


def test_database_and_network_events_re_run_database_and_health():
    for kind in ("database", "network"):
        assert {i.split(".")[0] for i in checks_for([kind]) or ()} == {"database", "health"}


def test_a_platform_change_or_an_unknown_kind_is_a_full_run():
    assert checks_for(["platform"]) is None
    assert checks_for(["service", "something new"]) is None


def test_the_platform_state_is_re_run_first_on_its_own():
    from servicedown.watch.affected import waves

    first, rest = waves(checks_for(["service"]) or set())
    assert {c.split(".")[0] for c in first} == {"running"}
    assert "running.state" not in rest and "logs.oom" in rest
    assert waves({"health.endpoint"}) == [{"health.endpoint"}]


def test_every_area_of_the_map_exists_in_the_catalog():
    areas = {c.split(".")[0] for c in all_checks()}
    for kind, wanted in AFFECTED.items():
        assert set(wanted) - {"*"} <= areas, kind


# --- when the incident began ---------------------------------------------------------------------
def test_downtime_starts_at_the_earliest_failing_platform_time():
    results = [result("running.state", Outcome.FAIL, down_since=iso(T0 + 10)),
               result("logs.db_error", Outcome.FAIL, first_at=iso(T0 + 4)),
               result("logs.oom", Outcome.PASS, first_at=iso(T0 - 100))]  # passing: not counted
    assert sorted(failure_times(results)) == [T0 + 4, T0 + 10]
    assert failing_since(results, seen_at=T0 + 60, not_before=None) == T0 + 4


def test_downtime_never_starts_before_the_service_was_last_seen_healthy():
    results = [result("logs.db_error", Outcome.FAIL, first_at=iso(T0 - 3600))]  # an old line
    assert failing_since(results, seen_at=T0 + 60, not_before=T0 + 30) == T0 + 30


def test_without_a_platform_time_the_failure_counts_from_when_it_was_seen():
    assert failing_since([result("health.endpoint", Outcome.FAIL)], T0 + 5, None) == T0 + 5


def test_the_start_only_moves_back_and_escalation_steps_fire_once():
    esc = parse_escalation("# R\n## Escalation\n- Escalate to lead after 15 minutes\n"
                           "- Escalate to CTO after 30 minutes\n")
    inc = Incident(start=T0, seen_at=T0 + 1200)  # the fault began 20 min before watch saw it
    inc.earlier(T0 + 50)
    assert inc.start == T0
    assert [s.who for s in inc.newly_due(esc, T0 + 1200)] == ["lead"]
    assert inc.newly_due(esc, T0 + 1300) == []
    assert [s.who for s in inc.newly_due(esc, T0 + 1800)] == ["CTO"]
    assert inc.downtime_s(T0 + 1800) == 1800


def test_recovery_needs_health_that_held_and_stops_the_clock():
    inc = Incident(start=T0, seen_at=T0)
    assert not inc.settled(T0 + 100, 10)
    inc.healthy_since = T0 + 90
    assert inc.downtime_s(T0 + 200) == 90  # the clock stopped when health came back
    assert not inc.settled(T0 + 95, 10)
    assert inc.settled(T0 + 100, 10)


def test_back_off_doubles_and_then_gives_up():
    b = Backoff(tries=3, first_s=10, factor=2)
    assert not b.due(T0, T0 + 9) and b.due(T0, T0 + 10)
    b.record(T0 + 10)
    assert b.next_at(T0) == T0 + 30 and not b.due(T0, T0 + 29) and b.due(T0, T0 + 30)
    b.record(T0 + 30)
    assert b.next_at(T0) == T0 + 70
    b.record(T0 + 70)
    assert not b.due(T0, T0 + 1000) and b.next_at(T0) is None
    assert not b.exhausted(T0 + 109) and b.exhausted(T0 + 110)  # the last try had its 40 s
    assert not Backoff(tries=0).exhausted(T0)


# --- what the sources read --------------------------------------------------------------------
SETTINGS = Settings(compose_project="p", service="qbitel-engine", db_service="postgres")


def docker_ev(action: str, service: str, **attrs) -> dict:
    return {"Type": "container", "Action": action, "timeNano": int((T0 + 1.5) * 1e9),
            "Actor": {"ID": "abc", "Attributes": {"com.docker.compose.service": service, **attrs}}}


def test_docker_events_map_to_kinds_with_the_platform_time():
    die = docker_event(docker_ev("die", "qbitel-engine", exitCode="137"), SETTINGS)
    assert die is not None and die.kind == "service" and die.at == pytest.approx(T0 + 1.5)
    assert "exitCode=137" in die.what and not die.restart
    assert docker_event(docker_ev("start", "qbitel-engine"), SETTINGS).restart
    assert docker_event(docker_ev("stop", "postgres"), SETTINGS).kind == "database"
    assert docker_event(docker_ev("die", "toxiproxy"), SETTINGS).kind == "network"
    assert not docker_event(docker_ev("start", "postgres"), SETTINGS).restart  # not the service
    assert docker_event(docker_ev("exec_start: sh", "qbitel-engine"), SETTINGS) is None


def test_health_signature_changes_with_the_database_component_only_when_it_changes():
    def body(db: str) -> dict:
        return {"status": "healthy", "uptime_seconds": 1.0,
                "checks": [{"component": "database", "status": db}], "services": {"database": "up"}}

    a = health_signature(200, body("healthy"))
    assert a == health_signature(200, body("healthy") | {"uptime_seconds": 99.0})
    assert a != health_signature(200, body("unhealthy"))
    assert health_signature(None, None)[0] == "no-answer"


def test_pod_signature_sees_restarts_readiness_and_reasons():
    def pod(ready: bool, restarts: int, waiting: str = "") -> dict:
        state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
        return {"metadata": {"name": "p"}, "status": {
            "phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "ai-engine", "restartCount": restarts, "state": state}]}}

    ok = pod_signature(pod(True, 0))
    loop = pod_signature(pod(False, 4, "CrashLoopBackOff"))
    assert ok != loop and loop[3] == 4
    assert "CrashLoopBackOff" in pod_words(loop) and "not ready" in pod_words(loop)


def test_unit_properties_line():
    props = unit_props("ActiveState=active SubState=running MainPID=42 NRestarts=1 Result=success ")
    assert props == {"ActiveState": "active", "SubState": "running", "MainPID": "42", "NRestarts": "1",
                     "Result": "success"}


def test_the_event_queue_gathers_a_burst_and_waits_bounded():
    q = EventQueue()
    assert q.wait(0.01) == []
    for n in range(3):
        q.put(WatchEvent(T0 + n, "service", f"e{n}", "docker"))
    assert [e.what for e in q.wait(0.1)] == ["e0", "e1", "e2"]


# --- the timeline's line format ---------------------------------------------------------------
def test_each_line_has_the_five_fields_first_and_round_trips(tmp_path):
    path = tmp_path / "reports" / "incident-timeline.jsonl"
    w = TimelineWriter(path)
    w.write(T0, "state", "down", "crash", "DOWN, most likely crash", failed=["running.state"])
    w.write(T0 + 1, "escalation", "down", "crash", "15 min reached", who="DevOps lead")
    w.close()
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    assert list(first)[:5] == ["time", "kind", "verdict", "top_cause", "detail"]
    assert first["time"] == iso(T0) and first["time"].endswith("+00:00")
    assert first["failed"] == ["running.state"]
    entries, bad = read_timeline(path)
    assert bad == 0 and [e.kind for e in entries] == ["state", "escalation"]
    assert entries[1].data["who"] == "DevOps lead" and epoch(json.loads(lines[1])["time"]) == T0 + 1


def test_the_writer_masks_secrets_and_kinds_are_closed(tmp_path):
    from servicedown.redact import Redactor

    secret = "Zq8vTn3Lw5Yk2Rb7Xc4Mj9Hs6Gd1Ff0Ue"
    w = TimelineWriter(tmp_path / "t.jsonl", Redactor([secret]))
    w.write(T0, "check", None, None, f"logs.config_error: pass → fail: JWT_SECRET={secret}",
            lines=[f"password {secret}"])
    w.close()
    assert secret not in (tmp_path / "t.jsonl").read_text()
    with pytest.raises(ValueError, match="not one of"):
        TimelineEntry(T0, "alarm", None, None, "")
    assert set(TIMELINE_KINDS) == {"start", "state", "check", "restart", "remediation", "escalation",
                                   "recovery", "end"}


def test_a_reader_skips_lines_it_cannot_use(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"time": "2026-12-01T10:00:00+00:00", "kind": "start", "detail": "x"}\n'
                    '{"time": "2026-12-01T10:00:01+00:00", "kind": "alarm"}\n'
                    '{"time": "2026-12-01T10:00:02+00:00", "kind": "end", "verd\n')
    entries, bad = read_timeline(path)
    assert [e.kind for e in entries] == ["start"] and bad == 2


# --- options ------------------------------------------------------------------------------------
def test_watch_options_read_and_checked():
    opts = watch_options({"interval_s": "15", "max_restarts": "2", "until_healthy": True})
    assert opts.interval_s == 15.0 and opts.max_restarts == 2 and opts.until_healthy
    for bad, message in (({"interval_s": "0.5"}, "back to back"), ({"max_s": "-1"}, "above 0"),
                         ({"settle_s": "soon"}, "--settle-s soon: a valid float"),
                         ({"max_restarts": "-1"}, "0 or more")):
        with pytest.raises(UsageError, match=message):
            watch_options(bad)
