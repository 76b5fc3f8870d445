"""From the alert to the triage, for real: the stack's Prometheus fires the rule, its Alertmanager
delivers the notification to `servicedown serve`, the receiver's triage names the cause, and the
resolved notification closes the incident.

Every test leaves the private stack as it found it: what it stops, it starts again and waits for.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

import psycopg
import pytest

from servicedown.config import Settings
from servicedown.diagnosis.runner import run_checks
from servicedown.redact import redact
from servicedown.schema import POSTMORTEM_HTML, POSTMORTEM_MD, SUMMARY_FILE, Incident, epoch
from servicedown.states import START_WINDOW_S
from servicedown.targets import make_target
from servicedown.triage import triage
from tests.receiver.harness import (
    ENGINE,
    HTTP_PORT,
    POSTGRES,
    PROMETHEUS,
    Listener,
    Receiver,
    Stack,
    triaged,
    triages,
)
from tests.support import COMPOSE_DIR, assert_no_secret, wait_for

pytestmark = [pytest.mark.compose, pytest.mark.slow]
ALERT_TIMEOUT_S = 90


def fired(receiver: Receiver, alertname: str, since: float) -> Incident:
    """The incident the alert opened after `since`, once a triage of it is written."""
    return receiver.wait_incident(lambda i: i.alertname == alertname and (i.opened_at or 0) >= since
                                  and triaged(i), ALERT_TIMEOUT_S, f"a triaged {alertname} incident")


def closed(receiver: Receiver, inc: Incident) -> Incident:
    return receiver.wait_incident(lambda i: i.id == inc.id and i.status == "closed", ALERT_TIMEOUT_S,
                                  f"the resolved notification to close {inc.id}")


def summary_posted(chat: Listener, inc: Incident, since: float) -> str:
    return wait_for(lambda: next((t for t in chat.texts(since) if inc.id in t and "Verdict:" in t), None),
                    30, interval=0.2, what=f"the summary of {inc.id} in the chat")


def assert_written(receiver: Receiver, inc: Incident) -> None:
    folder = receiver.incidents / inc.id
    for name in (POSTMORTEM_HTML, POSTMORTEM_MD, SUMMARY_FILE):
        assert (folder / name).stat().st_size > 0, name
    text = "".join((folder / n).read_text() for n in (POSTMORTEM_HTML, POSTMORTEM_MD, SUMMARY_FILE))
    assert inc.alertname in text
    assert_no_secret(text + (folder / "triage.json").read_text() + (folder / "incident.json").read_text())


def assert_closed(receiver: Receiver, inc: Incident) -> Incident:
    done = closed(receiver, inc)
    assert done.recovery_s is not None and done.recovery_s > 0
    assert done.resolved_at > done.started_at  # type: ignore[operator]
    assert [e.event for e in done.log][0] == "firing" and done.log[-1].event == "resolved"
    page = receiver.incidents / inc.id / POSTMORTEM_MD
    wait_for(lambda: "alert resolved" in page.read_text(), 10, interval=0.2, what="the page redrawn")
    return done


@pytest.fixture
def calm(stack: Stack, receiver: Receiver) -> Stack:
    """The stack healthy and no alert firing, before and after the test."""
    stack.wait_healthy()
    stack.wait_quiet()
    yield stack
    stack.wait_healthy()


def test_engine_stopped_is_a_stop_on_request(calm: Stack, receiver: Receiver, chat: Listener) -> None:
    since = time.time()
    calm.compose("stop", "qbitel-engine")
    try:
        inc = fired(receiver, "ServiceDown", since)
        doc = receiver.triage(inc)
        assert (doc["verdict"], doc["top_cause"]) == ("down", "stopped"), doc["headline"]
        assert doc["target"].startswith("compose project 'sdserve'")
        text = summary_posted(chat, inc, since)
        assert "Top cause: stopped" in text and "Runbook steps:" in text and "Evidence:" in text
        assert (receiver.incidents / inc.id / SUMMARY_FILE).read_text().strip() == text.strip()
        assert_written(receiver, inc)
        # Read-only: remediation is not allowed for this target, so it is still stopped.
        assert calm.inspect(ENGINE, "{{.State.Status}}") == "exited"
        assert not any(e.event == "remediation" for e in inc.log)
        # The chat's webhook path is a secret: it appears in no log.
        assert "chat-secret-path" not in receiver.output()
    finally:
        calm.compose("start", "qbitel-engine")
    done = assert_closed(receiver, inc)
    resolved = wait_for(lambda: next((t for t in chat.texts(since) if inc.id in t and "resolved" in t), None),
                        30, what="the resolved summary in the chat")
    assert "Closed: firing for" in resolved and done.status == "closed"


def kill_engine(stack: Stack) -> None:
    """SIGKILL of the engine's process from the host, as chaos's SigKill does: a crash (once it
    has served for longer than a start: a kill before that is a failure at start)."""
    started = epoch(stack.inspect(ENGINE, "{{.State.StartedAt}}"))
    assert started is not None
    time.sleep(max(0.0, started + START_WINDOW_S + 1 - time.time()))
    cid = stack.inspect(ENGINE, "{{.Id}}")
    pid = int(stack.inspect(ENGINE, "{{.State.Pid}}"))
    assert pid and cid in Path(f"/proc/{pid}/cgroup").read_text(), "not the engine's process"
    os.kill(pid, signal.SIGKILL)


def test_engine_killed_is_a_crash_and_repeats_keep_one_incident(calm: Stack, receiver: Receiver) -> None:
    calm.docker("update", "--restart=no", ENGINE)  # so it stays down long enough for the rule
    since = time.time()
    try:
        kill_engine(calm)
        inc = fired(receiver, "ServiceDown", since)
        doc = receiver.triage(inc)
        assert (doc["verdict"], doc["top_cause"]) == ("down", "crash"), doc["headline"]
        # Alertmanager repeats the group every 10 s while it fires: the same incident, re-triaged.
        again = receiver.wait_incident(lambda i: i.id == inc.id and i.repeats >= 1 and len(triages(i)) >= 2,
                                       60, "a repeat notification re-running the checks")
        assert [t["top_cause"] for t in triages(again)] == ["crash"] * len(triages(again)), triages(again)
        ours = [i for i in receiver.all() if i.alertname == "ServiceDown" and (i.opened_at or 0) >= since]
        assert [i.id for i in ours] == [inc.id]
    finally:
        calm.docker("update", "--restart=unless-stopped", ENGINE)
        calm.docker("start", ENGINE)
    assert_closed(receiver, inc)


def test_postgres_stopped_is_the_database_down(calm: Stack, receiver: Receiver) -> None:
    since = time.time()
    calm.compose("stop", "postgres")
    try:
        inc = fired(receiver, "PostgresDown", since)
        doc = receiver.triage(inc)
        assert doc["top_cause"] == "db-down", doc["headline"]
        checks = {c["id"]: c for c in doc["checks"]}
        assert checks["monitoring.pg_up"]["outcome"] == "fail"
        assert "PostgresDown" in checks["monitoring.alerts"]["message"]
        assert inc.target == "engine" and inc.labels["service"] == "postgres"
    finally:
        calm.compose("start", "postgres")
    assert_closed(receiver, inc)


# --- memory climbing to an OOM kill ----------------------------------------------------------------
# Climbs 4 MiB at a time to a share of the engine's limit (read as the engine exports it), holds
# there until the release file appears, then allocates until the kernel's OOM killer ends the
# engine. Bounded: it gives up after 3 minutes.
HOG = r"""
import os, sys, time
from qbitel_ref.memory import read_memory_usage
share, release, chunks, deadline = float(sys.argv[1]), sys.argv[2], [], time.time() + 180
def ratio():
    m = read_memory_usage()
    return m.used_bytes / m.limit_bytes
