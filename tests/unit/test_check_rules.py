"""The checks' rules at their edges, on a made-up target (no platform): the thresholds, the
restart-loop rule, the exit-code hints, and the triage's entry and verdict rules that a
realistic incident alone does not pin down."""

from __future__ import annotations

from typing import Any

import pytest

from servicedown import states
from servicedown.backends.command import CommandResult
from servicedown.backends.http import HttpAnswer
from servicedown.causes import Cause, fail, passed
from servicedown.config import Settings
from servicedown.diagnosis import database, resources, running
from servicedown.diagnosis.context import Context
from servicedown.model import CheckResult, Outcome
from servicedown.probes.hostfacts import Disk, Facts
from servicedown.states import Exit
from servicedown.targets.base import ServiceState, Target
from servicedown.triage import triage, verdict


class Made(Target):
    """A target whose answers the test gives."""

    kind = "made"

    def __init__(self, settings: Settings, state: ServiceState | None = None,
                 env: dict[str, str] | None = None, logs: list[str] | None = None,
                 run: dict[str, CommandResult] | None = None) -> None:
        super().__init__(settings)
        self._state = state or ServiceState(exists=True, running=True, status="running")
        self._env, self._logs, self._run = env, logs or [], run or {}

    def describe(self) -> str:
        return "made"

    def state(self) -> ServiceState:
        return self._state

    def logs(self, lines: int) -> list[str]:
        return self._logs[-lines:]

    def environment(self) -> dict[str, str] | None:
        return self._env

    def run_in_service(self, argv: list[str], timeout: float) -> CommandResult | None:
        return self._run.get(argv[0])

    def run_in_database(self, argv: list[str], timeout: float) -> CommandResult | None:
        return self._run.get("db:" + argv[0])

    def restart(self) -> str:
        return "no"

    def now(self) -> float:
        return 1_800_000_000.0


class Net:
    def __init__(self, answers: dict[str, HttpAnswer] | None = None,
                 pg: tuple[str, str] = ("accepting", "ok")) -> None:
        self.answers, self.pg = answers or {}, pg

    def get(self, url: str) -> HttpAnswer:
        return self.answers.get(url.rsplit(":8000", 1)[-1], HttpAnswer(url, 404))

    def pg_ping(self, *args: Any) -> tuple[str, str]:
        return self.pg

    def close(self) -> None:
        pass


def ctx_of(target: Target | None = None, facts: Facts | None = None, **settings: Any) -> Context:
    s = Settings(**settings)
    ctx = Context(s, target or Made(s), network=Net())
    if facts is not None:
        ctx._values["facts"] = facts
    return ctx


def facts(**over: Any) -> Facts:
    base = dict(pid_alive=True, fds=10, nofile_soft=100, cores=2, mem_usage=10, mem_limit=100,
                mem_working_set=10, mem_failcnt=0, cpu_limit_cores=1.0, cpu_used_cores=0.1,
                disks=[Disk("/", 1000, 100, 900, "/", 100, 10)], missing_paths=[])
    base.update(over)
    return Facts(**base)


# --- resources: the thresholds are inclusive -----------------------------------------------------
@pytest.mark.parametrize(("used", "outcome"), [(0.9, Outcome.FAIL), (0.89, Outcome.PASS)])
def test_cpu_threshold_is_reached_at_its_value(used, outcome):
    assert resources.cpu(ctx_of(facts=facts(cpu_used_cores=used))).outcome is outcome


@pytest.mark.parametrize(("ws", "outcome"), [(90, Outcome.FAIL), (89, Outcome.PASS)])
def test_memory_threshold_is_reached_at_its_value(ws, outcome):
    assert resources.memory(ctx_of(facts=facts(mem_working_set=ws))).outcome is outcome


@pytest.mark.parametrize(("fds", "outcome"), [(90, Outcome.FAIL), (89, Outcome.PASS)])
def test_fd_threshold_is_reached_at_its_value(fds, outcome):
    assert resources.fds(ctx_of(facts=facts(fds=fds))).outcome is outcome


