"""The triage's rules at their edges, on made-up causes: which signals count as support, as
evidence against and as defining; what an inconclusive verdict says would decide; the weight a
hint has in the confidence; and how much of it the summary shows."""

from __future__ import annotations

import pytest

from servicedown.causes import Cause, Signal, fail, passed
from servicedown.diagnosis.registry import CANNOT_TELL, NOT_APPLICABLE
from servicedown.diagnosis.startup import VALIDATION_CMD
from servicedown.model import CheckResult, Outcome
from servicedown.redact import ELLIPSIS
from servicedown.triage import coverage, state_line, summary_text, triage

F, P, S, E = Outcome.FAIL, Outcome.PASS, Outcome.SKIP, Outcome.ERROR


def made(id: str, *signals: Signal) -> Cause:
    return Cause(id, "database", id.upper(), ("cause-3",), signals, (), ())


def R(cid: str, outcome: Outcome = F, message: str = "m", **evidence: object) -> CheckResult:
    return CheckResult(cid, "x", outcome, message, dict(evidence))


def test_a_failing_signal_of_weight_zero_is_no_support():
    c = made("c", fail("x.a", 0), passed("x.b", 2))
    assert triage([R("x.a"), R("x.b", P)], (c,)).causes == []


@pytest.mark.parametrize("weight", [0, 0.5])
def test_only_a_negative_signal_on_the_defining_result_takes_the_definition_away(weight):
    c = made("c", fail("x.a", 3), fail("x.a", weight, when="m"))
    t = triage([R("x.a")], (c,))
    assert not t.inconclusive and t.causes[0].defining
    # Nor is its result quoted as evidence against.
    assert t.causes[0].evidence == ["x.a fail: m"]


def test_evidence_against_is_quoted_as_such():
    c = made("c", fail("x.a", 3), fail("x.b", -1))
    assert triage([R("x.a"), R("x.b", message="no")], (c,)).causes[0].evidence == [
        "x.a fail: m", "against: x.b fail: no"]


def test_a_declared_defining_signal_defines_by_its_weight_sign():
    one = made("one", fail("x.a", 1, defining=True))
    assert triage([R("x.a")], (one,)).causes[0].defining
    zero = made("zero", fail("x.a", 1), fail("x.b", 0, defining=True))
    t = triage([R("x.a"), R("x.b")], (zero,))
    assert t.inconclusive and not t.causes[0].defining


def test_scores_are_rounded_to_three_decimals():
    c = made("c", fail("x.a", 3.123456))
    assert triage([R("x.a")], (c,)).causes[0].score == 3.123


def test_a_hint_counts_half_against_a_proven_cause():
    proven = made("proven", fail("x.a", 3))
    hint = made("hint", fail("x.b", 2))
    t = triage([R("x.a"), R("x.b")], (proven, hint))
    assert [c.id for c in t.causes] == ["proven", "hint"]
    assert t.causes[0].confidence == pytest.approx(3 / (3 + 2 * 0.5))
    assert t.causes[1].confidence == pytest.approx(min(2 / 4, 0.3))


def test_why_a_cause_without_defining_evidence_is_not_first_names_each_defining_check():
    proven = made("proven", fail("x.a", 3))
    long = "the engine's log cannot be read here " + "z" * 84  # 121 characters: cut to 120
    hint = made("hint", fail("x.b", 2), fail("x.gone", 3), fail("x.skip", 1, defining=True),
                fail("x.err", 4), fail("x.zero", 0, defining=True), fail("x.notdef", 1))
    t = triage([R("x.a"), R("x.b"), R("x.skip", S, long), R("x.err", E, "timed out")],
               (proven, hint))
    assert t.causes[1].why_not_first == (
        "no defining evidence: x.gone not run; "
        f"x.skip skip (the engine's log cannot be read here{ELLIPSIS}); x.err error (timed out)")
    bare = made("bare", fail("x.b", 2))
    assert triage([R("x.a"), R("x.b")], (proven, bare)).causes[1].why_not_first == \
        "no defining evidence: none declared"


def test_what_would_decide_names_the_defining_checks_of_the_first_three_candidates():
    # Four hints, none proven; each one's defining check could not run.
    causes = [made(n, fail(f"x.{n}", w), fail(f"d.{n}", 3)) for n, w in
              (("a", 2.9), ("b", 2.8), ("c", 2.7), ("d", 2.6))]
    t = triage([R(f"x.{n}") for n in "abcd"], causes)
    assert t.inconclusive
    assert t.decide == [f"d.{n} would decide {n}: it could not run (not run)" for n in "abc"]


