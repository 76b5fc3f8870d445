"""The runbook's Escalation section read as thresholds (runbook/escalation.py)."""

from __future__ import annotations

import pytest

from servicedown.runbook.escalation import duration_s, parse_escalation, read_escalation, who
from servicedown.runbook.reader import RunbookError
from tests.support import ROOT

SEED = ROOT / "tests" / "data" / "runbooks" / "seed-service-down.md"
PROJECT = ROOT / "runbooks" / "qbitel-service-down.md"


def test_the_seed_runbook_gives_15_and_30_minutes():
    esc = read_escalation(SEED)
    assert [(s.after_s, s.who) for s in esc.thresholds] == [(900.0, "DevOps lead"), (1800.0, "CTO")]
    untimed = [s for s in esc.steps if not s.timed]
    assert [s.who for s in untimed] == ["on-call engineer"]
    assert esc.note == ""


def test_the_project_runbook_names_its_own_people():
    esc = read_escalation(PROJECT)
    assert [(s.after_s, s.who) for s in esc.thresholds] == [(900.0, "platform lead"), (1800.0, "CTO")]


def test_thresholds_come_from_the_text_not_from_defaults():
    text = "# R\n## Escalation\n- Escalate to the SRE manager after 5 minutes\n- Call the VP after 2 hours\n"
    esc = parse_escalation(text)
    assert [(s.after_s, s.who) for s in esc.thresholds] == [(300.0, "SRE manager"), (7200.0, "VP")]
    assert [s.who for s in esc.due(299)] == []
    assert [s.who for s in esc.due(300)] == ["SRE manager"]
    assert esc.next(301).who == "VP"


def test_arrows_tables_and_sentences():
    arrows = parse_escalation("# R\n## Escalation\nnot resolved in 15 min → DevOps lead. 30 min → CTO.\n")
    assert [(s.after_s, s.who) for s in arrows.thresholds] == [(900.0, "DevOps lead"), (1800.0, "CTO")]
    table = parse_escalation("# R\n## Who to page\n| after | who |\n|---|---|\n| 15 min | DevOps lead |\n"
                             "| 1h30 | CTO |\n")
    assert [(s.after_s, s.who) for s in table.thresholds] == [(900.0, "DevOps lead"), (5400.0, "CTO")]


def test_steps_out_of_order_are_sorted_and_continuation_lines_joined():
    text = ("# R\n## Escalation\n1. Escalate to CTO\n   if downtime exceeds 30 minutes\n"
            "2. Escalate to DevOps lead after 15 minutes\n## Prevention\n- after 5 minutes nothing\n")
    esc = parse_escalation(text)
    assert [s.who for s in esc.thresholds] == ["DevOps lead", "CTO"]
    assert all(s.after_s != 300 for s in esc.steps)  # the next section is not read


def test_no_section_and_no_times_give_no_thresholds_with_a_reason():
    none = parse_escalation("# R\n## Diagnosis\n1. look\n")
    assert none.thresholds == [] and "no Escalation section" in none.note
    untimed = parse_escalation("# R\n## Escalation\n- Page the on-call engineer\n")
    assert untimed.thresholds == [] and "names no time" in untimed.note


@pytest.mark.parametrize(("text", "seconds"), [
    ("after 15 minutes", 900), ("30 min", 1800), ("1 hour", 3600), ("1h30", 5400), ("90s", 90),
    ("2 hrs", 7200), ("15min", 900), ("no time here", None)])
def test_durations(text, seconds):
    assert duration_s(text) == seconds


def test_who_reads_the_name_up_to_the_condition():
    assert who("Escalate to DevOps lead after 15 minutes") == "DevOps lead"
    assert who("Escalate to the CTO if downtime exceeds 30 minutes") == "CTO"
    assert who("Page on-call engineer (if not already)") == "on-call engineer"


def test_a_runbook_that_cannot_be_read_is_one_message(tmp_path):
    with pytest.raises(RunbookError, match="cannot read it"):
        read_escalation(tmp_path / "missing.md")
    binary = tmp_path / "b.md"
    binary.write_bytes(b"\x00\x01\x02")
    with pytest.raises(RunbookError, match="binary"):
        read_escalation(binary)
