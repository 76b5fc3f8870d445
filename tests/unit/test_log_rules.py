"""The logs checks' rules about time and state, on a made-up platform: when matching lines of
the current run are a blip that healed, when a restart loop is still going on, when a traceback
is not crash evidence, and how earlier runs' lines are told as history."""

from __future__ import annotations

import pytest

from servicedown import states
from servicedown.backends.command import CommandResult
from servicedown.backends.http import HttpAnswer
from servicedown.config import Settings
from servicedown.diagnosis import logs
from servicedown.diagnosis.context import Context
from servicedown.probes.logscan import Match
from servicedown.states import Exit, clock
from servicedown.targets.base import CURRENT, EARLIER, LogLine, NotSupported, ServiceState
from tests.fakes import FakeNetwork, FakeTarget

NOW = 1_800_000_000.0
HEALTHY = HttpAnswer("http://engine:8000/health", 200, {"status": "healthy"})
UNHEALTHY = HttpAnswer("http://engine:8000/health", 503, {"status": "unhealthy"})
RUNNING = ServiceState(exists=True, running=True, status="running", how=states.RUNNING)


class Platform(FakeTarget):
    """A platform whose state (or its failure to say) and clock the test sets."""

    def __init__(self, st: ServiceState | None) -> None:
        super().__init__(settings=Settings(target="url", base_url="http://engine:8000"),
                         state_error=None if st is not None else RuntimeError("no platform"))
        self.st = st

    def state(self) -> ServiceState:
        if self.st is None:
            raise RuntimeError("no platform state")
        return self.st

    def now(self) -> float:
        return NOW


def ctx_of(st: ServiceState | None = RUNNING, health: HttpAnswer = HEALTHY) -> Context:
    t = Platform(st)
    return Context(t.settings, t, network=FakeNetwork(health))


def at(*ago: float | None) -> list[Match]:
    return [Match(i + 1, f"ERROR line {i + 1}", None if a is None else NOW - a, CURRENT)
            for i, a in enumerate(ago)]


@pytest.mark.parametrize("ago, healed", [(61.0, True), (60.0, True), (59.9, False)])
def test_lines_quiet_for_a_minute_while_it_serves_are_healed(ago, healed):
    got = logs._healed(ctx_of(), "logs.stack_trace", at(ago + 30, ago))
    expected = f"2 matching line(s) until {clock(NOW - ago)}, none since (it serves again)"
    assert got == (expected if healed else "")


def test_quiet_lines_are_not_healed_while_it_does_not_serve():
    assert logs._healed(ctx_of(health=UNHEALTHY), "logs.oom", at(300)) == ""
    assert logs._healed(ctx_of(st=None), "logs.oom", at(300)) == ""


def test_lines_without_a_time_are_never_healed():
    assert logs._healed(ctx_of(), "logs.oom", at(300, None)) == ""
    assert logs._healed(ctx_of(), "logs.oom", at(None)) == ""
    assert logs._healed(ctx_of(), "logs.oom", []) == ""


def test_database_errors_heal_at_once_only_when_the_database_takes_the_engines_login(monkeypatch):
    monkeypatch.setattr(logs, "answers_the_engine", lambda ctx: True)
    assert logs._healed(ctx_of(), logs.DB_ERROR, at(5)) == (
        f"1 matching line(s) until {clock(NOW - 5)}, none since: the database takes the engine's "
        "login again and it serves")
    # Other families wait their quiet minute whatever the database says.
    assert logs._healed(ctx_of(), "logs.stack_trace", at(5)) == ""
    monkeypatch.setattr(logs, "answers_the_engine", lambda ctx: False)
    assert logs._healed(ctx_of(), logs.DB_ERROR, at(5)) == ""
    assert logs._healed(ctx_of(), logs.DB_ERROR, at(61)).endswith("none since (it serves again)")


def _st(**over: object) -> ServiceState:
    return ServiceState(**{"exists": True, "running": True, "status": "running",
                           "how": states.RUNNING, **over})  # type: ignore[arg-type]


EXITED = Exit(NOW - 40, 1)


@pytest.mark.parametrize("st, health, goes_on", [
    (_st(how=states.CRASH_LOOPING), HEALTHY, True),
    (_st(restarting=True), HEALTHY, True),
    (_st(how=states.STARTING, last_exit=EXITED), UNHEALTHY, True),
    (_st(how=states.STARTING), UNHEALTHY, False),  # a first start, no exit before it
    (_st(how=states.RUNNING, last_exit=EXITED), UNHEALTHY, False),
    (None, UNHEALTHY, False),  # no platform to say
])
def test_a_restart_loop_goes_on(st, health, goes_on):
    assert logs._loop_goes_on(ctx_of(st, health)) is goes_on


