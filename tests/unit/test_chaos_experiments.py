"""The chaos experiment table against the causes table and the check registry."""

from __future__ import annotations

import pytest

from servicedown.causes import CAUSES, cause
from servicedown.chaos.experiments import BASELINES, BY_ID, EXPERIMENTS, MESSY, REMEDIATIONS, select
from servicedown.chaos.faults import FAULTS, FaultError, make_fault
from servicedown.diagnosis.catalog import all_checks

CHECKS = set(all_checks())


def test_ids_are_unique_and_indexed():
    ids = [e.id for e in (*EXPERIMENTS, *MESSY)]
    assert len(ids) == len(set(ids))
    assert set(BY_ID) == set(ids)


@pytest.mark.parametrize("exp", EXPERIMENTS, ids=lambda e: e.id)
def test_each_experiment_names_known_things(exp):
    assert cause(exp.cause).id == exp.cause
    assert exp.fault in FAULTS
    assert exp.remediation in REMEDIATIONS
    assert exp.baseline in BASELINES
    assert exp.expected_fail, "an experiment must say which checks fail"
    unknown = (set(exp.expected_fail) | set(exp.expected_pass)) - CHECKS
    assert not unknown, f"unknown check ids: {unknown}"
    assert not set(exp.expected_fail) & set(exp.expected_pass)


@pytest.mark.parametrize("exp", EXPERIMENTS, ids=lambda e: e.id)
def test_expectations_come_from_the_causes_table_unless_explained(exp):
    c = cause(exp.cause)
    if exp.must_fail is None and exp.must_pass is None:
        assert (exp.expected_fail, exp.expected_pass) == (c.expected_fail, c.expected_pass)
    else:
        assert exp.note, f"{exp.id} overrides the causes table's expectations without a note"


def test_every_runbook_cause_has_an_experiment():
    covered = {e.cause for e in EXPERIMENTS}
    assert {c.id for c in CAUSES if c.in_runbook} <= covered


def test_the_issues_faults_are_all_there():
    # oom, disk-full, db-down (+ wrong password), db-network (+ 3 toxics), pool exhaustion,
    # missing env (+ too short), crash (+ loop), cpu, fd limit, tls (expired, missing key)
    kinds = {(e.fault, e.params.get("type")) for e in EXPERIMENTS}
    for kind in ("memory-hog", "disk-fill", "postgres-stop", "proxy-disabled",
                 "hold-connections", "engine-env", "sigkill", "cpu-hog", "fd-flood",
                 "tls-files"):
        assert any(k == kind for k, _ in kinds), kind
    assert {t for k, t in kinds if k == "toxic"} == {"latency", "reset_peer", "timeout"}


def test_self_healing_is_for_crashes_and_oom():
    assert {e.cause for e in EXPERIMENTS if e.remediation == "self-heal"} == {"crash", "oom"}


def test_select_by_id_and_pattern():
    assert [e.id for e in select(["oom"])] == ["oom"]
    assert {e.id for e in select(["db-network*"])} == {
        "db-network", "db-network-latency", "db-network-reset-peer", "db-network-timeout"}
    assert select([]) == [*EXPERIMENTS, *MESSY]
    assert select(["nothing-like-it"]) == []


def test_faults_are_made_from_data():
    for exp in EXPERIMENTS:
        fault = make_fault(exp.fault, dict(exp.params))
        assert fault.kind == exp.fault
        assert fault.describe().startswith(exp.fault)
    with pytest.raises(FaultError, match="unknown fault kind"):
        make_fault("meteor-strike", {})


@pytest.mark.parametrize("exp", MESSY, ids=lambda e: e.id)
def test_messy_experiments_name_known_things_and_explain_themselves(exp):
    assert exp.fault in FAULTS and exp.remediation in REMEDIATIONS and exp.baseline in BASELINES
    for c in exp.injected:
        assert cause(c).id == c
    assert exp.note, "a messy experiment says what is left for the checks to see"
    assert not (set(exp.expected_fail) | set(exp.expected_pass)) - CHECKS
    assert exp.cause or not exp.also, "several causes, but none expected on top"
    fault = make_fault(exp.fault, dict(exp.params))
    assert fault.describe().startswith(exp.fault)


def test_the_messy_kinds_are_there():
    assert any(e.also for e in MESSY), "a compound incident"
    assert {e.fault for e in MESSY if not e.cause} >= {"healed"}, "stale and recovered incidents"
