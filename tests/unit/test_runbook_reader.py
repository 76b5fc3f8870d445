"""The runbook reader: the seed runbook and the project's own, variants, and unusable input."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from servicedown.runbook import commands as cmds
from servicedown.runbook import markdown as md
from servicedown.runbook.reader import MAX_BYTES, RunbookError, parse_runbook, read_runbook

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "data" / "runbooks" / "seed-service-down.md"
PROJECT = ROOT / "runbooks" / "qbitel-service-down.md"
SHARED_SEED = ROOT.parent / "shared" / "seed" / "000_72ecd2e41d11d966.txt"

CAUSE_IDS = ["cause-1", "cause-1.1", "cause-1.2", "cause-1.3",
             "cause-2", "cause-2.1", "cause-2.2", "cause-2.3", "cause-2.4",
             "cause-3", "cause-3.1", "cause-3.2", "cause-3.3",
             "cause-4", "cause-4.1", "cause-4.2", "cause-4.3"]
RESOLUTION_IDS = ["resolution-restart", *(f"resolution-{n}" for n in range(1, 6))]
RELATED_IDS = ["related-alert:HighMemoryUsage", "related-alert:HighCPUUsage",
               "related-alert:DatabaseConnectionFailures"]
SEED_IDS = ["diagnosis-1", "diagnosis-2", "diagnosis-3", *CAUSE_IDS, *RESOLUTION_IDS,
            "escalation", "prevention", *RELATED_IDS, "post-incident"]
PROJECT_IDS = ["diagnosis-0", *SEED_IDS]


def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


def sections(text: str) -> tuple[str, list[str]]:
    """(preamble, ['## Diagnosis ...', '## Common Causes ...', ...])"""
    parts = re.split(r"(?m)^(?=## )", text)
    return parts[0], parts[1:]


# --- the seed ---
def test_the_copy_of_the_seed_is_the_seed():
    if not SHARED_SEED.exists():
        pytest.skip("no shared/ next to the repository")
    assert seed_text() == SHARED_SEED.read_text(encoding="utf-8")


def test_seed_items_in_runbook_order():
    rb = read_runbook(SEED)
    assert rb.ids == SEED_IDS
    assert rb.title == "Runbook: Service Down"
    assert rb.alert == {"Alert Name": "ServiceDown", "Severity": "Critical", "Component": "API"}
    assert rb.notes == []


def test_seed_titles_parents_and_kinds():
    rb = read_runbook(SEED)
    assert rb.item("diagnosis-3").title == "Check health endpoint directly"
    assert rb.item("cause-2").title == "Resource Exhaustion"
    assert rb.item("cause-2.4").title == "File descriptor limit reached"
    assert rb.item("cause-2.4").parent == "cause-2"
    assert rb.item("cause-2").parent is None
    assert rb.item("resolution-restart").title == "Quick Fix (Restart)"
    assert rb.item("resolution-2").title == "Verify environment variables"
    assert {it.kind for it in rb.items} == {"diagnosis", "cause", "resolution", "related-alert",
                                            "escalation", "prevention", "post-incident"}


def test_escalation_prevention_and_post_incident_are_informational():
    rb = read_runbook(SEED)
    assert [it.id for it in rb.items if not it.required] == ["escalation", "prevention",
                                                             "post-incident"]
    assert "DevOps lead" in rb.item("escalation").text


def test_seed_commands_without_shell_comments():
    rb = read_runbook(SEED)
    assert rb.item("diagnosis-1").commands == [
        "docker-compose ps qbitel-engine",
        "kubectl get pods -l app=qbitel-engine -n qbitel",
        "systemctl status qbitel",
    ]
    assert rb.item("diagnosis-3").commands == ["curl -v http://localhost:8000/health"]
    assert rb.item("resolution-restart").commands == [
        "docker-compose restart qbitel-engine",
        "kubectl rollout restart deployment/qbitel-engine -n qbitel",
        "systemctl restart qbitel",
    ]
    assert rb.item("resolution-1").commands == ['docker-compose logs qbitel-engine | grep "VALIDATION"']
    assert rb.item("resolution-2").commands == ["echo $DATABASE_PASSWORD", "echo $JWT_SECRET",
                                                "echo $ENCRYPTION_KEY"]
    assert rb.item("resolution-4").commands == ["df -h"]
    assert not any(c.startswith("#") for it in rb.items for c in it.commands)


# --- the project's own runbook ---
def test_project_runbook_items():
    rb = read_runbook(PROJECT)
    assert rb.ids == PROJECT_IDS
    assert rb.alert["Alert Name"] == "ServiceDown"
    assert rb.notes == []


def test_project_runbook_uses_the_reference_stack_and_never_echoes_a_secret():
    rb = read_runbook(PROJECT)
    first = rb.items[0]
    assert first.id == "diagnosis-0" and any("pytest checks/" in c for c in first.commands)
    assert "make checks" in first.commands
    every = [c for it in rb.items for c in it.commands]
    assert "cd compose && docker-compose ps qbitel-engine" in every
    assert "make stack-up" in every
    assert "scripts/systemd-host.sh status" in every
    assert not [c for c in every if re.search(r"\becho\s+\$\w*(SECRET|PASSWORD|KEY)", c)]
    assert any("printenv" in c and "wc -c" in c for c in rb.item("resolution-2").commands)


# --- variants in the same conventions ---
def test_sections_in_another_order_keep_their_ids_and_commands():
    pre, secs = sections(seed_text())
    shuffled = parse_runbook(pre + "".join(reversed(secs)), "reversed.md")
    seed = read_runbook(SEED)
    assert sorted(shuffled.ids) == sorted(seed.ids)
    for it in seed.items:
        assert shuffled.item(it.id).commands == it.commands, it.id
        assert shuffled.item(it.id).title == it.title


def test_an_extra_cause_gets_the_next_ids():
    text = seed_text().replace("## Resolution Steps", "5. **Cache Failure**\n   - Redis unreachable\n"
                               "   - Eviction storm\n\n## Resolution Steps")
    rb = parse_runbook(text, "extra.md")
    assert [i for i in rb.ids if i.startswith("cause-5")] == ["cause-5", "cause-5.1", "cause-5.2"]
    assert rb.item("cause-5").title == "Cache Failure"
    assert rb.item("cause-5.2").parent == "cause-5"


def test_powershell_block_commands():
    text = seed_text().replace(
        "```bash\ncurl -v http://localhost:8000/health\n```",
        "```powershell\n# Ask the endpoint\nPS C:\\> Invoke-WebRequest -Uri http://localhost:8000/health `\n"
        "    -UseBasicParsing   # status code and body\n$env:JWT_SECRET.Length\n```")
    rb = parse_runbook(text, "ps.md")
    assert rb.item("diagnosis-3").commands == [
        "Invoke-WebRequest -Uri http://localhost:8000/health -UseBasicParsing",
        "$env:JWT_SECRET.Length",
    ]


def test_missing_diagnosis_section_is_a_note_not_an_error():
    pre, secs = sections(seed_text())
    rb = parse_runbook(pre + "".join(s for s in secs if not s.startswith("## Diagnosis")), "nodiag.md")
    assert not [i for i in rb.ids if i.startswith("diagnosis-")]
    assert "cause-3.1" in rb.ids
    assert "no Diagnosis section" in rb.notes


def test_setext_headings_lazy_numbering_and_other_heading_words():
    text = ("Service Down\n============\n\n**Severity**: Critical\n\n"
            "Troubleshooting\n---------------\n\n"
            "1. **Is it up?**\n```sh\n$ docker compose ps qbitel-engine\n```\n"
            "1. **Logs**\n```\njournalctl -u qbitel -n 100\n```\n\n"
            "Possible causes\n---------------\n\n- Crash\n  - Traceback\n- Disk\n")
    rb = parse_runbook(text, "setext.md")
    assert rb.title == "Service Down" and rb.alert == {"Severity": "Critical"}
    assert rb.ids == ["diagnosis-1", "diagnosis-2", "cause-1", "cause-1.1", "cause-2"]
    assert rb.item("diagnosis-1").commands == ["docker compose ps qbitel-engine"]
    assert {"no Resolution section"} <= set(rb.notes)


def test_unknown_sections_and_duplicate_numbers_are_noted():
    text = ("# R\n\n## Diagnosis\n\n### 1. a\n\n### 1. b\n\n## Weather\n\nsunny\n")
    rb = parse_runbook(text, "dup.md")
    assert rb.ids == ["diagnosis-1", "diagnosis-2"]  # repeated heading numbers count from the first
    assert any("Weather" in n for n in rb.notes)


def test_a_numbered_resolution_block_without_quick_fix_and_a_named_one():
    text = ("# R\n\n## Resolution\n\n### Roll back\n\n```bash\nkubectl rollout undo deploy/x\n```\n\n"
            "### If Restart Doesn't Help\n\n1. **Check disk**:\n```bash\ndf -h\n```\n")
    rb = parse_runbook(text, "res.md")
    assert rb.ids == ["resolution-roll-back", "resolution-1"]
    assert rb.item("resolution-1").commands == ["df -h"]


def test_related_alerts_named_inline():
    rb = parse_runbook("# R\n\n## Related Alerts\n\nSee `HighMemoryUsage` and `CacheMiss`.\n", "rel.md")
    assert rb.ids == ["related-alert:HighMemoryUsage", "related-alert:CacheMiss"]


# --- unusable input: one clear RunbookError each ---
@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"  \n\n\t\n", "empty"),
    (bytes(range(256)) * 8, "binary"),
    (b"\x89PNG\r\n\x1a\n" + bytes(200), "binary"),
    ("# Runbook\n\n## Diagnosis\n\ncaf\u00e9\n".encode("latin-1"), "not UTF-8"),
    (b"just words, no headings at all\n", "no Markdown headings"),
    (b"# Shopping\n\n## Apples\n\n## Pears\n", "none of the headings is a runbook section"),
    (b"# R\n\n## Diagnosis\n\n### 1. a\n\n```bash\ncurl x\n\n## Common Causes\n", "never closed"),
])
def test_unusable_input(tmp_path, data, message):
    path = tmp_path / "runbook.md"
    path.write_bytes(data)
    with pytest.raises(RunbookError, match=message) as exc:
        read_runbook(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_unclosed_fence_names_its_line(tmp_path):
    path = tmp_path / "bad.md"
    path.write_text("# R\n\n## Diagnosis\n\n### 1. a\n\n```bash\ncurl x\n")
    with pytest.raises(RunbookError, match=r"line 7: code block opened with ``` is never closed"):
        read_runbook(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(RunbookError, match="no such file"):
        read_runbook(tmp_path / "nope.md")
    with pytest.raises(RunbookError, match="is a directory"):
        read_runbook(tmp_path)


# --- commands out of code blocks ---
def test_extract_drops_comments_prompts_and_heredoc_bodies():
    body = ["# a comment", "$ curl -s http://h/health#frag   # trailing comment",
            "cat <<EOF > /tmp/x", "echo inside", "EOF", "", "psql -c 'select 1 # not a comment'",
            "docker run \\", "  --rm alpine true"]
    assert cmds.extract(body, "bash") == [
        "curl -s http://h/health#frag",
        "cat <<EOF > /tmp/x",
        "psql -c 'select 1 # not a comment'",
        "docker run --rm alpine true",
    ]
    assert cmds.extract(['{"a": 1}'], "json") == []
    assert cmds.extract(["REM note", "sc query qbitel"], "cmd") == ["sc query qbitel"]


# --- size: linear up to the 2 MB limit, and a clear message past it ---
def _regex_plain(text: str) -> str:
    """The patterns plain() replaced: the reference for what it must give (they rescanned the
    rest of the line from every opener, so '*a ' x 8000 took seconds)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"`+([^`]*)`+", r"\1", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", text)
    return " ".join(text.split()).strip()


