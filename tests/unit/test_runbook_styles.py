"""Runbooks written in other styles give the mapping written down for each of them before the
matcher existed (tests/data/runbooks/styles/*.expected.yml), and coverage --strict says what
each expects."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from servicedown.runbook import coverage, matcher, render, sidecar
from servicedown.runbook.reader import read_runbook

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "runbooks"
STYLES = DATA / "styles"
CASES = {p.name.removesuffix(".expected.yml"): p for p in sorted(STYLES.glob("*.expected.yml"))}
CASES["seed"] = DATA / "seed-service-down.expected.yml"
CASES["project"] = DATA / "project" / "qbitel-service-down.expected.yml"
RUNBOOKS = {"seed": DATA / "seed-service-down.md", "project": ROOT / "runbooks" / "qbitel-service-down.md"}


def runbook_path(name: str, tmp_path: Path) -> Path:
    if name in RUNBOOKS:
        return RUNBOOKS[name]
    if name.endswith(".no-sidecar"):  # the same runbook, read where no sidecar sits beside it
        copy = tmp_path / f"{name.removesuffix('.no-sidecar')}.md"
        shutil.copy(STYLES / copy.name, copy)
        return copy
    return STYLES / f"{name}.md"


def expected(name: str) -> dict:
    return yaml.safe_load(CASES[name].read_text(encoding="utf-8"))


def test_at_least_eight_other_styles():
    assert len([n for n in CASES if n not in RUNBOOKS and not n.endswith(".no-sidecar")]) >= 8


@pytest.mark.parametrize("name", list(CASES))
def test_each_item_means_what_was_written_down(name, tmp_path):
    rb = read_runbook(runbook_path(name, tmp_path))
    pins, _notes = sidecar.load(rb)
    got = matcher.match(rb, pins)
    want = expected(name)["items"]
    assert [(it.id, it.title) for it in rb.items] == [(i, t) for i, t, _m in want]
    for item_id, _title, means in want:
        m = got[item_id]
        if means == "uncovered":
            assert m.status in (matcher.UNKNOWN, matcher.PINNED) and not m.meanings, (item_id, m)
        elif means == "ambiguous":
            assert m.status == matcher.AMBIGUOUS and len(m.candidates) >= 1, (item_id, m)
        elif means == "informational":
            assert m.status == matcher.INFO, (item_id, m)
        else:
            assert m.decided and list(m.meanings) == ([means] if isinstance(means, str) else means), \
                (item_id, m)
            assert m.confidence >= matcher.THRESHOLD and m.reasons, (item_id, m)


@pytest.mark.parametrize("name", list(CASES))
def test_strict_says_what_was_written_down(name, tmp_path):
    want = expected(name)
    m = coverage.build(read_runbook(runbook_path(name, tmp_path)), tests=[], experiments=[])
    assert m.uncovered == want["uncovered"]
    assert (not m.uncovered) == (want["strict"] == "pass")
    text = render.matrix_text(m)
    for item_id in want["uncovered"]:
        assert item_id in text


def test_every_cause_of_the_table_has_its_words():
    from servicedown.causes import CAUSES
    from servicedown.meanings import CAUSE_WORDS

    assert {c.id for c in CAUSES} - set(CAUSE_WORDS) == set(), "add a row to meanings.CAUSE_WORDS"
    assert set(CAUSE_WORDS) - {c.id for c in CAUSES} == set()
