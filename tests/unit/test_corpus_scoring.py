"""The one reading of a triage JSON that the accuracy figures rest on."""

from __future__ import annotations

import pytest

from servicedown.corpus.scoring import CONFIDENT, read_triage, score, tally


def doc(verdict="down", causes=(), **more):
    return {"verdict": verdict, "causes": [dict(c) for c in causes], **more}


def test_a_file_without_confidence_or_top_cause_fields():
    r = read_triage(doc(causes=[{"id": "db-down", "score": 6}, {"id": "db-network"}]))
    assert (r.top, r.confident, r.inconclusive, r.listed) == ("db-down", True, False,
                                                             ("db-down", "db-network"))


@pytest.mark.parametrize(("fields", "top", "inconclusive"), [
    ({"top_cause": None, "cause_inconclusive": True}, None, True),
    ({"top_cause": None}, None, True),
    ({"headline": "DOWN (cause inconclusive)", "top_cause": "crash"}, None, True),
    ({"inconclusive": True}, None, True),
    ({"top_cause": "db-network"}, "db-network", False),
])
def test_top_cause_and_inconclusive_fields(fields, top, inconclusive):
    r = read_triage(doc(causes=[{"id": "db-down", "confidence": 0.9},
                                {"id": "db-network", "confidence": 0.1}], **fields))
    assert (r.top, r.inconclusive) == (top, inconclusive)


@pytest.mark.parametrize(("confidence", "confident"), [
    (CONFIDENT, True), (CONFIDENT - 0.01, False), (1.0, True), (True, True)])
def test_confident_from_the_top_causes_confidence(confidence, confident):
    r = read_triage(doc(causes=[{"id": "oom", "confidence": confidence}], top_cause="oom"))
    assert r.confident is confident


def test_healthy_names_nothing():
    r = read_triage(doc("healthy", causes=[{"id": "crash"}]))
    assert (r.verdict, r.top, r.inconclusive, r.confident) == ("healthy", None, False, False)


@pytest.mark.parametrize(("label", "causes", "triage", "outcome", "cw"), [
    ("healthy", (), doc("healthy"), "right", False),
    ("healthy", (), doc("degraded", [{"id": "db-down"}]), "wrong", True),
    ("healthy", (), doc("degraded"), "inconclusive", False),
    ("down", ("db-down",), doc("down", [{"id": "db-down"}]), "right", False),
    ("down", ("db-down",), doc("down", [{"id": "crash", "confidence": 0.2}]), "wrong", False),
    ("down", ("db-down",), doc("down", [{"id": "crash", "confidence": 0.9}]), "wrong", True),
    ("down", ("db-down",), doc("down", [{"id": "db-down"}], cause_inconclusive=True), "inconclusive",
     False),
    ("down", (), doc("down", [{"id": "crash"}], top_cause=None), "right", False),
    ("down", (), doc("down", [{"id": "crash"}]), "wrong", True),
    ("down", ("missing-env", "db-down"), doc("down", [{"id": "db-down"}]), "right", False),
])
def test_score(label, causes, triage, outcome, cw):
    s = score("n", "compose", "reference", label, causes, triage)
    assert (s.outcome, s.confident_wrong) == (outcome, cw)


def test_several_causes_must_all_be_listed_and_the_tally_line():
    both = score("a", "compose", "reference", "down", ("missing-env", "db-down"),
                 doc("down", [{"id": "db-down"}, {"id": "missing-env"}]))
    one = score("b", "compose", "reference", "down", ("missing-env", "db-down"),
                doc("down", [{"id": "db-down"}]))
    single = score("c", "url", "reference", "down", ("db-down",), doc("down", [{"id": "crash"}]))
    assert (both.all_listed, one.all_listed, single.all_listed) == (True, False, None)
    t = tally([both, one, single])
    assert (t.compound, t.compound_listed) == (2, 1)
    assert t.line() == "triage accuracy: top-1 67% (2 of 3), confident-wrong 1, inconclusive 0%"
