"""MTTD / MTTR arithmetic, check expectations, verdicts and the results JSON shape."""

from __future__ import annotations

from servicedown.chaos.results import (
    ExperimentResult,
    elapsed,
    expectation_problems,
    judge,
)
from servicedown.chaos.runner import HISTORY_CHECKS, is_recovered, is_steady, recovery_checks
from servicedown.model import CheckResult, Outcome
from servicedown.schema import EXPERIMENT_FIELDS


def r(id: str, outcome: Outcome = Outcome.PASS, message: str = "") -> CheckResult:
    return CheckResult(id, "x", outcome, message)


def test_elapsed_is_end_minus_start_or_unknown():
    assert elapsed(10.0, 12.3456) == 2.346
    assert elapsed(None, 3.0) is None and elapsed(3.0, None) is None
    assert elapsed(5.0, 4.0) is None  # out of order: never a negative time


def test_expectation_problems():
    results = [r("database.ready", Outcome.FAIL, "no response"), r("database.reachable"),
               r("health.endpoint", Outcome.SKIP)]
    assert expectation_problems(results, ["database.ready"], ["database.reachable"]) == []
    problems = expectation_problems(results, ["database.reachable", "logs.db_error"],
                                    ["database.ready", "health.endpoint"])
    assert problems[0].startswith("database.reachable must fail but was pass")
    assert problems[1] == "logs.db_error must fail but was not run"
    assert problems[2].startswith("database.ready must stay green but was fail: no response")
    assert problems[3].startswith("health.endpoint must stay green but was skip")


def passing() -> ExperimentResult:
    return ExperimentResult("db-down", "db-down", steady_state=True, detected=True,
                            recovered=True, reverted=True, toxics_after_revert=[])


def test_judge():
    assert judge(passing()) == "pass"
    assert judge(ExperimentResult("x", "crash")) == "aborted"
    for change in ({"detected": False}, {"recovered": False}, {"writes_lost": 1},
                   {"writes_unverified": 2}, {"reverted": False},
                   {"toxics_after_revert": ["postgres/chaos-latency"]},
                   {"expectation_problems": ["x"]}, {"error": "interrupted"}):
        res = passing()
        for k, v in change.items():
            setattr(res, k, v)
        assert judge(res) == "fail", change


def test_the_json_leads_with_the_reports_fields():
    d = passing().to_json()
    assert list(d)[: len(EXPERIMENT_FIELDS)] == list(EXPERIMENT_FIELDS)
    assert d["mttd_s"] is None and d["writes_lost"] == 0


def test_steady_state_and_recovery():
    assert is_steady([r("health.endpoint"), r("startup.tls", Outcome.SKIP)])
    assert not is_steady([r("health.endpoint"), r("logs.db_error", Outcome.FAIL)])
    assert not is_steady([r("resources.cpu", Outcome.ERROR)])
    # Recovery ignores the checks that report the past, never /health.
    history = [r(c, Outcome.FAIL) for c in HISTORY_CHECKS]
    assert is_recovered([r("health.endpoint"), r("running.state"), *history])
    assert not is_recovered([r("health.endpoint", Outcome.FAIL)])
    assert not is_recovered([r("running.state")])  # /health not even asked
    assert not is_recovered([r("health.endpoint"), r("database.ready", Outcome.ERROR)])
    assert "health.endpoint" in recovery_checks()
    assert not set(recovery_checks()) & HISTORY_CHECKS