@pytest.mark.parametrize(("used_kb", "avail_kb", "inode_ratio", "outcome", "word"), [
    (95_000, 5_000, 0.1, Outcome.FAIL, "is full"), (94_000, 6_000, 0.1, Outcome.PASS, ""),
    (10, 1023, 0.1, Outcome.FAIL, "is full"), (10, 1024, 0.1, Outcome.PASS, ""),
    (10, 50_000, 0.95, Outcome.FAIL, "out of inodes"), (10, 50_000, 0.94, Outcome.PASS, ""),
])
def test_disk_full_and_inode_rules(used_kb, avail_kb, inode_ratio, outcome, word):
    disk = Disk("/var/lib/qbitel", 100_000, used_kb, avail_kb, "/data", 1000, int(inode_ratio * 1000))
    f = resources.disk(ctx_of(facts=facts(disks=[disk])))
    assert f.outcome is outcome and word in f.message


def test_resource_checks_skip_when_nothing_runs_there_or_the_process_is_gone():
    ctx = ctx_of()
    ctx._values["facts"] = None
    assert resources.cpu(ctx).outcome is Outcome.SKIP
    assert "is gone" in resources.memory(ctx_of(facts=facts(pid_alive=False))).message
    assert resources.cpu(ctx_of(facts=facts(cpu_used_cores=None))).outcome is Outcome.SKIP
    assert resources.memory(ctx_of(facts=facts(mem_limit=None))).outcome is Outcome.PASS
    assert resources.fds(ctx_of(facts=facts(nofile_soft=None))).outcome is Outcome.SKIP
    assert resources.disk(ctx_of(facts=facts(disks=[]))).outcome is Outcome.SKIP


# --- running: restarts, exit codes, OOM ----------------------------------------------------------
def st(**over: Any) -> ServiceState:
    base = dict(exists=True, running=True, status="running", restart_count=0, uptime_s=1000.0)
    base.update(over)
    return ServiceState(**base)


def on(state: ServiceState) -> Context:
    s = Settings()
    return ctx_of(Made(s, state))


K = 1_799_999_000.0  # an epoch inside the made target's window


@pytest.mark.parametrize(("state", "outcome", "words"), [
    (st(how=states.CRASH_LOOPING, how_detail="3 exits within 60 s"), Outcome.FAIL, "3 exits within"),
    (st(restarting=True, restart_count=3), Outcome.FAIL, "restarting now"),
    (st(exits=[Exit(K, 1)], how_detail="running again"), Outcome.FAIL, "exited 1 time(s)"),
    (st(exits=[Exit(K, 1), Exit(K + 5, 139)]), Outcome.FAIL, "exited 2 time(s)"),
    (st(exits=[Exit(K, 137, requested="docker kill")]), Outcome.PASS, "no recent restarts"),
    (st(exits=[Exit(K, 0)]), Outcome.PASS, "no recent restarts"),
    (st(exits=[Exit(K, None)]), Outcome.PASS, "no recent restarts"),
    (st(exists=False), Outcome.SKIP, "does not exist"),
])
def test_restart_loop_rule(state, outcome, words):
    f = running.restarts(on(state))
    assert f.outcome is outcome and words in f.message


KILL9 = Exit(K, 137)


def test_exit_137_without_a_recorded_oom_kill_says_not_the_oom_killer():
    killed = dict(running=False, status="exited", oom_killed=False, last_exit=KILL9)
    assert "not the OOM killer" in running.exit_code(on(st(**killed))).message
    for other in (dict(oom_killed=None), dict(oom_killed=True), dict(last_exit=Exit(K, 137, oom=True)),
                  dict(events=["events unavailable: no socket"])):
        msg = running.exit_code(on(st(**{**killed, **other}))).message
        assert "not the OOM killer" not in msg and "OOM killer or kill -9" in msg, other
    assert "OOM" not in running.exit_code(on(st(**{**killed, "last_exit": Exit(K, 139)}))).message


@pytest.mark.parametrize(("over", "outcome", "words"), [
    (dict(), Outcome.PASS, "no exit recorded"),
    (dict(running=False), Outcome.PASS, "not running, no exit recorded"),
    (dict(running=False, last_exit=Exit(K, 0)), Outcome.PASS, "last exit code 0"),
    (dict(running=False, last_exit=Exit(K, 143, requested="docker stop")), Outcome.PASS, "on request"),
    (dict(running=False, last_exit=Exit(K, 137, requested="docker kill")), Outcome.PASS, "on request"),
    (dict(running=False, last_exit=Exit(K, 1, requested="docker kill")), Outcome.FAIL, "exit code 1"),
    (dict(running=False, last_exit=Exit(K, 1)), Outcome.FAIL, "exited with an error"),
    (dict(running=False, last_exit=Exit(K, 139)), Outcome.FAIL, "segmentation fault"),
    (dict(running=False, last_exit=Exit(K, 143)), Outcome.FAIL, "last exit code 143 at"),
    (dict(running=False, last_exit=Exit(K, 1), result="exit-code"), Outcome.FAIL, "result exit-code"),
])
def test_exit_code_rule(over, outcome, words):
    f = running.exit_code(on(st(**over)))
    assert f.outcome is outcome and words in f.message