while ratio() < share and time.time() < deadline:
    chunks.append(b"\x01" * (4 << 20)); time.sleep(0.1)
while not os.path.exists(release) and time.time() < deadline:
    time.sleep(0.2)
while time.time() < deadline:
    chunks.append(b"\x01" * (16 << 20))
"""
RELEASE = "/tmp/servicedown-hog-release"


def test_memory_climbing_to_an_oom_kill(calm: Stack, receiver: Receiver) -> None:
    calm.docker("update", "--restart=no", ENGINE)  # down after the kill: ServiceDown fires too
    calm.docker("exec", ENGINE, "sh", "-c", f"rm -f {RELEASE}; echo 1000 > /proc/1/oom_score_adj")
    since = time.time()
    try:
        calm.docker("exec", "-d", ENGINE, "python3", "-c", HOG, "0.93", RELEASE)
        # HighMemoryUsage fires while memory holds at 93 % of the limit, before any kill.
        high = fired(receiver, "HighMemoryUsage", since)
        doc = receiver.triage(high)
        assert doc["top_cause"] == "oom", doc["headline"]
        checks = {c["id"]: c for c in doc["checks"]}
        assert checks["resources.memory"]["outcome"] == "fail"
        assert re.search(r"still at 9\d% now", checks["monitoring.memory"]["message"])
        # Then on to the limit: the kernel kills the engine, which stays down. (The checks' own
        # probes inside the engine's cgroup may have tipped it over already.) Docker does not
        # always keep its OOMKilled mark (its exit event can overwrite its oom event's).
        calm.docker("exec", ENGINE, "touch", RELEASE, check=False)
        wait_for(lambda: calm.inspect(ENGINE, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137",
                 60, interval=0.5, what="the engine's OOM kill")
        down = fired(receiver, "ServiceDown", since)
        doc = receiver.triage(down)
        assert doc["top_cause"] == "oom", doc["headline"]
        mem = next(c for c in doc["checks"] if c["id"] == "monitoring.memory")
        assert mem["outcome"] == "fail" and "then the engine stopped answering" in mem["message"]
        # Where the platform cannot say (a URL: no container state), Prometheus's memory series
        # before the engine vanished names the OOM kill alone.
        s = Settings(target="url", base_url=f"http://127.0.0.1:{HTTP_PORT}", prometheus_url=PROMETHEUS)
        t = triage(run_checks(s, make_target(s)))
        assert t.top is not None and t.top.id == "oom", [c.id for c in t.causes]
        assert any(e.startswith("monitoring.memory fail") for e in t.top.evidence)
    finally:
        calm.docker("update", "--restart=unless-stopped", ENGINE)
        calm.docker("start", ENGINE, check=False)
    assert_closed(receiver, high)
    assert_closed(receiver, down)


# --- pool exhaustion -------------------------------------------------------------------------------

def postgres_password() -> str:
    for line in (COMPOSE_DIR / ".postgres.env").read_text().splitlines():
        name, _, value = line.partition("=")
        if name == "POSTGRES_PASSWORD":
            return value
    raise AssertionError("no POSTGRES_PASSWORD in compose/.postgres.env")


def connect(kwargs: dict) -> psycopg.Connection:
    """psycopg's error quotes the connection string, password included: never shown."""
    try:
        return psycopg.connect(**kwargs)
    except psycopg.OperationalError as exc:
        raise AssertionError(redact(str(exc)).replace(kwargs["password"], "***")) from None