def test_what_would_decide_is_at_most_five_lines():
    causes = [made(n, fail(f"x.{n}", 2), fail(f"d.{n}1", 3), fail(f"d.{n}2", 3)) for n in "abc"]
    t = triage([R(f"x.{n}") for n in "abc"], causes)
    assert t.decide == [f"d.{n}{i} would decide {n}: it could not run (not run)"
                        for n, i in (("a", 1), ("a", 2), ("b", 1), ("b", 2), ("c", 1))]


def test_what_would_decide_says_why_each_check_could_not_and_the_runbook_command():
    long = "y " * 79 + "end"  # 161 characters: cut to 160
    c = made("c", fail("x.a", 2), fail("startup.validation", 3), fail("x.skip", 3),
             fail("x.failed", 3, when="never"), fail("x.other", 1), fail("x.zero", 0, defining=True),
             fail("x.one", 1, defining=True))
    t = triage([R("x.a"), R("startup.validation", E, "docker is gone"), R("x.skip", S, long),
                R("x.failed", F, "not this way", how="x")],
               (c,))
    assert t.decide == [
        f"startup.validation would decide c: it could not run (docker is gone); by hand: `{VALIDATION_CMD}`",
        f"x.skip would decide c: it could not run ({('y ' * 79).rstrip()}{ELLIPSIS})",
        "x.one would decide c: it could not run (not run)",
    ]


def test_when_no_check_could_decide_the_summary_says_to_read_by_hand():
    c = made("c", fail("x.a", 2), fail("x.b", 3, when="never"))
    t = triage([R("x.a"), R("x.b")], (c,))
    assert t.inconclusive
    assert t.decide == ["no check can tell these causes apart on this target: read the logs since "
                        "the last start and the platform's events by hand"]


def test_an_area_whose_every_check_could_not_answer_is_unchecked_with_the_first_ones_why():
    long = "w " * 100 + "x"  # 201 characters
    cov = coverage([R("made.one", S, long), R("made.two", E, "timed out"),
                    R("other.one", S, "no", skipped=NOT_APPLICABLE),
                    R("bare.one", S, "no reason given"),
                    R("told.one", S, "cannot", skipped=CANNOT_TELL), R("told.two", P)])
    assert cov.unchecked == {"made": long[:199].rstrip() + ELLIPSIS, "bare": "no reason given"}
    assert (cov.ran, cov.total) == (1, 6)


def test_no_state_and_no_health_is_no_state_line():
    assert state_line([]) == "" and state_line([R("x.a")]) == ""
    assert triage([]).state == ""


def test_the_summary_shows_six_lines_of_evidence_and_of_history_and_counts_the_rest():
    c = made("c", *(fail(f"x.e{i}", 3 - i / 10) for i in range(9)))
    history = [f"earlier {i}" for i in range(8)]
    results = [R(f"x.e{i}", message=f"e{i}") for i in range(9)]
    results.append(R("x.h", P, "ok", history=history))
    text = summary_text(triage(results, (c,)))
    lines = text.splitlines()
    assert [ln for ln in lines if ln.startswith("  - earlier")] == [f"  - earlier {i}" for i in range(6)]
    shown = [ln for ln in lines if ln.startswith("     - ")]
    assert shown == [f"     - x.e{i} fail: e{i}" for i in range(6)] + ["     - ... 3 more"]


def test_a_recent_exit_while_health_answers_is_not_down_but_what_follows_still_counts():
    from servicedown.triage import verdict

    back = R("running.state", F, "exited 1 at 20:07", running=True)
    health = R("health.endpoint", P, "HTTP 200 healthy")
    assert verdict([back, health]) == "degraded"
    assert verdict([back, health, R("database.ready", F, "no response")]) == "down"
    # Another check passing is not /health answering.
    assert verdict([back, R("logs.oom", P, "none")]) == "down"
    assert verdict([back, R("health.endpoint", F, "HTTP 200, slow", status_code=200)]) == "down"


def test_failures_no_cause_explains_end_the_summary_with_one_line():
    text = summary_text(triage([R("x.made", F, "odd")], (made("c", fail("x.other", 3)),)))
    assert text.splitlines()[-2:] == ["Failed: x.made",
                                      "No runbook cause matches these failures; read each failure above."]