@pytest.mark.parametrize("st, health, excuse", [
    (RUNNING, HEALTHY, "the process runs and /health is healthy"),
    (None, HEALTHY, "/health is healthy"),
    (RUNNING, UNHEALTHY, ""),
    (None, UNHEALTHY, ""),
    (_st(exists=True, running=False, status="exited"), HEALTHY, ""),
    (_st(exists=False, running=False, status="missing"), HEALTHY, ""),
])
def test_a_traceback_is_excused_only_while_it_serves(st, health, excuse):
    assert logs._serving_fine(ctx_of(st, health)) == excuse


def test_earlier_runs_are_history_with_the_time_of_the_last():
    before = [Match(1, "a", NOW - 500, EARLIER), Match(2, "b", NOW - 400, EARLIER),
              Match(3, "c", None, EARLIER)]
    assert logs._history(before[:2]) == (f"earlier runs: 2 matching line(s), the last at "
                                         f"{clock(NOW - 400)}, none since the last start")
    assert logs._history(before) == "earlier runs: 3 matching line(s), none since the last start"
    assert logs._history([]) == ""


@pytest.mark.parametrize("st, serving", [
    (RUNNING, True),
    (_st(how=""), True),  # a platform without words for its states
    (_st(how=states.STARTING), False),
    (_st(running=False, status="exited", how=""), False),
    (_st(exists=False, running=False, status="missing", how=""), False),
    (None, False),  # no platform state: health alone cannot say it settled
])
def test_serving_now_needs_a_settled_running_process_and_health(st, serving):
    assert ctx_of(st).serving_now() is serving
    assert ctx_of(st, UNHEALTHY).serving_now() is False


class Logged(Platform):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(RUNNING)
        self.lines, self.asked = lines, []

    def logs(self, lines: int) -> list[LogLine]:
        self.asked.append(lines)
        return [LogLine(t) for t in self.lines[-lines:]]


NOISE = ["--- Logging error ---", "Traceback (most recent call last):", "  File x", "Arguments: ()"]


def _read(lines: list[str], want: int) -> tuple[list[str], list[int]]:
    t = Logged(lines)
    ctx = Context(Settings(target="url", base_url="http://engine:8000", log_lines=want), t,
                  network=FakeNetwork(HEALTHY))
    return [line.text for line in ctx.raw_logs()], t.asked


def test_noise_does_not_count_against_the_lines_wanted():
    real = [f"INFO {i}" for i in range(3)]
    # Exactly the lines wanted after a noise block: the block is left out.
    assert _read(NOISE + real, 3) == (real, [15])
    # Noise among them: read back to the third real line from the end, the noise kept inside.
    assert _read(["INFO old", *real[:1], *NOISE, *real[1:]], 3)[0] == [*real[:1], *NOISE, *real[1:]]
    # Fewer real lines than wanted: everything read.
    assert _read([*NOISE, "INFO x"], 3)[0] == [*NOISE, "INFO x"]
    assert _read([f"INFO {i}" for i in range(5)], 2) == (["INFO 3", "INFO 4"], [10])
    assert _read([], 2000)[1] == [5000]  # at most MAX_LOG_READ lines are read


def test_the_data_dir_is_the_flag_then_the_engines_own_then_its_default():
    def data_dir(env: dict[str, str] | None, flag: str = "") -> str:
        s = Settings(target="url", data_dir=flag)
        return Context(s, FakeTarget(env, settings=s), network=FakeNetwork(HEALTHY)).data_dir()

    assert data_dir({"QBITEL_DATA_DIR": "/data/q"}, "/flag") == "/flag"
    assert data_dir({"QBITEL_DATA_DIR": "/data/q"}) == "/data/q"
    assert data_dir({"QBITEL_DATA_DIR": ""}) == "/var/lib/qbitel"
    assert data_dir({}) == "/var/lib/qbitel"
    assert data_dir(None) == "/var/lib/qbitel"  # the environment cannot be read
    s = Settings(target="url")
    broken = FakeTarget(settings=s)
    broken.environment = lambda: (_ for _ in ()).throw(RuntimeError("gone"))  # type: ignore[method-assign]
    assert Context(s, broken, network=FakeNetwork(HEALTHY)).data_dir() == "/var/lib/qbitel"


def test_the_context_asks_the_network_with_the_settings_timeout_and_tls_verification():
    s = Settings(target="url", http_timeout_s=2.5, verify_tls=True)
    net = Context(s, FakeTarget(settings=s)).network
    try:
        assert (net.timeout_s, net.verify_tls) == (2.5, True)
    finally:
        net.close()