@pytest.mark.parametrize("alphabet", ["*_ ab", "[]()! ab", "*_[]()!` ab\n", "*_ aé\t\n"])
def test_plain_gives_what_the_patterns_gave(alphabet):
    rng = random.Random(alphabet)
    for _ in range(20_000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        assert md.plain(s) == _regex_plain(s), repr(s)


def test_plain_on_runbook_inlines():
    assert md.plain("**Check X**: see [the guide](g.md), `df -h` and *now*") == \
        "Check X: see the guide, df -h and now"
    assert md.plain("snake_case and 2*3*4 and a * b") == "snake_case and 2*3*4 and a * b"
    assert md.plain("## Title ##") == "## Title ##"  # headings' hashes are the scanner's business
    assert md.parse("## Title ##\n").headings[0].text == "Title"
    assert md.parse("# C# #\n").headings[0].text == "C#"


UNIT_LINE = 200  # repeats per line: the reader joins an item's lines into one text


@pytest.mark.timeout(120)  # a bound, not a measurement: bench/bench_runbook.py times it
@pytest.mark.parametrize("unit", ["*a ", "_b ", "[", "![", "[a](b"])
def test_a_runbook_at_the_size_limit_is_read(tmp_path, unit):
    head = "# Runbook\n\n## Diagnosis\n\n### 1. Check it\n\n"
    line, tail = unit * UNIT_LINE + "\n", "```bash\ndf -h\n```\n"
    count = (MAX_BYTES - len(head) - len(tail)) // len(line)
    path = tmp_path / "big.md"
    path.write_text(head + line * count + tail, encoding="utf-8")
    assert MAX_BYTES - 2 * len(line) < path.stat().st_size <= MAX_BYTES
    rb = read_runbook(path)
    step = rb.item("diagnosis-1")
    assert step.commands == ["df -h"]
    # Nothing here is a complete link or emphasis: the text is the input, spaces normalised.
    assert step.text == " ".join(" ".join([unit * UNIT_LINE] * count).split())


def test_past_the_size_limit_says_what_to_do(tmp_path):
    path = tmp_path / "huge.md"
    path.write_bytes(b"# R\n\n## Diagnosis\n\n" + b"x" * MAX_BYTES)
    with pytest.raises(RunbookError, match=r"too large for a runbook \(at most 2,000,000 bytes\); "
                                           r"keep the runbook's own text"):
        read_runbook(path)
