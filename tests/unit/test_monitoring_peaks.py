"""How a monitoring check words a ratio's peak over the event window, at its edges: the exact
threshold, a gap that splits an episode, the engine gone right after (and back long enough, or
not), a database series back below the line; and how Prometheus itself is asked."""

from __future__ import annotations

from typing import Any

import pytest

from servicedown import states
from servicedown.backends.http import HttpAnswer
from servicedown.config import Settings
from servicedown.diagnosis import monitoring
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.registry import CANNOT_TELL, Finding, bad, ok
from servicedown.model import Outcome
from servicedown.probes.promql import Series
from servicedown.states import clock
from servicedown.targets.base import ServiceState
from tests.fakes import FakeTarget

T0 = 1_800_000_000.0
URL = "http://prom.test:9090"
PROM = monitoring.Prom(URL, "2.42.0", T0 - 600, T0, 2.0)
HEALTHY = HttpAnswer("http://engine:8000/health", 200, {"status": "healthy"})
UNHEALTHY = HttpAnswer("http://engine:8000/health", 503, {"status": "unhealthy"})
OF = "its 512 MiB limit"
BASE_EV = {"prometheus": URL, "window_s": 600, "instance": "engine:8000"}


class Engine(FakeTarget):
    """A running engine (whether it serves is /health's answer)."""

    def state(self) -> ServiceState:
        return ServiceState(exists=True, running=True, status="running", how=states.RUNNING)


class Net:
    def __init__(self, health: HttpAnswer = UNHEALTHY, answers: dict[str, HttpAnswer] | None = None) -> None:
        self.health, self.answers, self.asked = health, answers or {}, []

    def get(self, url: str) -> HttpAnswer:
        return self.health

    def get_json(self, url: str, params: dict[str, str], max_bytes: int) -> HttpAnswer:
        self.asked.append((url, params, max_bytes))
        return self.answers.get(url.rsplit("/api/v1/", 1)[-1], HttpAnswer(url, error="refused"))

    def close(self) -> None:
        pass


def ctx_of(net: Net | None = None, **settings: Any) -> Context:
    s = Settings(target="url", base_url="http://engine:8000", **settings)
    return Context(s, Engine(settings=s), network=net or Net())


def series(*points: tuple[float, float]) -> Series:
    return Series({"instance": "engine:8000"}, tuple(points))


def every(start: float, end: float, value: float, step: float = 2.0) -> list[tuple[float, float]]:
    n = round((end - start) / step)
    return [(start + i * step, value) for i in range(n + 1)]


def peak(ratio: Series, ctx: Context | None = None, **kw: Any) -> Finding:
    return monitoring._peak_finding(ctx or ctx_of(), PROM, ratio, 0.9, "memory", OF, **kw)


def test_no_sample_is_cannot_tell_with_the_window():
    f = peak(series(), limit_mib=512)
    assert (f.outcome, f.message) == (Outcome.SKIP, "no memory sample in the last 10 min")
    assert f.evidence == {"skipped": CANNOT_TELL, **BASE_EV, "limit_mib": 512}


def test_below_the_line_says_the_peak_and_now():
    f = peak(series((T0 - 100, 0.5), (T0 - 50, 0.61234), (T0, 0.4)))
    assert (f.outcome, f.message) == (
        Outcome.PASS, "memory peaked at 61% of its 512 MiB limit in the last 10 min, 40% now (below 90%)")
    assert f.evidence == {**BASE_EV, "peak_ratio": 0.612, "peak_at": clock(T0 - 50), "now_ratio": 0.4}
    gone = peak(series((T0 - 100, 0.5)))  # no point at the window's end
    assert gone.message == "memory peaked at 50% of its 512 MiB limit in the last 10 min (below 90%)"
    assert gone.evidence["now_ratio"] is None


def test_at_the_line_now_is_still_there():
    f = peak(series(*every(T0 - 10, T0, 0.9)))
    assert (f.outcome, f.message) == (
        Outcome.FAIL, f"memory reached 90% of {OF} at {clock(T0)} (at or above 90% for 10 s from "
                      f"{clock(T0 - 10)}); still at 90% now")
    assert f.evidence == {**BASE_EV, "peak_ratio": 0.9, "peak_at": clock(T0), "now_ratio": 0.9}