def client_backends(conn: psycopg.Connection) -> int:
    return int(conn.execute("select count(*) from pg_stat_activity where backend_type = "
                            "'client backend'").fetchone()[0])


def test_pool_exhaustion(calm: Stack, receiver: Receiver) -> None:
    """Connections held (a leaking client) until 92 % of max_connections are in use: the exporter and
    the checks still get theirs, the pool is exhausted for the engine's next ones."""
    host = calm.inspect(POSTGRES, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
    kwargs = {"host": host, "port": 5432, "user": "qbitel_user", "dbname": "qbitel",
              "password": postgres_password(), "connect_timeout": 5,
              "application_name": "servicedown-test-hold"}
    held: list[psycopg.Connection] = []
    since = time.time()
    try:
        first = connect(kwargs | {"autocommit": True})  # pg_stat_activity is fixed per transaction
        held.append(first)
        maximum = int(first.execute("show max_connections").fetchone()[0])
        deadline = time.monotonic() + 60
        while client_backends(first) < 0.92 * maximum and time.monotonic() < deadline:
            try:
                held.append(psycopg.connect(**kwargs))
            except psycopg.OperationalError:  # full before 92 %: give some back to the others
                for conn in held[-5:]:
                    conn.close()
                del held[-5:]
                break
        assert client_backends(first) >= 0.9 * maximum
        inc = fired(receiver, "DatabaseConnectionPoolExhausted", since)
        doc = receiver.triage(inc)
        assert doc["top_cause"] == "db-pool-exhausted", doc["headline"]
        checks = {c["id"]: c for c in doc["checks"]}
        assert checks["database.connections"]["outcome"] == "fail"
        assert checks["monitoring.pool"]["outcome"] == "fail"
    finally:
        for conn in held:
            with contextlib.suppress(Exception):
                conn.close()
    assert_closed(receiver, inc)
