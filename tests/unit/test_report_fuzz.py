"""Whatever a file under reports/ holds, the report writes a page that names the file and what was
wrong with it: a seeded generator of bad but parseable result files (2,000 cases), plus the
cases it found, kept by name."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path
from typing import Any

import pytest

from servicedown.files import write_atomic
from servicedown.report.__main__ import pages

CASES = int(os.environ.get("SERVICEDOWN_FUZZ_CASES", "2000"))
FILES = ("triage.json", "chaos.json", "load-timeline.json", "coverage.json")
KEYS = ("verdict", "causes", "checks", "id", "outcome", "message", "evidence", "score", "t", "rps",
        "p95_ms", "error_ratio", "series", "experiments", "journal", "start", "end", "time",
        "mttd_s", "mttr_s", "writes_lost", "writes_acknowledged", "rows", "items", "history",
        "coverage", "state", "headline", "detail", "phase", "status", "confidence", "faults")
ODD_STRINGS = ("", "\ud800", "\udfff x", "\x00\x1b[31m", "<script>alert(1)</script>", "é" * 3000,
               "2026-13-45T99:99:99", "9999-12-31T23:59:59Z", "0001-01-01", "healthy", "down",
               "NaN", "-inf", "1e308", "fail", "pass", "x" * 100_000)
ODD_NUMBERS = (0, -1, 1, 1796160000, 1796160000123, 1796160000123456, 1796160000123456789,
               10 ** 30, -10 ** 30, 1e308, -1e308, math.pi, 2 ** 63, True, False)


def value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 4 else 4)
    if kind == 0:
        return rng.choice(ODD_STRINGS)
    if kind == 1:
        return rng.choice(ODD_NUMBERS)
    if kind == 2:
        return None
    if kind == 3:
        return rng.choice((float("nan"), float("inf"), -0.0, rng.random() * 1e6))
    if kind in (4, 5):
        return {rng.choice(KEYS + ODD_STRINGS[:4]): value(rng, depth + 1)
                for _ in range(rng.randrange(6))}
    return [value(rng, depth + 1) for _ in range(rng.randrange(6))]


def document(rng: random.Random) -> Any:
    """Mostly the right outline with wrong parts: what a cut or hand-edited file looks like."""
    doc = {k: value(rng) for k in rng.sample(KEYS, rng.randrange(1, 8))}
    if rng.random() < 0.5:
        doc["checks"] = [{"id": rng.choice(("running.state", "x", None, 7)),
                          "outcome": rng.choice(("fail", "pass", "skip", "weird", None)),
                          "message": rng.choice(ODD_STRINGS), "evidence": value(rng)}
                         for _ in range(rng.randrange(4))]
    if rng.random() < 0.3:
        doc["series"] = [{"t": rng.choice(ODD_NUMBERS + ODD_STRINGS[:8]), "rps": value(rng),
                          "p95_ms": value(rng), "error_ratio": value(rng)} for _ in range(rng.randrange(5))]
    return doc if rng.random() < 0.9 else value(rng)


def junit(rng: random.Random) -> bytes:
    return rng.choice((b"", b"<testsuite", b"<testsuite tests='x' failures='-1' time='inf'/>",
                       b"<testsuites><testsuite tests='1e309'/></testsuites>", bytes(range(256)),
                       b"\xef\xbb\xbf<testsuite name='\xff'/>"))


def write_case(folder: Path, rng: random.Random) -> None:
    for name in rng.sample(FILES, rng.randrange(1, len(FILES) + 1)):
        text = json.dumps(document(rng), allow_nan=True)
        (folder / name).write_text(text, encoding="utf-8", errors="surrogatepass")
    if rng.random() < 0.3:
        name = rng.choice((b"checks.junit.xml", b"bad-\xff.junit.xml", b"x\xc3(.junit.xml"))
        (folder / os.fsdecode(name)).write_bytes(junit(rng))


def test_two_thousand_bad_result_folders_each_give_a_page(tmp_path: Path):
    rng = random.Random(20261201)
    for n in range(CASES):
        folder = tmp_path / f"case-{n}"
        folder.mkdir()
        write_case(folder, rng)
        try:
            inp, page, draft = pages(folder, 1796160000.0)
            write_atomic(folder / "postmortem.html", page)
            write_atomic(folder / "postmortem.md", draft)
        except Exception as exc:  # the case is kept to be replayed by hand
            raise AssertionError(f"case {n} in {folder}: {type(exc).__name__}: {exc}") from None
        assert "<html" in page and draft.startswith("# Post-mortem")
        for note in inp.notes:  # every bad file is named on the page
            assert note.source.encode("utf-8", "replace").decode() in page or note.source == "reports"


# Found by the generator or by hand, kept as named cases.
@pytest.mark.parametrize(("name", "content"), [
    ("load-timeline.json", {"series": [{"t": 1796160000123456, "rps": 10, "p95_ms": 5}]}),
    ("load-timeline.json", {"series": [{"t": 1796160000123456789, "rps": 1}]}),
    ("load-timeline.json", {"series": [{"t": "9999-12-31T23:59:59Z", "rps": 1}]}),
    ("triage.json", {"verdict": "down", "causes": [], "checks": [{"id": "x.y", "outcome": "fail",
                                                                 "message": "\ud800 bad"}]}),
    ("chaos.json", {"experiments": [{"id": "\udfff", "journal": [{"start": 1e308, "end": -1}]}]}),
    ("coverage.json", {"rows": [{"item": {"id": None}}]}),
])
def test_known_bad_files(tmp_path: Path, name: str, content: Any):
    (tmp_path / name).write_text(json.dumps(content), encoding="utf-8")
    inp, page, draft = pages(tmp_path, 1796160000.0)
    write_atomic(tmp_path / "postmortem.html", page)
    assert "<html" in page


def test_a_junit_file_whose_name_is_not_utf8(tmp_path: Path):
    (tmp_path / os.fsdecode(b"bad-\xff.junit.xml")).write_text("<testsuite tests='1'/>")
    inp, page, draft = pages(tmp_path, 1796160000.0)
    write_atomic(tmp_path / "postmortem.html", page)
    assert "bad-\ufffd.junit.xml" in page


def test_a_character_no_file_can_hold_costs_that_character(tmp_path):
    # A lone surrogate (JSON's "\ud800" parses to one) in an alert's text or a result file.
    write_atomic(tmp_path / "page.html", "before \ud800 after")
    assert (tmp_path / "page.html").read_text(encoding="utf-8") == "before ? after"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]