@pytest.mark.parametrize(("over", "outcome"), [
    (dict(oom_killed=True), Outcome.FAIL), (dict(oom_events=1, oom_killed=False), Outcome.FAIL),
    (dict(oom_killed=None), Outcome.SKIP), (dict(oom_killed=False), Outcome.PASS),
])
def test_oom_rule(over, outcome):
    assert running.oom_killed(on(st(**over))).outcome is outcome


@pytest.mark.parametrize(("over", "outcome", "words"), [
    (dict(exists=False), Outcome.FAIL, "does not exist"),
    (dict(restarting=True, restart_count=4), Outcome.FAIL, "not running: status"),
    (dict(how=states.STOPPED, how_detail="stopped on request (docker stop)"), Outcome.FAIL, "stopped on"),
    (dict(running=False, status="exited", exit_code=3), Outcome.FAIL, "last exit code 3"),
    (dict(), Outcome.PASS, "running"),
])
def test_state_rule(over, outcome, words):
    f = running.state(on(st(**over)))
    assert f.outcome is outcome and words in f.message


@pytest.mark.parametrize(("health", "outcome"), [
    ("healthy", Outcome.PASS), ("starting", Outcome.FAIL), ("unhealthy", Outcome.FAIL), (None, Outcome.SKIP)])
def test_platform_health_rule(health, outcome):
    assert running.platform_health(on(st(health=health))).outcome is outcome


# --- database ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("used", "outcome"), [(36, Outcome.FAIL), (35, Outcome.PASS)])
def test_connections_threshold(used, outcome):
    s = Settings()
    t = Made(s, run={"db:psql": CommandResult(0, f"{used} 40 3\n")})
    assert database.connections(ctx_of(t)).outcome is outcome


def test_connections_refused_is_exhaustion():
    s = Settings()
    t = Made(s, run={"db:psql": CommandResult(2, "", "FATAL:  sorry, too many clients already")})
    f = database.connections(ctx_of(t))
    assert f.outcome is Outcome.FAIL and "refuses new connections" in f.message


@pytest.mark.parametrize(("rc", "outcome", "words"), [
    (0, Outcome.PASS, "pg_isready"), (1, Outcome.FAIL, "rejecting"), (2, Outcome.FAIL, "no response"),
    (3, Outcome.FAIL, "no attempt")])
def test_pg_isready_codes(rc, outcome, words):
    s = Settings()
    t = Made(s, run={"db:pg_isready": CommandResult(rc, "")})
    f = database.ready(ctx_of(t))
    assert f.outcome is outcome and words in f.message


# --- triage: entry and verdict rules ---------------------------------------------------------------
def R(cid: str, outcome: Outcome = Outcome.FAIL, message: str = "m", **ev: Any) -> CheckResult:
    return CheckResult(cid, "x", outcome, message, ev)


def test_a_cause_with_only_passing_signals_is_never_ranked():
    only_pass = Cause("p", "database", "P", ("cause-3",), (passed("x.ok", 5), fail("x.other", 1)), (), ())
    results = [R("x.ok", Outcome.PASS), R("x.unrelated")]
    assert triage(results, (only_pass,)).causes == []
    assert [c.id for c in triage(results + [R("x.other")], (only_pass,)).causes] == ["p"]


def test_a_cause_with_a_failing_signal_of_negative_weight_only_is_never_ranked():
    against = Cause("n", "database", "N", ("cause-3",), (passed("x.ok", 5), fail("x.bad", -1)), (), ())
    assert triage([R("x.ok", Outcome.PASS), R("x.bad")], (against,)).causes == []


@pytest.mark.parametrize(("status", "expected"), [
    (500, "down"), (599, "down"), (499, "degraded"), (200, "degraded"), (None, "down")])
def test_http_5xx_on_health_is_down(status, expected):
    assert verdict([R("health.endpoint", status=status)]) == expected


def test_a_failing_probe_other_than_health_is_degraded():
    assert verdict([R("health.live", status=500)]) == "degraded"
    assert verdict([R("running.state")]) == "down"
    assert verdict([R("running.exists")]) == "down"
    assert verdict([R("health.endpoint", Outcome.ERROR, status=500)]) == "healthy"


