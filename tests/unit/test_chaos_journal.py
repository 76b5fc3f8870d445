"""The chaos journal: activities with timestamps and statuses, streamed as JSON lines."""

from __future__ import annotations

import json

import pytest

from servicedown.chaos.journal import Journal


def test_activity_records_success_and_detail(tmp_path):
    sink = tmp_path / "j.jsonl"
    lines: list[str] = []
    j = Journal(sink, echo=lines.append)
    with j.activity("db-down", "inject", "postgres-stop") as act:
        act.detail["postgres"] = "exited"
    (a,) = j.activities
    assert a.status == "succeeded" and a.end >= a.start
    assert a.detail == {"postgres": "exited"}
    events = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "end"]
    assert events[1]["status"] == "succeeded" and events[1]["phase"] == "inject"
    assert events[1]["start"].endswith("+00:00") and events[1]["duration_s"] >= 0
    assert lines == [a.line()] and "[db-down] inject: postgres-stop - succeeded" in lines[0]


def test_failure_and_interrupt_are_recorded_and_reraised():
    j = Journal()
    with pytest.raises(RuntimeError), j.activity("x", "detect", "poll"):
        raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt), j.activity("x", "revert", "toxic"):
        raise KeyboardInterrupt
    assert [a.status for a in j.activities] == ["failed", "interrupted"]
    assert "RuntimeError: boom" in j.activities[0].detail["error"]


def test_an_explicit_status_is_kept():
    j = Journal()
    with j.activity("x", "detect", "expect cause") as act:
        act.status = "failed"
    assert j.activities[0].status == "failed"


def test_notes_excerpt_and_quiet_notes(tmp_path):
    lines: list[str] = []
    j = Journal(echo=lines.append)
    j.note("a", "detect", "poll", echo=False, top="db-down")
    j.note("b", "verify", "verdict pass")
    assert len(lines) == 1 and "[b]" in lines[0]
    text = j.excerpt("a")
    assert "detect: poll" in text and 'top: db-down' in text and "[b]" not in text
    assert [d["experiment"] for d in j.to_json()] == ["a", "b"]


def test_a_broken_echo_never_breaks_the_run():
    def echo(_line: str) -> None:
        raise OSError("terminal gone")

    j = Journal(echo=echo)
    with j.activity("x", "inject", "f"):
        pass
    assert j.activities[0].status == "succeeded"


def test_an_unknown_phase_is_refused():
    with pytest.raises(ValueError, match="unknown journal phase 'detection'"):
        Journal().note("crash", "detection", "poll")
