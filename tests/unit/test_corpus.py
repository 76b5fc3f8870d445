"""Every recorded incident replayed through the unchanged targets, checks and triage, with no
platform: the results must be the ones pinned when it was recorded (a change of a rule shows
here, and `python -m servicedown.record --repin` records it deliberately), the label is held
against the triage's answer, and no recording holds a secret."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from servicedown.corpus import scoring
from servicedown.record import incident as inc
from servicedown.record import masking
from servicedown.secrets import is_secret_name

CASES = inc.corpus()
REPIN = "python -m servicedown.record --repin"


def _load(path: Path) -> inc.Incident:
    return inc.load(path)


def _score(incident: inc.Incident, triage_doc: dict) -> scoring.Score:
    return scoring.score(incident.name, incident.kind, incident.engine_profile,
                         incident.label.verdict, incident.label.causes, triage_doc)


def _pinned_triage(incident: inc.Incident) -> dict:
    return dict(incident.pinned.get("triage") or {})


def _label_params() -> list:
    out = []
    for path in CASES:
        incident = _load(path)
        s = _score(incident, _pinned_triage(incident))
        marks = [] if s.outcome == "right" else [pytest.mark.xfail(
            strict=True, reason=f"the triage answered '{s.answer}' when recorded; label '{s.label}'")]
        out.append(pytest.param(path, id=path.stem, marks=marks))
    return out


def test_the_corpus_is_there():
    assert len(CASES) >= 30, f"{len(CASES)} recordings under {inc.INCIDENTS}; `make corpus` records them"
    kinds = {_load(p).kind for p in CASES}
    assert kinds == {"compose", "systemd", "kubernetes", "url"}, kinds


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_replay_gives_the_pinned_results(path):
    incident = _load(path)
    run = inc.replay(incident)
    got, want = inc.pin(run), incident.pinned
    outcomes = {k: v["outcome"] for k, v in got["checks"].items()}
    pinned = {k: v["outcome"] for k, v in want["checks"].items()}
    changed = {k: f"{pinned.get(k)} -> {outcomes.get(k)} "
                  f"({got['checks'].get(k, {}).get('message', '')[:160]})"
               for k in set(outcomes) | set(pinned) if outcomes.get(k) != pinned.get(k)}
    assert not changed, f"check outcomes changed since recording (deliberate? {REPIN} {path.stem}): {changed}"
    assert got["triage"] == want.get("triage"), (
        f"the triage changed since recording (deliberate? {REPIN} {path.stem})")
    assert got["checks"] == want["checks"], (
        f"a check's message or evidence changed since recording (deliberate? {REPIN} {path.stem})")
    assert got["summary"] == want.get("summary"), (
        f"the triage's summary changed since recording (deliberate? {REPIN} {path.stem})")


@pytest.mark.parametrize("path", _label_params())
def test_the_triage_agrees_with_the_label(path):
    incident = _load(path)
    s = _score(incident, inc.replay(incident).triage.to_json())
    assert s.outcome == "right", f"label '{s.label}', triage '{s.answer}'"


def _secret_env_values(doc) -> list[tuple[str, str]]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            for m in re.finditer(r"(?:^|[\s\0\"])([A-Z][A-Z0-9_]*)=([^\s\0\"]*)", node):
                if is_secret_name(m.group(1)) and len(m.group(2)) >= 4:
                    found.append((m.group(1), m.group(2)))

    walk(doc)
    return found


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_no_secret_value_and_no_private_key_of_the_service(path):
    doc = json.loads(path.read_text())
    for name, value in _secret_env_values(doc["backends"]):
        assert masking.is_standin(value) or value == "***", f"{name} holds a value that is no stand-in"
    _, swap = masking.swap_keys(doc["backends"])  # every key found is swapped again: list them
    keys = {hashlib_spki(k) for k in swap.by_spki}
    assert keys <= set(doc["masking"].get("standin_keys", [])), "a private key that is no stand-in"


def hashlib_spki(spki: bytes) -> str:
    import hashlib

    return hashlib.sha256(spki).hexdigest()