# --- the chaos runner's detection: only the expected cause on top counts ---------------------------
def _observe_with(tops: list[str]):
    import time as _t

    from servicedown.chaos.runner import Observation
    from servicedown.model import RankedCause, Triage

    seq = iter(tops)

    def observe(only=None):
        top = next(seq, tops[-1])
        causes = [RankedCause(top, "x", top, 3.0, [], [])] if top else []
        results = [R("database.ready")]
        return Observation(results, Triage("down", causes, results), _t.monotonic())

    return observe


@pytest.mark.parametrize(("tops", "detected", "cause"), [
    (["db-network", "db-network"], False, "db-network"),
    (["db-network", "db-down"], True, "db-down"),
    ([""], False, None),
])
def test_chaos_detection_needs_the_expected_cause_on_top(tops, detected, cause):
    import time as _t

    from servicedown.chaos.experiments import BY_ID
    from servicedown.chaos.journal import Journal
    from servicedown.chaos.results import ExperimentResult
    from servicedown.chaos.runner import Bounds, Runner

    runner = Runner(stack=None, journal=Journal(None), bounds=Bounds(detect_s=0.5, settle_s=0.0, pause_s=0.0))
    runner.observe = _observe_with(tops)
    exp = BY_ID["db-down"]
    res = ExperimentResult(exp.id, exp.cause)
    runner._detect(exp, res, _t.monotonic())
    assert res.detected is detected
    assert res.detected_cause == cause


# --- where the database is: flags, the engine's environment, its /health ---------------------------
def _health(body: Any) -> Net:
    return Net({"/health": HttpAnswer("http://localhost:8000/health", 200, body)})


def _db_ctx(env: dict[str, str] | None, net: Net | None = None, **settings: Any) -> Context:
    s = Settings(**settings)
    return Context(s, Made(s, env=env), network=net or Net())


def test_the_database_comes_from_flags_first():
    db = database.database(_db_ctx({"DATABASE_HOST": "db", "DATABASE_PORT": "6543"},
                                    db_host="flag.host", db_port=7000))
    assert (db.host, db.port, db.source) == ("flag.host", 7000, "flag")


def test_then_from_the_engines_environment():
    db = database.database(_db_ctx({"DATABASE_HOST": "db", "DATABASE_PORT": "6543",
                                    "DATABASE_USER": "app", "DATABASE_NAME": "shop"}))
    assert (db.host, db.port, db.source, db.user, db.name) == ("db", 6543, "engine", "app", "shop")
    bad_port = database.database(_db_ctx({"DATABASE_HOST": "db", "DATABASE_PORT": "x"}))
    assert (bad_port.host, bad_port.port) == ("db", 5432)


def test_then_from_the_engines_health_report():
    body = {"checks": [{"component": "cache", "details": {"host": "redis", "port": 6379}},
                       {"component": "Database", "details": {"database_host": "pg.internal",
                                                             "database_port": "5433"}}]}
    db = database.database(_db_ctx(None, _health(body)))
    assert (db.host, db.port, db.source) == ("pg.internal", 5433, "health")


@pytest.mark.parametrize(("body", "found"), [
    ({"checks": [{"component": "db", "details": {"host": "h"}}]}, ("h", 5432)),
    ({"checks": [{"component": "postgres", "details": {"host": "h", "port": "nope"}}]}, ("h", 5432)),
    ({"checks": [{"component": "database", "details": {"host": ""}}]}, None),
    ({"checks": [{"component": "database", "details": "flat"}]}, None),
    ({"checks": {"database": {"host": "h"}}}, None),
    ({"checks": ["database"]}, None),
    (["not", "a", "dict"], None),
    (None, None),
])
def test_health_report_shapes(body, found):
    assert database._from_health(_db_ctx(None, _health(body))) == found


def test_nothing_known_is_the_defaults():
    db = database.database(_db_ctx(None))
    assert (db.host, db.port, db.source) == ("localhost", 5432, "default")


# --- how an HTTP answer is put in words ----------------------------------------------------------
def _answer(status=200, body=None, text="", headers=None, error="") -> HttpAnswer:
    return HttpAnswer("http://h:8000/health", status, body, text, 0.25, error, headers or {})