def _gone_at(t: float) -> Series:
    """`up`: 1 until t, then 0."""
    return Series({"instance": "engine:8000"}, tuple(every(T0 - 400, t - 2, 1.0) + every(t, T0, 0.0)))


# Two episodes 6 s apart (more than 2.5 steps): the latest, from T0-244 to T0-200, is told.
EPISODES = series(*every(T0 - 300, T0 - 250, 0.95), *every(T0 - 244, T0 - 200, 0.97))
LINE = (f"memory reached 97% of {OF} at {clock(T0 - 200)} (at or above 90% for 44 s from "
        f"{clock(T0 - 244)})")


def test_the_latest_episode_then_the_engine_stopping_is_told_with_its_time():
    f = peak(EPISODES, exit_of=_gone_at(T0 - 198))
    assert f.outcome is Outcome.FAIL
    assert f.message == (f"{LINE}, then the engine stopped answering Prometheus's scrapes (up = 0) "
                         f"at {clock(T0 - 198)}")
    assert f.evidence == {**BASE_EV, "peak_ratio": 0.97, "peak_at": clock(T0 - 200), "now_ratio": None,
                          "exit_at": clock(T0 - 198)}
    served = peak(EPISODES, ctx_of(Net(HEALTHY)), exit_of=_gone_at(T0 - 198))
    assert (served.outcome, served.message) == (Outcome.PASS, f"{f.message}; recovered since (serving now)")
    assert served.evidence == {**f.evidence, "history": [f.message]}


def test_a_restart_seen_in_the_start_time_alone_is_an_exit_too():
    started = Series({"instance": "engine:8000"}, ((T0 - 300, 1.0), (T0 - 190, 2.0)))
    f = peak(EPISODES, started=started)
    assert f.message == f"{LINE}, then the engine restarted (a new process started) at {clock(T0 - 190)}"


@pytest.mark.parametrize("back_s, recovered", [(30, True), (28, False)])
def test_the_engine_back_up_past_a_start_is_history(back_s, recovered):
    up = Series({"instance": "engine:8000"}, tuple(
        every(T0 - 400, T0 - 200, 1.0) + [(T0 - 198, 0.0)] + every(T0 - 150, T0 - 150 + back_s, 1.0)
        + every(T0 - 150 + back_s + 2, T0, 0.0)))
    f = peak(EPISODES, exit_of=up)
    told = f"{LINE}, then the engine stopped answering Prometheus's scrapes (up = 0) at {clock(T0 - 198)}"
    if recovered:
        assert (f.outcome, f.message) == (
            Outcome.PASS, f"{told}; recovered since (the engine was back up for {back_s} s after)")
        assert f.evidence["history"] == [told]
    else:
        assert (f.outcome, f.message) == (Outcome.FAIL, told)


def test_a_database_series_recovers_by_itself():
    pool = series(*every(T0 - 100, T0 - 60, 0.95), *every(T0 - 58, T0, 0.3))
    f = monitoring._peak_finding(ctx_of(), PROM, pool, 0.9, "connections in use", "max_connections",
                                 engine=False)
    line = (f"connections in use reached 95% of max_connections at {clock(T0 - 60)} (at or above "
            f"90% for 40 s from {clock(T0 - 100)})")
    assert (f.outcome, f.message) == (Outcome.PASS, f"{line}; recovered since (30% now)")
    assert f.evidence["history"] == [line]
    stopped = series(*every(T0 - 100, T0 - 60, 0.95))
    f = monitoring._peak_finding(ctx_of(Net(HEALTHY)), PROM, stopped, 0.9, "connections in use",
                                 "max_connections", engine=False)
    assert (f.outcome, f.message) == (Outcome.FAIL, f"{line}; no sample now")
    assert f.evidence == {**BASE_EV, "peak_ratio": 0.95, "peak_at": clock(T0 - 60), "now_ratio": None}


