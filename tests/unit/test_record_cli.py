"""Bad input to the record and corpus commands ends in one clear message, never a traceback."""

from __future__ import annotations

import json

import pytest

from servicedown.corpus import __main__ as corpus_cli
from servicedown.record import __main__ as record_cli
from servicedown.record import incident as inc


def test_a_missing_recording_says_how_to_make_one(tmp_path):
    with pytest.raises(inc.IncidentError, match="no such recording.*python -m servicedown.record"):
        inc.load(tmp_path / "nope.json")


@pytest.mark.parametrize(("text", "words"), [
    ("{not json", "not a readable JSON recording"),
    ('{"format": "other/2"}', "not a servicedown-incident/1 recording"),
    ('[1, 2]', "not a servicedown-incident/1 recording"),
    (json.dumps({"format": inc.FORMAT, "name": "x"}), "a recording without"),
    (json.dumps({"format": inc.FORMAT, "name": "x", "settings": {}, "engine_profile": "p",
                 "target": {"kind": "compose"}, "backends": {},
                 "label": {"verdict": "sideways", "source": "me"}}), "label verdict 'sideways'"),
    (json.dumps({"format": inc.FORMAT, "name": "x", "settings": {}, "engine_profile": "p",
                 "target": {"kind": "compose"}, "backends": {},
                 "label": {"verdict": "down", "causes": ["gremlins"], "source": "me"}}),
     "label cause\\(s\\) gremlins unknown"),
    (json.dumps({"format": inc.FORMAT, "name": "x", "settings": {}, "engine_profile": "p",
                 "target": {"kind": "mainframe"}, "backends": {},
                 "label": {"verdict": "down", "source": "me"}}), "unknown target kind 'mainframe'"),
])
def test_a_corrupt_recording_is_one_message(tmp_path, text, words):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(inc.IncidentError, match=words):
        inc.load(path)


def test_a_label_needs_a_source_and_healthy_names_no_cause():
    with pytest.raises(inc.IncidentError, match="says who set the incident up"):
        inc.Label("down", ("db-down",), " ")
    with pytest.raises(inc.IncidentError, match="healthy label names no cause"):
        inc.Label("healthy", ("db-down",), "me")


@pytest.mark.parametrize(("argv", "words"), [
    (["x", "--label-verdict", "down"], "--label-verdict and --label-source are required"),
    (["Bad Name!", "--label-verdict", "down", "--label-source", "me"], "incident name 'Bad Name!'"),
    (["a", "b"], "give one NAME"),
    (["x", "--label-verdict", "down", "--label-source", "me", "--target", "nomad"], "unknown target"),
    (["x", "--label-verdict", "down", "--label-cause", "gremlins", "--label-source", "me"],
     "gremlins unknown"),
])
def test_record_command_bad_input(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(inc, "INCIDENTS", tmp_path)
    assert record_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err


def test_record_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "x.json"
    out.write_text("{}")
    assert record_cli.main(["x", "--out", str(out), "--label-verdict", "down",
                            "--label-source", "me"]) == 2
    assert "--force replaces it" in capsys.readouterr().err


def test_repin_of_a_missing_recording(tmp_path, capsys):
    assert record_cli.main(["--repin", str(tmp_path / "gone.json")]) == 2
    assert "no such recording" in capsys.readouterr().err


def test_corpus_unknown_scenario(capsys):
    assert corpus_cli.main(["--only", "no-such-scenario", "--list"]) == 2
    assert "no scenario matches" in capsys.readouterr().err


def test_corpus_list(capsys):
    assert corpus_cli.main(["--list", "--kind", "url"]) == 0
    out = capsys.readouterr().out
    assert "url-engine-stopped" in out and "db-down" in out


def test_the_console_script_has_record(capsys, tmp_path, monkeypatch):
    from servicedown import cli

    monkeypatch.setattr(inc, "INCIDENTS", tmp_path)
    assert "record" in cli.usage()
    assert cli.main(["record", "x", "--label-verdict", "down"]) == 2
    assert "--label-source are required" in capsys.readouterr().err