@pytest.mark.parametrize(("answer", "exact"), [
    (_answer(None, error="connection refused"),
     "GET http://h:8000/health: no answer (connection refused) after 0.25s"),
    (_answer(200, {"status": "healthy"}), "GET http://h:8000/health: HTTP 200 in 0.25s, status 'healthy'"),
    (_answer(500, None, text="Internal Server Error"),
     "GET http://h:8000/health: HTTP 500 in 0.25s, body is not JSON: 'Internal Server Error'"),
    (_answer(502, None), "GET http://h:8000/health: HTTP 502 in 0.25s, body is not JSON (empty)"),
    (_answer(503, {"status": "unhealthy", "checks": [
        {"component": "database", "status": "fail", "details": "refused"},
        {"component": "disk", "status": "pass"}]}, headers={"retry-after": "30"}),
     "GET http://h:8000/health: HTTP 503 in 0.25s, status 'unhealthy', failing: database: fail "
     "(refused), Retry-After 30"),
    (_answer(404, {"detail": "Not Found"}),
     "GET http://h:8000/health: HTTP 404 in 0.25s, detail: Not Found"),
])
def test_an_answer_in_words(answer, exact):
    from servicedown.diagnosis import health
    from servicedown.redact import Redactor

    assert health._explain(answer, Redactor()) == exact


@pytest.mark.parametrize(("body", "failing"), [
    ({"checks": {"db": {"status": "FAIL", "message": "timeout"}, "cache": {"status": "ok"}}},
     ["db: fail (timeout)"]),
    ({"checks": [{"status": "degraded"}]}, ["?: degraded"]),
    ({"checks": [{"component": "x", "status": ""}, "junk"]}, []),
    ({"checks": "none"}, []),
    ("text", []),
])
def test_failed_components_of_both_shapes(body, failing):
    from servicedown.diagnosis.health import failed_components

    assert failed_components(body) == failing


def test_an_answer_in_words_is_clipped_and_masked_with_the_services_secrets():
    from servicedown.diagnosis import health
    from servicedown.redact import ELLIPSIS, MASK, Redactor

    secret = "Zq8-wN3-pR5-tL1"
    red = Redactor([secret])
    text = "t " * 60 + "u"  # 121 characters: cut to 120
    assert health._explain(_answer(500, None, text=text), red) == (
        f"GET http://h:8000/health: HTTP 500 in 0.25s, body is not JSON: "
        f"{('t ' * 60).rstrip() + ELLIPSIS!r}")
    detail = "d " * 100 + "e"  # 201 characters: cut to 200
    assert health._explain(_answer(404, {"detail": detail}), red) == (
        f"GET http://h:8000/health: HTTP 404 in 0.25s, detail: {('d ' * 100).rstrip()}{ELLIPSIS}")
    body = {"status": "unhealthy", "checks": [{"component": "db", "status": "fail",
                                               "details": f"login {secret} refused"}]}
    assert health._explain(_answer(503, body), red) == (
        f"GET http://h:8000/health: HTTP 503 in 0.25s, status 'unhealthy', failing: db: fail "
        f"(login {MASK} refused)")


def test_memory_in_words_with_and_without_a_limit_or_a_reading():
    mib = 2**20
    f = resources.memory(ctx_of(facts=facts(mem_working_set=300 * mib, mem_limit=1024 * mib)))
    assert f.message == "memory 300 MiB of its 1024 MiB limit (29%)"
    assert resources.memory(ctx_of(facts=facts(mem_working_set=300 * mib, mem_limit=None))).message \
        == "memory 300 MiB with no memory limit set"
    assert resources.memory(ctx_of(facts=facts(mem_working_set=None, mem_limit=None))).message \
        == "memory ? with no memory limit set"


def test_unreadable_resource_facts_say_why_in_at_most_200_characters():
    why = "f " * 100 + "g"  # 201 characters
    s = Settings()
    ctx = Context(s, Made(s, run={"sh": CommandResult(1, "", why)}), network=Net())
    with pytest.raises(RuntimeError) as info:
        ctx.host_facts()
    from servicedown.redact import ELLIPSIS

    assert str(info.value) == f"reading resource facts failed (rc=1): {('f ' * 100).rstrip()}{ELLIPSIS}"


def test_resource_facts_of_a_process_gone_mid_read_are_still_read():
    s = Settings()
    ctx = Context(s, Made(s, run={"sh": CommandResult(1, "pid_alive=0\n", "kill: no such process")}),
                  network=Net())
    got = ctx.host_facts()
    assert got is not None and got.pid_alive is False