def test_of_one_finding_per_instance_a_failing_one_then_the_highest_peak():
    low, high, failing = ok("low", peak_ratio=0.5), ok("high", peak_ratio=0.7), bad("f", peak_ratio=0.6)
    def highest(found: list[Finding]) -> Finding:
        return monitoring._highest(found, PROM, "qbitel-engine", "memory series")

    assert highest([low, failing, high]) is failing
    assert highest([low, high]) is high
    assert highest([ok("none"), low]) is low
    none = highest([])
    assert none.outcome is Outcome.SKIP
    assert none.message == f"Prometheus has no memory series of job qbitel-engine in {PROM.window}"
    assert none.evidence["prometheus"] == PROM.shown


def _asked(url: str, answers: dict[str, HttpAnswer], **settings: Any) -> tuple[Any, Net]:
    net = Net(answers=answers)
    return monitoring._prometheus(ctx_of(net, prometheus_url=url, **settings)), net


BUILD = {"status/buildinfo": HttpAnswer("b", 200, {"status": "success", "data": {"version": "2.42.0"}})}


def test_prometheus_is_asked_at_its_base_with_a_bounded_answer_and_points():
    prom, net = _asked(URL + "/", BUILD)
    assert net.asked == [(f"{URL}/api/v1/status/buildinfo", {}, monitoring.MAX_ANSWER)]
    assert (prom.url, prom.version, prom.step, prom.end - prom.start) == (URL, "2.42.0", 1.0, 600)
    wide, _ = _asked(URL, BUILD, event_window_s=2500)
    assert wide.step == 3.0 and wide.window == "the last 42 min"


@pytest.mark.parametrize("answer, why", [
    (HttpAnswer("b", error="connection refused"), "connection refused"),
    (HttpAnswer("b"), "no answer"),
    (HttpAnswer("b", 502, None, "Bad Gateway"), f"HTTP 502 without JSON from {URL}/api/v1/status/buildinfo"),
    (HttpAnswer("b", 200, {"status": "error", "error": "nope"}), f"{URL} does not answer as Prometheus: "),
])
def test_an_unreachable_prometheus_says_why(answer, why):
    f, _ = _asked(URL, {"status/buildinfo": answer})
    assert f.outcome is Outcome.SKIP and f.message.startswith(f"Prometheus unreachable: {URL}: {why}")
    assert len(f.message) > len(f"Prometheus unreachable: {URL}: ")


def test_prometheus_failing_after_its_first_answer_is_an_error():
    prom, _ = _asked(URL, BUILD)
    net = Net(answers={"query_range": HttpAnswer("q", error="timed out")})
    with pytest.raises(RuntimeError) as info:
        monitoring._range(ctx_of(net, prometheus_url=URL), prom, "up")
    assert str(info.value) == "Prometheus stopped answering: timed out"
    assert net.asked[0][1] == {"query": "up", "start": f"{prom.start:.3f}", "end": f"{prom.end:.3f}",
                               "step": "1"}


def test_a_series_without_an_instance_label_and_a_ratio_now_to_three_decimals():
    f = peak(Series({}, ((T0 - 10, 0.5), (T0, 0.41234))))
    assert f.evidence["instance"] == "" and f.evidence["now_ratio"] == 0.412


def test_series_are_grouped_by_target_then_by_metric():
    a_used = Series({"__name__": "used", "instance": "a"}, ())
    a_limit = Series({"__name__": "limit", "instance": "a"}, ())
    b_used = Series({"__name__": "used", "instance": "b"}, ())
    groups = monitoring._instances([a_used, b_used, a_limit])
    assert list(groups.values()) == [{"used": a_used, "limit": a_limit}, {"used": b_used}]


def test_a_prometheus_under_a_path_is_asked_under_it():
    prom, net = _asked("http://proxy.test/PROMX/", BUILD)
    assert net.asked[0][0] == "http://proxy.test/PROMX/api/v1/status/buildinfo"
    assert prom.url == "http://proxy.test/PROMX"
