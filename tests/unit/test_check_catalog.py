"""The check vocabulary stays consistent: registry, pytest tests and architecture doc."""

import ast
from pathlib import Path

from servicedown.diagnosis.catalog import all_checks
from servicedown.meanings import MEANINGS

ROOT = Path(__file__).resolve().parents[2]


def _ids_used_by_check_tests() -> set[str]:
    ids = set()
    for path in (ROOT / "checks").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "expect"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                ids.add(node.args[0].value)
    return ids


def test_every_check_has_exactly_one_test_and_back():
    registered = set(all_checks())
    assert _ids_used_by_check_tests() == registered


def test_every_check_is_documented():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert [c for c in all_checks() if f"`{c}`" not in doc] == []


def test_every_check_names_its_runbook_items():
    # Meanings (servicedown/meanings.py), never a position in one runbook.
    for spec in all_checks().values():
        items = [i.strip() for i in spec.runbook.split(",")]
        assert items and all(i in MEANINGS for i in items), (spec.id, items)


def test_checks_of_an_area_outside_the_runbook_come_last(monkeypatch):
    from servicedown.diagnosis import registry
    from servicedown.diagnosis.catalog import AREAS

    extra = registry.CheckSpec("zz.extra", "step:x", "made up", lambda ctx: registry.ok("ok"))
    monkeypatch.setitem(registry.CHECKS, "zz.extra", extra)
    monkeypatch.setitem(registry.CHECKS, "aa.extra", extra)
    ids = list(all_checks())
    assert ids[-2:] == ["zz.extra", "aa.extra"]  # as registered, after every runbook area
    assert [i.split(".")[0] for i in ids[:-2]] == sorted((i.split(".")[0] for i in ids[:-2]),
                                                         key=AREAS.index)
