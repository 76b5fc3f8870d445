"""An exit the current run has outlived is history, also while something else fails now; and
an earlier run's end whose die event Docker's short buffer lost is read from the container's
own record (a hand-made incident: an OOM kill, `docker start`, then a slow database link)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from servicedown import states
from servicedown.backends.http import HttpAnswer
from servicedown.config import Settings
from servicedown.states import Exit
from servicedown.targets import compose
from servicedown.targets.base import ServiceState
from tests.fakes import FakeNetwork, FakeTarget, results

T0 = 1_796_160_000.0
UNHEALTHY = HttpAnswer(503, 0.05, body={"status": "unhealthy"})


class RanAfterAnOom(FakeTarget):
    def __init__(self, uptime: float, how: str = states.RUNNING) -> None:
        super().__init__(settings=Settings(target="url", base_url="http://engine:8000"))
        self.uptime, self.how = uptime, how

    def state(self) -> ServiceState:
        oom = Exit(T0 - self.uptime - 1, 137, oom=True)
        return ServiceState(exists=True, running=True, status="running", how=self.how,
                            uptime_s=self.uptime, oom_killed=True, oom_events=1, last_exit=oom,
                            exits=[oom], exit_code=137,
                            history=[states.history_line(oom, states.OOM_KILLED, "")])


@pytest.mark.parametrize(("uptime", "history"), [(120.0, True), (20.0, False)])
def test_an_exit_a_minute_long_run_followed_is_history_while_health_fails(uptime, history):
    got = results(RanAfterAnOom(uptime), ["running.oom_killed", "running.exit_code"],
                  FakeNetwork(UNHEALTHY))
    for r in got.values():
        assert (r.outcome.value == "pass") is history, r.message
        assert ("recovered: OOM kill" in r.message) is history


def test_a_loop_is_never_history():
    got = results(RanAfterAnOom(120.0, how=states.CRASH_LOOPING), ["running.oom_killed"],
                  FakeNetwork(UNHEALTHY))
    assert got["running.oom_killed"].outcome.value == "fail"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def container(finished: float, started: float, oom: bool, policy: str = "no") -> dict:
    return {"Id": "c1", "HostConfig": {"RestartPolicy": {"Name": policy}},
            "State": {"Status": "running", "Running": True, "ExitCode": 0, "OOMKilled": oom,
                      "StartedAt": iso(started), "FinishedAt": iso(finished)}}


def test_an_earlier_run_whose_die_event_is_lost_is_read_from_the_container():
    d = container(T0 - 130, T0 - 120, oom=True)
    exits = compose._exits([], [], d, True, since=T0 - 600)
    assert exits == [Exit(T0 - 130, 137, oom=True)]
    how, _, history = compose._how(d["State"], True, False, 120.0, exits, d)
    assert how == states.RUNNING and history[0].startswith("recovered: OOM kill")
    assert "started again since" in history[0]  # policy "no": someone started it


def test_the_kernels_line_marks_a_lost_run_end_as_an_oom_kill():
    exits = compose._exits([], [T0 - 129], container(T0 - 130, T0 - 120, oom=False), True,
                           since=T0 - 600)
    assert exits[0].oom and exits[0].code == 137


@pytest.mark.parametrize(("finished", "started"), [
    (T0 - 7200, T0 - 7100),  # ended before the window
    (-62135596800.0, T0 - 120),  # never ended: Docker's zero time for a first run
])
def test_no_earlier_run_in_the_window_means_no_exit(finished, started):
    assert compose._exits([], [], container(finished, started, oom=True), True, since=T0 - 600) == []


def test_a_run_that_lasted_makes_what_ended_before_it_history():
    oom = Exit(T0 - 400, 137, oom=True, ran_s=30)  # ended a short run
    restart = Exit(T0 - 20, 137, requested="docker stop at ...", ran_s=370)  # after a long one
    since = states.settled_since([oom, restart], T0 - 10, 10.0)
    assert since == T0 - 390
    assert states.split_settled([oom, restart], since) == ([oom], [restart])
    assert states.settled_since([oom], T0 - 10, 10.0) is None  # no run lasted: all of it counts


def test_a_restart_on_request_is_starting_not_stopped():
    d = container(T0 - 11, T0 - 10, oom=False, policy="unless-stopped")
    d["State"]["Health"] = {"Status": "starting"}
    stop = Exit(T0 - 11, 137, requested="docker stop at 20:39:44", ran_s=370)
    how, detail, _ = compose._how(d["State"], True, False, 10.0, [stop], d)
    assert how == states.STARTING and "restarted on request (docker stop" in detail


def test_a_long_start_that_outlived_the_exit_makes_it_history():
    # Up 90 s, still "starting" (its database is down): the exit before it is not this incident.
    got = results(RanAfterAnOom(90.0, how=states.STARTING), ["running.exit_code"], FakeNetwork(UNHEALTHY))
    assert got["running.exit_code"].outcome.value == "pass"
