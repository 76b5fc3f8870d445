import json
import re
from pathlib import Path

import pytest

from servicedown.causes import CAUSES, Cause, fail, passed
from servicedown.model import CheckResult, Outcome
from servicedown.triage import summary_text, triage, verdict

DOC = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
VOCABULARY = sorted(set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", DOC, re.MULTILINE)))

F, P, S, E = Outcome.FAIL, Outcome.PASS, Outcome.SKIP, Outcome.ERROR


def run(fails=(), skips=(), errors=(), **overrides):
    """Every check of the vocabulary; PASS unless named. fails: {id: message} or ids;
    overrides: id (dots as __) -> (outcome, message[, evidence])."""
    fails = dict.fromkeys(fails, "failed") if not isinstance(fails, dict) else fails
    out = []
    for cid in VOCABULARY:
        evidence = {}
        if cid in fails:
            outcome, message = F, fails[cid]
        elif cid in skips:
            outcome, message = S, "not applicable"
        elif cid in errors:
            outcome, message = E, "check timed out"
        else:
            outcome, message = P, "ok"
        o = overrides.get(cid.replace(".", "__"))
        if o:
            outcome, message, *rest = o
            evidence = rest[0] if rest else {}
        out.append(CheckResult(cid, "x", outcome, message, evidence))
    return out


def ranking(results):
    return [c.id for c in triage(results).causes]


def top(results):
    t = triage(results)
    assert t.causes, "no cause ranked"
    return t.causes[0].id


def test_healthy_has_no_causes():
    t = triage(run(skips=["startup.tls"], errors=["resources.cpu"]))
    assert t.verdict == "healthy" and t.causes == [] and t.top is None


@pytest.mark.parametrize("c", [c for c in CAUSES if c.in_runbook], ids=lambda c: c.id)
def test_expected_detection_alone_ranks_its_cause_first(c):
    # What the chaos harness asserts: with exactly these checks failing, triage names the cause.
    assert top(run(c.expected_fail)) == c.id


# --- discriminating pairs ----------------------------------------------------------------

DB_DOWN = {
    "database.ready": "database not ready: postgres:5432 - no response (pg_isready rc=2)",
    "database.reachable": "from the engine's side, the database at postgres:5432 is refused",
    "health.database": "the engine says: database: fail (connection refused)",
    "health.endpoint": "HTTP 503, status 'unhealthy', failing: database: fail",
    "logs.db_error": "3 matching line(s): Database connection error: connection to server at "
                     "\"postgres\" failed: Connection refused",
}


def test_db_down_vs_db_network_database_down():
    r = run(DB_DOWN)
    assert ranking(r)[0] == "db-down"
    assert "db-network" not in ranking(r)[:1]


def test_db_down_vs_db_network_path_broken():
    fails = {k: v for k, v in DB_DOWN.items() if k != "database.ready"}
    fails["logs.db_error"] = "Database health check failed: connection timeout expired"
    r = run(fails)  # database.ready passes: pg_isready inside the database answers
    assert ranking(r) == ["db-network"]
    # reachable 3 + ready passes 2 + health.database 1 + db error 1 + a network-shaped error 1
    assert triage(r).causes[0].score == 8


def test_db_pool_exhausted_vs_db_down():
    too_many = "FATAL:  sorry, too many clients already"
    r = run({
        "database.connections": "the database refuses new connections: " + too_many,
        "database.ready": "database not ready: " + too_many,
        "database.reachable": "from the engine's side: " + too_many,
        "health.database": "the engine says: database: fail (" + too_many + ")",
        "health.endpoint": "HTTP 503",
        "logs.db_error": "Database health check failed: " + too_many,
    })
    ranked = triage(r).causes
    assert ranked[0].id == "db-pool-exhausted"
    scores = {c.id: c.score for c in ranked}
    assert scores.get("db-down", 0) < scores["db-pool-exhausted"] / 2


def test_db_pool_exhausted_in_the_engine_with_the_database_fine():
    r = run({"logs.db_error": "QueuePool limit of size 10 overflow 20 reached, connection "
                              "timed out, timeout 30.00",
             "health.database": "database: fail (pool timeout)"})
    assert top(r) == "db-pool-exhausted"


def test_plain_db_down_does_not_suggest_pool_exhaustion():
    assert "db-pool-exhausted" not in ranking(run(DB_DOWN))


VALIDATION_FAILED = "startup validation FAILED at its last start:\n  [CRITICAL] ✗ FAIL: "


def test_missing_env_vs_config_invalid_missing():
    r = run({
        "startup.env": "missing required variable(s): JWT_SECRET",
        "startup.validation": VALIDATION_FAILED + "Secret: JWT_SECRET - JWT secret must be set",
        "logs.validation": "[CRITICAL] ✗ FAIL: Secret: JWT_SECRET - JWT secret must be set "
                           "(minimum 32 characters)",
        "running.state": "not running: status 'exited', last exit code 1",
        "running.exit_code": "last exit code 1 (the application exited with an error)",
        "health.endpoint": "no answer: connection refused",
    })
    assert ranking(r) == ["missing-env"]
    assert triage(r).verdict == "down"


def test_missing_env_vs_config_invalid_weak():
    r = run({
        "startup.secrets": "JWT_SECRET contains weak pattern(s): secret",
        "startup.validation": VALIDATION_FAILED + "Weak Password: JWT_SECRET - contains weak",
        "logs.validation": "[CRITICAL] ✗ FAIL: Weak Password: JWT_SECRET - JWT_SECRET contains "
                           "weak/default password patterns",
        "running.exit_code": "last exit code 1",
    })
    assert ranking(r) == ["config-invalid"]


def test_config_error_that_is_neither_env_nor_secrets():
    r = run({"logs.config_error": "[ERROR] ✗ FAIL: Database Config: DATABASE_PORT - Invalid port "
                                  "number: 70000 (must be 1-65535)",
             "startup.validation": "FAILED: Errors found in production environment"})
    assert top(r) == "config-invalid"


def test_wrong_database_password_is_configuration_not_network():
    auth = 'FATAL:  password authentication failed for user "qbitel_user"'
    r = run({"database.reachable": "from the engine's side: " + auth,
             "logs.db_error": "Database connection error: " + auth,
             "health.database": "database: fail", "health.endpoint": "HTTP 503"})
    assert top(r) == "config-invalid"
    assert "db-down" not in ranking(r)


def test_tls_vs_config_invalid():
    r = run({
        "startup.tls": "TLS: certificate expired on 2026-01-01 00:00 UTC",
        "logs.tls_error": "ssl.SSLError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate has expired",
    })
    assert ranking(r) == ["tls"]
    r = run({
        "startup.tls": "TLS_ENABLED=true but TLS_CERT_FILE not set",
        "startup.validation": VALIDATION_FAILED + "Security: TLS Certificates - TLS_CERT_FILE and "
                                                  "TLS_KEY_FILE must be set when TLS is enabled",
        "logs.validation": "[CRITICAL] ✗ FAIL: Security: TLS Certificates - TLS_CERT_FILE and "
                           "TLS_KEY_FILE must be set",
    })
    assert ranking(r)[0] == "tls"
    assert "config-invalid" not in ranking(r)


def test_oom_vs_crash_platform_kill():
    r = run({"running.oom_killed": "OOM killed: the platform marks the last exit as OOM-killed",
             "running.exit_code": "last exit code 137 (SIGKILL: OOM killer or kill -9)",
             "running.restarts": "in a restart loop: restart count 4"})
    assert ranking(r) == ["oom"]


def test_oom_vs_crash_memory_error_traceback():
    r = run({"logs.stack_trace": "Traceback (most recent call last):",
             "logs.oom": "MemoryError",
             "running.exit_code": "last exit code 1"})
    assert ranking(r)[0] == "oom"


def test_oom_on_systemd_cgroup_v1_kill_signal_only():
    # cgroup v1 systemd cannot say "oom-kill": the OOM check is skipped, not passed.
    r = run({"running.exit_code": "last exit code 9, result signal",
             "running.state": "not running: status 'failed'"}, skips=["running.oom_killed"],
            running__exit_code=(F, "last exit code None, result signal",
                                {"result": "signal", "recent_events": ["status=9/KILL"]}))
    assert top(r) == "oom"


def test_crash_vs_oom_plain_exception():
    r = run({"logs.stack_trace": "Traceback (most recent call last): ValueError: bad",
             "running.exit_code": "last exit code 1 (the application exited with an error)"},
            running__exit_code=(F, "last exit code 1", {"uptime_s": 137.0}))
    assert ranking(r) == ["crash"]


def test_disk_full_vs_crash():
    r = run({"logs.stack_trace": "Traceback (most recent call last):",
             "logs.disk_full": "OSError: [Errno 28] No space left on device: '/data/x'",
             "resources.disk": "/data 100 % used",
             "running.exit_code": "last exit code 1"})
    ranked = ranking(r)
    assert ranked[0] == "disk-full" and ranked.index("crash") > 0


def test_fd_limit_vs_crash_on_logs_alone():
    r = run({"logs.stack_trace": "Traceback (most recent call last):",
             "logs.fd_limit": "OSError: [Errno 24] Too many open files",
             "running.exit_code": "last exit code 1"})
    assert ranking(r)[0] == "fd-limit"


def test_cpu_alone_and_slow_health():
    r = run({"resources.cpu": "CPU 98 % of its 0.5-core quota",
             "health.endpoint": "HTTP 200, status 'healthy': slower than the 1.0s budget"},
            health__endpoint=(F, "HTTP 200: slower than the 1.0s budget", {"status": 200}))
    t = triage(r)
    assert [c.id for c in t.causes] == ["cpu"] and t.verdict == "degraded"
    assert t.causes[0].score == 4


def test_cpu_does_not_outrank_a_database_outage():
    r = run(DB_DOWN | {"resources.cpu": "CPU 95 %"})
    ranked = ranking(r)
    assert ranked[0] == "db-down" and "cpu" in ranked


# --- the rules themselves -----------------------------------------------------------------

def test_a_cause_needs_a_failing_signal_to_enter():
    # db-network has a positive PASS signal (database.ready passes); alone it must not enter.
    assert ranking(run({"resources.fds": "95 % of 64"})) == ["fd-limit"]


def test_a_cause_whose_evidence_against_outweighs_is_dropped():
    r = run({"startup.secrets": "ENCRYPTION_KEY is 5 characters, needs at least 32",
             "startup.validation": "FAILED"})
    assert "missing-env" not in ranking(r)  # startup.env passes: 1 - 2 < 0


def test_ties_break_on_corroboration_then_table_order():
    a = Cause("a", "database", "A", ("cause-3",), (fail("x.one", 2, defining=True), fail("x.two", 2)),
              (), ())
    b = Cause("b", "database", "B", ("cause-3",), (fail("x.three", 4),), (), ())
    c = Cause("c", "database", "C", ("cause-3",), (fail("x.three", 4),), (), ())
    d = Cause("d", "database", "D", ("cause-3",), (fail("x.three", 2), passed("x.one", 2)), (), ())
    results = [CheckResult(i, "x", F, "m") for i in ("x.one", "x.two", "x.three")]
    assert [r.id for r in triage(results, (c, b, a, d)).causes] == ["a", "c", "b", "d"]


def test_a_cause_without_defining_evidence_never_ranks_first():
    strong = Cause("strong", "database", "S", ("cause-3",), (fail("x.one", 2), fail("x.two", 2),
                                                              fail("x.four", 1)), (), ())
    weak = Cause("weak", "database", "W", ("cause-3",), (fail("x.three", 3),), (), ())
    results = [CheckResult(i, "x", F, "m") for i in ("x.one", "x.two", "x.three", "x.four")]
    t = triage(results, (strong, weak))
    assert [c.id for c in t.causes] == ["weak", "strong"]  # 3 with defining evidence beats 5
    assert not t.inconclusive and t.top is not None and t.top.id == "weak"
    assert t.causes[1].why_not_first.startswith("no defining evidence")
    assert t.causes[1].confidence <= 0.3 < t.causes[0].confidence


def test_no_defining_evidence_anywhere_is_inconclusive_and_says_what_would_decide():
    only = Cause("only", "database", "O", ("cause-3",), (fail("x.one", 2), fail("x.two", 3)), (), ())
    results = [CheckResult("x.one", "x", F, "m"), CheckResult("x.two", "x", S, "the engine is not "
                                                               "running", {"skipped": "cannot tell"})]
    t = triage(results, (only,))
    assert t.inconclusive and t.top is None and t.verdict == "degraded"
    assert t.headline == "DEGRADED (cause inconclusive)"
    assert any("x.two would decide only" in d and "the engine is not running" in d for d in t.decide)
    assert t.to_json()["top_cause"] is None and t.to_json()["cause_inconclusive"] is True


def test_each_signal_counts_once_even_with_several_results():
    pods = [CheckResult("resources.cpu", "x", F, f"pod {i}: 99 %") for i in range(3)]
    t = triage(pods)
    assert t.causes[0].score == 3
    assert len(t.causes[0].evidence) == 3


def test_evidence_quotes_checks_for_and_against_and_masks_secrets():
    fails = {k: v for k, v in DB_DOWN.items() if k != "database.ready"}
    fails["database.reachable"] = ("cannot connect to postgresql://qbitel_user:hunter2@db:5432"
                                   "/qbitel: timeout expired")
    t = triage(run(fails))
    net = t.causes[0]
    assert net.id == "db-network"
    assert net.evidence[0].startswith("database.reachable fail: cannot connect")
    assert "database.ready pass: ok" in net.evidence
    assert all("hunter2" not in e for e in net.evidence)
    db_down = triage(run(DB_DOWN)).causes[0]
    assert not any(e.startswith("against:") for e in db_down.evidence)
    pool = triage(run({"database.connections": "95 %", "database.ready": "too many clients"}))
    down = [c for c in pool.causes if c.id == "db-down"]
    assert not down  # 3 - 3: it answers, so it is not down


# --- verdict --------------------------------------------------------------------------------

@pytest.mark.parametrize(("fails", "evidence", "expected"), [
    ({"running.state": "exited"}, {}, "down"),
    ({"running.exists": "no container"}, {}, "down"),
    ({"health.endpoint": "connection refused"}, {"status": None}, "down"),
    ({"health.endpoint": "no answer"}, {}, "down"),
    ({"health.endpoint": "HTTP 503"}, {"status": 503}, "down"),
    ({"health.endpoint": "HTTP 502"}, {"status_code": 502}, "down"),
    ({"health.endpoint": "HTTP 200 but slow"}, {"status": 200}, "degraded"),
    ({"health.endpoint": "HTTP 429"}, {"status": 429}, "degraded"),
    ({"resources.cpu": "99 %"}, {}, "degraded"),
    ({"running.restarts": "restart count 3"}, {}, "degraded"),
])
def test_verdict(fails, evidence, expected):
    results = run(fails)
    for r in results:
        if r.id in fails:
            r.evidence = evidence
    assert verdict(results) == expected
    assert triage(results).verdict == expected


def test_boolean_is_not_an_http_status():
    r = [CheckResult("health.endpoint", "x", F, "m", {"status": True})]
    assert verdict(r) == "down"


# --- summary ----------------------------------------------------------------------------------

def test_summary_text_down_with_causes():
    fails = DB_DOWN | {"database.reachable": "refused, password=hunter2"}
    text = summary_text(triage(run(fails)))
    assert text.startswith("Verdict: DOWN - 5 failed")
    assert "1. db-down [database] The database is down - score 6" in text
    assert "pg_isready -U qbitel_user -d qbitel" in text
    assert "hunter2" not in text
    assert "Failed: database.reachable, database.ready" in text


def test_summary_text_caps_causes_and_lists_the_rest():
    r = run(["logs.stack_trace", "resources.cpu", "resources.disk", "resources.fds"])
    text = summary_text(triage(r), max_causes=2)
    assert text.count("Resolution:") == 1 and "\n2. " in text and "\n3. " not in text
    assert "Also possible: " in text


def test_summary_text_healthy_and_unmatched():
    assert summary_text(triage(run(errors=["resources.cpu"]))).splitlines() == [
        f"Verdict: HEALTHY - 0 failed, {len(VOCABULARY) - 1} passed, 0 skipped, 1 errored of "
        f"{len(VOCABULARY)} checks",
        "State: ok",
        "Could not check: resources.cpu",
    ]
    text = summary_text(triage(run(["running.restarts"])))
    assert "No runbook cause matches" in text


def test_triage_is_json_serialisable():
    d = triage(run(DB_DOWN)).to_json()
    assert json.loads(json.dumps(d))["causes"][0]["id"] == "db-down"


def test_empty_input():
    t = triage([])
    assert (t.verdict, t.causes, t.checks) == ("healthy", [], [])


# --- every corroborating signal shows up as evidence in a full, realistic incident ------------

TOO_MANY = "FATAL:  sorry, too many clients already"
FULL = {
    "crash": ({"logs.stack_trace": "Traceback (most recent call last): KeyError: 'x'",
               "running.exit_code": "last exit code 1"},
              {"logs.stack_trace", "running.exit_code"}),
    "oom": ({"running.oom_killed": "OOM killed", "logs.oom": "Killed process 4242 (python3)",
             "resources.memory": "97 % of its 64 MiB limit",
             "running.exit_code": "last exit code 137 (SIGKILL)",
             "health.live": "HTTP 503, failing: memory: fail (96 % used)"},
            {"running.oom_killed", "logs.oom", "resources.memory", "running.exit_code",
             "health.live"}),
    "cpu": ({"resources.cpu": "99 %", "health.endpoint": "HTTP 200: slower than the budget"},
            {"resources.cpu", "health.endpoint"}),
    "disk-full": ({"resources.disk": "/data 100 %", "logs.disk_full": "[Errno 28] No space"},
                  {"resources.disk", "logs.disk_full"}),
    "fd-limit": ({"resources.fds": "63 of 64", "logs.fd_limit": "[Errno 24] Too many open files"},
                 {"resources.fds", "logs.fd_limit"}),
    "db-down": ({**DB_DOWN, "logs.db_error": "FATAL:  the database system is shutting down"},
                {"database.ready", "database.reachable", "health.database", "logs.db_error"}),
    "db-pool-exhausted": ({"database.connections": "190 of 200", "database.ready": TOO_MANY,
                           "database.reachable": TOO_MANY, "health.database": TOO_MANY,
                           "logs.db_error": TOO_MANY},
                          {"database.connections", "database.ready", "database.reachable",
                           "health.database", "logs.db_error"}),
    "db-network": ({"database.reachable": "timed out", "health.database": "database: fail",
                    "logs.db_error": "connection timeout expired"},
                   {"database.reachable", "database.ready", "health.database", "logs.db_error"}),
    "config-invalid": ({"startup.secrets": "JWT_SECRET is 12 characters, needs at least 32",
                        "logs.config_error": "[ERROR] ✗ FAIL: Secret: JWT_SECRET - at least 32",
                        "logs.validation": "❌ VALIDATION FAILED: Errors found in production",
                        "startup.validation": "FAILED"},
                       {"startup.secrets", "logs.config_error", "logs.validation",
                        "startup.validation"}),
    "missing-env": ({"startup.env": "missing required variable(s): ENCRYPTION_KEY",
                     "logs.validation": "Secret: ENCRYPTION_KEY - Encryption key must be set",
                     "startup.validation": "FAILED"},
                    {"startup.env", "logs.validation", "startup.validation"}),
    "tls": ({"startup.tls": "TLS: certificate expired", "logs.tls_error": "certificate has expired",
             "logs.validation": "[CRITICAL] ✗ FAIL: Security: TLS Certificates",
             "startup.validation": "FAILED: TLS certificate file not found"},
            {"startup.tls", "logs.tls_error", "logs.validation", "startup.validation"}),
}


@pytest.mark.parametrize("cause_id", list(FULL))
def test_full_incident_ranks_its_cause_with_all_its_evidence(cause_id):
    fails, checks = FULL[cause_id]
    first = triage(run(fails)).causes[0]
    assert first.id == cause_id
    quoted = {e.split(" ", 1)[0] for e in first.evidence if not e.startswith("against:")}
    assert quoted == checks


def test_full_table_covers_every_runbook_cause():
    assert set(FULL) == {c.id for c in CAUSES if c.in_runbook}


# --- evidence against, and the discriminating message patterns --------------------------------

def scores(results):
    return {c.id: c.score for c in triage(results).causes}


@pytest.mark.parametrize("family", ["logs.oom", "logs.disk_full", "logs.fd_limit",
                                    "logs.db_error", "logs.tls_error", "logs.validation"])
def test_a_traceback_another_cause_explains_counts_less_for_crash(family):
    base = {"logs.stack_trace": "Traceback (most recent call last):", "running.exit_code": "1"}
    assert scores(run(base | {family: "matching lines"}))["crash"] < scores(run(base))["crash"]


@pytest.mark.parametrize("family", ["logs.oom", "logs.disk_full", "logs.fd_limit"])
def test_a_traceback_with_a_named_cause_ranks_that_cause_first(family):
    r = run({"logs.stack_trace": "Traceback (most recent call last):",
             "running.exit_code": "last exit code 1", family: "matching lines"})
    assert ranking(r)[0] != "crash"


def test_unexplained_non_zero_exit_is_a_crash():
    assert ranking(run({"running.exit_code": "last exit code 1"})) == ["crash"]


def test_exit_137_alone_is_a_kill_not_a_crash():
    assert ranking(run({"running.exit_code": "last exit code 137 (SIGKILL)"})) == ["oom"]


def test_exit_137_after_a_kill_request_is_a_crash_not_oom():
    r = run(running__exit_code=(F, "last exit code 137 (SIGKILL)",
                                {"recent_events": ["12:00:01 kill signal=9", "12:00:01 die exitCode=137"]}),
            running__state=(F, "not running: status 'exited', last exit code 137"))
    assert ranking(r) == ["crash"]


def test_sigkill_without_an_oom_record_is_a_crash():
    r = run({"running.restarts": "exited 1 time(s) in the last 10 min: 12:00:01 die exitCode=137",
             "running.exit_code": "last exit code 137 (SIGKILL, not the OOM killer: the platform "
                                  "recorded no OOM kill)"})
    assert ranking(r) == ["crash"]


def test_engine_stopped_on_request_is_a_stop_not_a_crash():
    r = run(running__state=(F, "not running: stopped on request (docker stop at 21:03:05), exit code 0",
                            {"how": "stopped"}))
    assert ranking(r) == ["stopped"]  # crash: 1.5 as the base explanation, -3 for the request
    assert triage(r).top.id == "stopped" and not triage(r).top.in_runbook


def test_a_stop_is_not_a_crash_even_with_errors_logged_before_it():
    # The first issue's case: a database blip earlier in the run, then a stop on purpose.
    r = run({"logs.db_error": "1 matching line(s) since the last start: 21:01:10 Database "
                              "connection error: connection timeout expired"},
            running__state=(F, "not running: stopped on request (docker stop at 21:03:05)",
                            {"how": "stopped"}),
            database__reachable=(S, "the engine is not running", {"skipped": "not applicable here"}))
    t = triage(r)
    assert t.top.id == "stopped"
    network = next(c for c in t.causes if c.id == "db-network")
    assert not network.defining and network.why_not_first.startswith("no defining evidence")


def test_platform_oom_flag_weighs_against_crash():
    s = scores(run({"logs.stack_trace": "Traceback", "running.oom_killed": "OOM killed"}))
    assert s["oom"] == 3 and s["crash"] == 0.5


def test_cpu_of_a_service_that_is_not_running_ranks_below_its_crash():
    r = run({"logs.stack_trace": "Traceback", "running.state": "exited",
             "resources.cpu": "host CPU 100 %"})
    assert ranking(r) == ["crash", "cpu"]


def test_db_down_pattern_weighs_against_db_network():
    s = scores(run(DB_DOWN))
    assert s["db-network"] <= s["db-down"] / 2


def test_database_shutting_down_seen_only_from_the_engine_side():
    # pg_isready could not run (skip); the engine got an answer, so the path is fine.
    r = run({"database.reachable": "FATAL:  the database system is shutting down",
             "logs.db_error": "FATAL:  the database system is shutting down"},
            skips=["database.ready"])
    # reachable 1 + shutting down 1.5 + db error 1 + shutting down 2
    assert scores(r) == {"db-down": 5.5} and triage(r).top.id == "db-down"


def test_pool_exhaustion_seen_without_the_connections_check():
    r = run({"database.ready": TOO_MANY, "database.reachable": TOO_MANY},
            skips=["database.connections"])
    assert ranking(r)[0] == "db-pool-exhausted" and "db-network" not in ranking(r)
    assert scores(r)["db-pool-exhausted"] == 4


def test_engine_pool_timeout_scores_its_health_report():
    r = run({"health.database": "database: fail (pool timeout)"})
    assert ranking(r) == ["db-pool-exhausted"]  # db-network: 1 + 2 (ready) - 3 (reachable)
    assert scores(r)["db-pool-exhausted"] == 1


@pytest.mark.parametrize(("line", "first", "other"), [
    ("[CRITICAL] ✗ FAIL: Secret: JWT_SECRET - JWT secret must be set (minimum 32 characters)",
     "missing-env", "config-invalid"),
    ("[CRITICAL] ✗ FAIL: Weak Password: JWT_SECRET - JWT_SECRET contains weak/default password",
     "config-invalid", "missing-env"),
])
def test_validation_lines_decide_when_the_environment_cannot_be_read(line, first, other):
    r = run({"logs.validation": line, "startup.validation": "FAILED:\n  " + line},
            skips=["startup.env", "startup.secrets", "startup.tls"])
    s = scores(r)
    assert ranking(r)[0] == first and s[first] - s.get(other, 0) >= 1


def test_tls_named_in_validation_lines_points_to_tls():
    line = "[CRITICAL] ✗ FAIL: Security: TLS Certificates - TLS_CERT_FILE and TLS_KEY_FILE"
    r = run({"logs.validation": line, "startup.validation": "FAILED:\n  " + line},
            skips=["startup.env", "startup.secrets", "startup.tls"])
    assert ranking(r)[0] == "tls" and scores(r)["tls"] == 2.5


def test_own_certificate_fine_an_outgoing_tls_error_stays_a_crash():
    r = run({"logs.stack_trace": "Traceback", "running.exit_code": "last exit code 1",
             "logs.tls_error": "certificate verify failed"})
    assert ranking(r)[:2] == ["crash", "tls"]


def test_weak_secret_outside_production_alone():
    # In development the engine only warns, so nothing but startup.secrets fails.
    assert ranking(run({"startup.secrets": "JWT_SECRET is 12 characters"})) == ["config-invalid"]


def test_missing_variable_outside_production_alone():
    assert ranking(run({"startup.env": "missing required variable(s): JWT_SECRET"})) == [
        "missing-env"]


def test_tls_error_in_logs_when_the_files_cannot_be_read():
    r = run({"logs.tls_error": "[SSL: KEY_VALUES_MISMATCH] key values mismatch"},
            skips=["startup.tls"])
    assert ranking(r) == ["tls"]


def test_memory_pressure_before_the_kill():
    assert ranking(run({"resources.memory": "93 % of its limit"})) == ["oom"]
    assert ranking(run({"health.live": "HTTP 503, failing: memory: fail (96 %)"})) == ["oom"]
    assert ranking(run({"health.live": "HTTP 503, failing: event_loop: fail"})) == []


def test_disk_full_seen_in_logs_only():
    r = run({"logs.disk_full": "could not extend file", "logs.stack_trace": "Traceback"},
            skips=["resources.disk"])
    assert ranking(r)[0] == "disk-full"


# --- how the service is not running: the rows the runbook does not name ------------------------

def state(how: str, message: str) -> tuple:
    return (F, f"not running: {message}", {"how": how, "how_detail": message})


STATES = {
    "stopped": dict(running__state=state("stopped", "stopped on request (docker stop at 21:03:05)")),
    "killed": dict(running__state=state("killed", "killed on request (docker kill (signal 9))")),
    "paused": dict(running__state=state("paused", "paused (docker pause)")),
    "absent": dict(running__exists=(F, "no container for service 'qbitel-engine'", {"how": "missing"}),
                   running__state=state("missing", "no container")),
    "crash-loop": dict(running__state=state("crash-looping", "crash-looping: 5 exit(s)")),
    "not-ready": dict(running__state=state("not-ready", "pod a running but not ready: Readiness "
                                                        "probe failed: statuscode: 503")),
    "evicted": dict(running__state=state("evicted", "pod a evicted: The node was low on resource: memory")),
    "unschedulable": dict(running__state=state("unschedulable", "0/1 nodes: Insufficient memory")),
    "image-pull": dict(running__state=state("image-pull", "ImagePullBackOff")),
    "partial": dict(running__health=(F, "platform health status: unhealthy: degraded: 2 of 3 serve",
                                     {"how": "partial"})),
    "http-errors": dict(health__endpoint=(F, "GET /health: HTTP 500 in 0.01s", {"status": 500})),
    "port-dead": dict(health__endpoint=(F, "GET /health: no answer (connection refused)", {"status": None}),
                      running__state=(P, "running (running since 21:00:00)", {"how": "running"})),
}


@pytest.mark.parametrize("cause_id", list(STATES))
def test_each_state_the_runbook_does_not_name_is_named(cause_id):
    t = triage(run(**STATES[cause_id]))
    assert t.top is not None and t.top.id == cause_id, [(c.id, c.score) for c in t.causes]
    assert not t.top.in_runbook and t.top.category == "not-in-runbook"


def test_states_cover_every_row_the_runbook_does_not_name():
    assert set(STATES) == {c.id for c in CAUSES if not c.in_runbook}


def test_partial_replicas_are_degraded_not_down():
    assert triage(run(**STATES["partial"])).verdict == "degraded"


def test_a_port_dead_while_starting_is_not_a_cause():
    r = run(health__endpoint=(F, "no answer (connection refused)", {"status": None}),
            running__state=(P, "running, starting", {"how": "starting"}))
    assert "port-dead" not in ranking(r)


def test_http_500_with_the_database_failing_is_the_database():
    r = run({"health.endpoint": "HTTP 503, failing: database: fail", "database.ready": "no response",
             "health.database": "the engine says: database: fail"})
    assert top(r) == "db-down"


@pytest.mark.parametrize(("fails", "expected"), [
    ({"database.ready": "database not ready: no response (pg_isready rc=2)"}, "down"),
    ({"database.reachable": "from the engine's side ... is no-response"}, "down"),
    ({"database.ready": "database not ready: FATAL: sorry, too many clients already"}, "degraded"),
])
def test_the_database_down_is_down_whatever_health_says(fails, expected):
    assert verdict(run(fails)) == expected


def test_history_is_deduplicated_and_coverage_counts_what_could_answer():
    r = run(running__state=(P, "running", {"how": "running", "history": ["recovered: SIGKILL at 20:07"]}),
            running__restarts=(P, "ok", {"history": ["recovered: SIGKILL at 20:07"]}),
            skips=["resources.cpu", "resources.memory", "resources.disk", "resources.fds"])
    for res in r:
        if res.id.startswith("resources."):
            res.evidence["skipped"] = "cannot tell on this target"
    t = triage(r)
    assert t.history == ["recovered: SIGKILL at 20:07"]
    assert set(t.coverage.unchecked) == {"resources"} and t.coverage.ran == len(VOCABULARY) - 4
    assert t.headline == "HEALTHY"
    assert "History (recovered from, not this incident):" in summary_text(t)


def test_a_verdict_resting_on_one_check_says_so():
    r = [CheckResult("health.endpoint", "x", P, "HTTP 200 healthy", {"status": 200})] + [
        CheckResult(c, "x", S, "a url target has no logs", {"skipped": "cannot tell on this target"})
        for c in VOCABULARY if c != "health.endpoint"]
    t = triage(r)
    assert t.headline == f"HEALTHY as far as 1 of {len(VOCABULARY)} checks could see"
    assert "logs" in t.coverage.unchecked and "Not checked:" in summary_text(t)


def test_not_applicable_skips_are_not_unchecked_areas():
    r = run(skips=["startup.tls"])
    for res in r:
        if res.id == "startup.tls":
            res.evidence["skipped"] = "not applicable here"
    assert triage(r).coverage.unchecked == {}


def test_the_state_line_says_when_the_process_lives_but_its_port_is_dead():
    t = triage(run(**STATES["port-dead"]))
    assert "its port is dead" in t.state


def test_a_loop_of_crashes_the_platform_recorded_is_a_crash():
    r = run(running__state=state("crash-looping", "crash-looping: 3 exit(s) in the event window, "
                                                  "restart policy 'unless-stopped'; last: crashed at "
                                                  "20:07:01: exit code 137 (SIGKILL) (killed, not by "
                                                  "the OOM killer, and no stop or kill was requested)"))
    assert top(r) == "crash"
    assert top(run(**STATES["crash-loop"])) == "crash-loop"  # a loop that says nothing of why