def test_exits_are_history_once_the_run_since_has_lasted_past_a_start():
    from servicedown.diagnosis import running

    line = "recovered: exit 1 at 20:07"
    settled = _st(uptime_s=states.LOOP_RUN_S, history=[line])
    assert running._history(ctx_of(settled, UNHEALTHY), settled) == line
    young = _st(uptime_s=states.LOOP_RUN_S - 1, history=[line])
    assert running._history(ctx_of(young, UNHEALTHY), young) == ""
    assert running._history(ctx_of(young, HEALTHY), young) == line  # it serves again
    looping = _st(how=states.CRASH_LOOPING, uptime_s=600.0, history=[line])
    assert running._history(ctx_of(looping, UNHEALTHY), looping) == ""


def test_matching_lines_are_masked_with_the_services_own_secrets():
    secret = "Hx4-kP9-qW2-mZ7-vB5"

    class Leaky(Logged):
        def environment(self) -> dict[str, str] | None:
            return {"JWT_SECRET": secret}

    t = Leaky([f"ERROR could not connect to server: Connection refused ({secret})",
               f"OSError: [Errno 28] No space left on device: /data/{secret}"])
    ctx = Context(t.settings, t, network=FakeNetwork(HEALTHY))
    texts = [m.text for ms in ctx.log_hits().values() for m in ms]
    assert texts == ["ERROR could not connect to server: Connection refused (***)",
                     "OSError: [Errno 28] No space left on device: /data/***"]


@pytest.mark.parametrize("st, runs_on", [
    (RUNNING, True),
    (_st(how=""), True),
    (_st(how=states.STARTING), True),
    (_st(how=states.CRASH_LOOPING), False),
    (_st(running=False, status="exited", how=""), False),
    (None, False),
])
def test_the_process_runs_on(st, runs_on):
    assert logs._runs_on(ctx_of(st)) is runs_on


@pytest.mark.parametrize("st, health, words", [
    (_st(uptime_s=12.4), HEALTHY, "started 12s ago, within its 30s start window"),
    (_st(uptime_s=12.0, how=""), HEALTHY, "started 12s ago, within its 30s start window"),
    (_st(uptime_s=29.9, how=states.STARTING), HEALTHY, "started 30s ago, within its 30s start window"),
    (_st(uptime_s=30.0), HEALTHY, ""),
    (_st(uptime_s=None), HEALTHY, ""),
    (_st(uptime_s=10.0), UNHEALTHY, ""),
    (_st(uptime_s=10.0, how=states.CRASH_LOOPING), HEALTHY, ""),
    (_st(uptime_s=10.0, running=False, status="exited"), HEALTHY, ""),
    (None, HEALTHY, ""),
])
def test_a_service_in_its_first_seconds_is_starting(st, health, words):
    from servicedown.diagnosis import health as health_checks

    assert health_checks._starting(ctx_of(st, health)) == words


class Probed(Platform):
    def __init__(self, answer: object) -> None:
        super().__init__(RUNNING)
        self.answer = answer

    def run_in_service(self, argv: list[str], timeout: float):  # type: ignore[no-untyped-def]
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize("answer, takes", [
    (CommandResult(0, "accepting\tPostgreSQL 16", ""), True),
    (CommandResult(2, "accepting\tPostgreSQL 16", ""), False),
    (CommandResult(0, "auth-failed\tpassword authentication failed", ""), False),
    (None, False),
    (NotSupported("no commands on a URL"), False),
])
def test_the_database_takes_the_engines_login(answer, takes):
    from servicedown.diagnosis.database import answers_the_engine

    t = Probed(answer)
    assert answers_the_engine(Context(t.settings, t, network=FakeNetwork(HEALTHY))) is takes


@pytest.mark.parametrize("window_s, words", [(120, "2 min"), (150, "2 min"), (119, "119 s")])
def test_the_event_window_in_words(window_s, words):
    from servicedown.diagnosis import running

    s = Settings(target="url", event_window_s=window_s)
    assert running._window(Context(s, FakeTarget(settings=s), network=FakeNetwork(HEALTHY))) == words


def test_several_exits_are_one_history_line():
    from servicedown.diagnosis import running

    st = _st(uptime_s=600.0, history=["recovered: exit 1 at 20:07", "recovered: exit 137 at 20:09"])
    assert running._history(ctx_of(st, UNHEALTHY), st) == \
        "recovered: exit 1 at 20:07; recovered: exit 137 at 20:09"
