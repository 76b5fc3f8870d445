"""What the runner makes of each check: the outcome an exception stands for, the platform's time
stamped on the answer, the bound on a check that does not end, and whose context it closes."""

from __future__ import annotations

import threading
import time

import pytest

from servicedown.backends.command import BackendError
from servicedown.config import Settings
from servicedown.diagnosis import runner
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.registry import CANNOT_TELL, NOT_APPLICABLE, CheckSpec, Finding, ok
from servicedown.model import CheckResult, Outcome
from servicedown.redact import MASK
from servicedown.targets.base import NotPresent, NotSupported
from tests.fakes import FakeTarget

NOW = 1_800_000_000.0
SECRET = "kT9-vQ2-zP7-mW4-xR8-nL3"  # the service's JWT secret: known to the run's redactor only


class Clocked(FakeTarget):
    """A running service whose platform clock reads NOW."""

    def now(self) -> float:
        return NOW


class NoClock(FakeTarget):
    """A platform whose clock cannot be read (its backend is gone)."""

    def now(self) -> float:
        raise BackendError("the platform is gone")


class Net:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def _ctx(target: FakeTarget | None = None, **settings: float) -> Context:
    s = Settings(target="url", **settings)
    return Context(s, target or Clocked({"JWT_SECRET": SECRET}, settings=s), network=Net())


def _spec(func, id: str = "made.check", runbook: str = "step:made") -> CheckSpec:  # type: ignore[no-untyped-def]
    return CheckSpec(id, runbook, "a made-up check", func)


def _raises(exc: BaseException):  # type: ignore[no-untyped-def]
    def func(ctx: Context) -> Finding:
        raise exc

    return func


@pytest.mark.parametrize("exc, outcome, evidence", [
    (NotPresent("no container qbitel-engine"), Outcome.SKIP, {"skipped": NOT_APPLICABLE}),
    (NotSupported("a url target has no logs"), Outcome.SKIP, {"skipped": CANNOT_TELL}),
    (BackendError("no Docker socket at /var/run/docker.sock"), Outcome.ERROR, {}),
])
def test_what_each_exception_of_a_check_stands_for(exc, outcome, evidence):
    r = runner._one(_spec(_raises(exc)), _ctx())
    assert (r.id, r.runbook, r.outcome, r.message, r.evidence, r.at) == (
        "made.check", "step:made", outcome, str(exc), evidence, NOW)


def test_a_broken_check_says_its_error_in_one_masked_line_of_at_most_300_characters():
    r = runner._one(_spec(_raises(ValueError(f"bad token {SECRET}"))), _ctx())
    assert (r.outcome, r.message, r.evidence) == (Outcome.ERROR, f"ValueError: bad token {MASK}", {})
    # 301 characters in all: one more than the bound, cut at the last word.
    words = " ".join(["word"] * 58)  # 289 characters
    long = runner._one(_spec(_raises(ValueError(words))), _ctx())
    assert len("ValueError: " + words) == 301
    assert len(long.message) <= 300 and long.message.startswith("ValueError: word word")
    assert long.message != "ValueError: " + words
    exact = runner._one(_spec(_raises(ValueError(words[:-1]))), _ctx())
    assert exact.message == "ValueError: " + words[:-1]


def test_the_answer_carries_the_platforms_time_and_how_long_the_check_took():
    def slow(ctx: Context) -> Finding:
        time.sleep(0.2)
        return ok("fine", seen=1)

    r = runner._one(_spec(slow), _ctx())
    assert r == CheckResult("made.check", "step:made", Outcome.PASS, "fine", {"seen": 1},
                            r.duration_s, NOW)
    assert 0.2 <= r.duration_s < 5
    gone = runner._one(_spec(lambda ctx: ok("fine")), _ctx(NoClock()))
    assert gone.outcome is Outcome.PASS and gone.at is None


def _only(monkeypatch: pytest.MonkeyPatch, *specs: CheckSpec) -> None:
    monkeypatch.setattr(runner, "all_checks", lambda: {s.id: s for s in specs})


def test_a_check_that_does_not_end_is_an_error_at_the_bound_and_does_not_hold_the_run(monkeypatch):
    release = threading.Event()

    def stuck(ctx: Context) -> Finding:
        release.wait(6)
        return ok("late")

    _only(monkeypatch, _spec(lambda ctx: ok("quick"), "a.quick", "step:a"),
          _spec(stuck, "b.stuck", "step:b"))
    ctx = _ctx(check_timeout_s=0.75, cpu_sample_s=0.25)
    start = time.monotonic()
    try:
        got = runner.run_checks(ctx.settings, ctx.target, ctx=ctx)
        took = time.monotonic() - start
    finally:
        release.set()
    assert [r.id for r in got] == ["a.quick", "b.stuck"]
    assert got[0].outcome is Outcome.PASS and got[0].message == "quick"
    # The bound is the check timeout plus the CPU sample (1 s).
    assert got[1] == CheckResult("b.stuck", "step:b", Outcome.ERROR, "did not finish within 1s", {}, 1.0)
    assert 1.0 <= took < 5.5  # neither waited for the stuck check (6 s) nor for its thread


def test_only_the_named_checks_run_and_results_are_masked(monkeypatch):
    def leaky(ctx: Context) -> Finding:
        return Finding(Outcome.FAIL, f"saw {SECRET}", {"token": f"jwt={SECRET}"})

    _only(monkeypatch, _spec(lambda ctx: ok("one"), "a.one"), _spec(leaky, "b.leaky"),
          _spec(lambda ctx: ok("three"), "c.three"))
    ctx = _ctx()
    got = runner.run_checks(ctx.settings, ctx.target, only=["b.leaky", "c.three"], ctx=ctx)
    assert [r.id for r in got] == ["b.leaky", "c.three"]
    assert SECRET not in got[0].message and SECRET not in str(got[0].evidence)
    assert got[0].message == f"saw {MASK}"


def test_the_runner_closes_the_context_it_made_and_only_that_one(monkeypatch):
    made: list[Context] = []

    class Recording(Context):
        def __init__(self, settings, target):  # type: ignore[no-untyped-def]
            super().__init__(settings, target, network=Net())
            made.append(self)

    def where(ctx: Context) -> Finding:
        return ok(ctx.target.describe(), at=ctx.target.now())

    _only(monkeypatch, _spec(where))
    monkeypatch.setattr(runner, "Context", Recording)
    s = Settings(target="url")
    got = runner.run_checks(s, Clocked(settings=s))
    assert (got[0].outcome, got[0].message, got[0].evidence) == (Outcome.PASS, "fake", {"at": NOW})
    assert len(made) == 1 and made[0].network.closed == 1
    given = _ctx()
    runner.run_checks(given.settings, given.target, ctx=given)
    assert given.network.closed == 0 and len(made) == 1
