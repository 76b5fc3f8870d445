import re
from pathlib import Path

import pytest

from servicedown.causes import CATEGORIES, CAUSES, Signal, cause, fail, passed, result_text, state_is
from servicedown.model import CheckResult, Outcome

DOC = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
VOCABULARY = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", DOC, re.MULTILINE))
SECRET_NAMES = ("DATABASE_PASSWORD", "JWT_SECRET", "ENCRYPTION_KEY")
# The runbook's "Common Causes": number of bullets under each heading.
BULLETS = {1: 3, 2: 4, 3: 3, 4: 3}
RESOLUTION_ITEMS = {"resolution-restart", *(f"resolution-{n}" for n in range(1, 6))}


def test_vocabulary_was_read_from_the_architecture_doc():
    assert len(VOCABULARY) >= 29
    assert {"running.exists", "logs.db_error", "database.ready", "startup.tls"} <= VOCABULARY


def test_the_eleven_causes_in_runbook_order_and_categories():
    assert [(c.id, c.category) for c in CAUSES if c.in_runbook] == [
        ("crash", "application-crash"),
        ("oom", "resource-exhaustion"),
        ("cpu", "resource-exhaustion"),
        ("disk-full", "resource-exhaustion"),
        ("fd-limit", "resource-exhaustion"),
        ("db-down", "database"),
        ("db-pool-exhausted", "database"),
        ("db-network", "database"),
        ("config-invalid", "startup-failure"),
        ("missing-env", "startup-failure"),
        ("tls", "startup-failure"),
    ]
    assert list(CATEGORIES) == ["application-crash", "resource-exhaustion", "database",
                                "startup-failure", "not-in-runbook"]
    # The runbook's own causes first; then the situations it has no cause for, named apart.
    assert [c.in_runbook for c in CAUSES] == sorted((c.in_runbook for c in CAUSES), reverse=True)
    assert {c.category for c in CAUSES if not c.in_runbook} == {"not-in-runbook"}
    assert all(c.runbook == () for c in CAUSES if not c.in_runbook)


@pytest.mark.parametrize("c", CAUSES, ids=lambda c: c.id)
def test_every_check_named_is_in_the_vocabulary(c):
    named = {s.check for s in c.signals} | set(c.expected_fail) | set(c.expected_pass)
    assert named - VOCABULARY == set()
    assert not set(c.expected_fail) & set(c.expected_pass)


@pytest.mark.parametrize("c", CAUSES, ids=lambda c: c.id)
def test_every_cause_expects_its_strongest_unconditional_check_to_fail(c):
    positive = [s for s in c.signals if s.outcome is Outcome.FAIL and s.weight > 0]
    plain = [s for s in positive if not s.when and not s.how] or positive
    top = max(s.weight for s in plain)
    assert {s.check for s in plain if s.weight == top} & set(c.expected_fail)


@pytest.mark.parametrize("c", CAUSES, ids=lambda c: c.id)
def test_runbook_items_are_real(c):
    for item in c.runbook:
        m = re.fullmatch(r"cause-(\d)(?:\.(\d))?", item)
        assert m, item
        n, bullet = int(m.group(1)), m.group(2)
        assert n in BULLETS and (bullet is None or 1 <= int(bullet) <= BULLETS[n])
        if bullet is None:  # a whole heading: the cause must sit under it
            assert list(CATEGORIES)[n - 1] == c.category


def test_every_runbook_bullet_and_resolution_step_is_covered():
    items = {i for c in CAUSES for i in c.runbook}
    assert {f"cause-{n}.{b}" for n, k in BULLETS.items() for b in range(1, k + 1)} <= items
    used = {s.runbook for c in CAUSES for s in c.resolution if s.runbook}
    assert used == RESOLUTION_ITEMS


@pytest.mark.parametrize("c", CAUSES, ids=lambda c: c.id)
def test_resolution_never_prints_a_secret(c):
    assert c.resolution_text
    for step in c.resolution_text:
        assert "echo $" not in step
        for name in SECRET_NAMES:
            assert f"${name}" not in step and f"${{{name}}}" not in step


def test_when_patterns_compile_and_weights_are_sane():
    for c in CAUSES:
        for s in c.signals:
            if s.when:
                re.compile(s.when)
            assert s.weight != 0 and abs(s.weight) <= 3


def test_lookup():
    assert cause("db-network").title.startswith("Network")
    with pytest.raises(KeyError, match="known: crash, oom"):
        cause("nope")


def _r(check="running.exit_code", outcome=Outcome.FAIL, message="", **evidence):
    return CheckResult(check, "x", outcome, message, evidence)


def test_signal_matches_check_outcome_and_when():
    s = fail("running.exit_code", 1.5, r"\b137\b")
    assert s.matches(_r(message="last exit code 137 (SIGKILL)"))
    assert not s.matches(_r(message="last exit code 1"))
    assert not s.matches(_r(outcome=Outcome.PASS, message="137"))
    assert not s.matches(_r(check="running.state", message="137"))
    assert passed("database.ready", 2).matches(_r("database.ready", Outcome.PASS))
    assert Signal("database.ready", Outcome.SKIP, 1).matches(_r("database.ready", Outcome.SKIP))


def test_when_reads_text_evidence_but_never_numbers():
    s = fail("running.exit_code", 1, r"\b137\b|oom.kill")
    assert s.matches(_r(message="exited", result="oom-kill"))
    assert s.matches(_r(message="exited", recent_events=["die 137"]))
    assert not s.matches(_r(message="exited", uptime_s=137.0, exit_code=1))
    assert result_text(_r(message="m", a="x", b=["y", 3], c={"d": "z"})) == "m\nx\ny"


def test_when_is_case_insensitive():
    assert fail("logs.db_error", 1, "too.many.clients").matches(
        _r("logs.db_error", message="FATAL: sorry, TOO MANY CLIENTS already"))
    assert fail("logs.db_error", 1, "too.many.clients").matches(
        _r("logs.db_error", message="db_too_many_clients"))


def test_the_signal_builders_pass_every_argument_through():
    assert fail("logs.oom", 2.5, "killed", ("crashed",), True) == Signal(
        "logs.oom", Outcome.FAIL, 2.5, "killed", ("crashed",), True)
    assert passed("health.endpoint", -1.5, "healthy", ("running",), False) == Signal(
        "health.endpoint", Outcome.PASS, -1.5, "healthy", ("running",), False)
    # Their defaults: any text, any state, defining decided by the weight.
    assert passed("health.endpoint", 1.0) == Signal("health.endpoint", Outcome.PASS, 1.0, None, (), None)
    assert state_is(4.0, "crash-looping", "exited") == Signal(
        "running.state", Outcome.FAIL, 4.0, None, ("crash-looping", "exited"), None)
    assert state_is(1.0, "starting", defining=True) == Signal(
        "running.state", Outcome.FAIL, 1.0, None, ("starting",), True)
