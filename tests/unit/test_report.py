"""The post-mortem report, fast: charts from synthetic series, escaping, masking, and missing,
partial or corrupt result files giving a report that says what is missing, never a crash."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from servicedown.report import charts, html, markdown, timeline
from servicedown.report.__main__ import main
from servicedown.report.load import load
from tests.report_samples import write_all
from tests.support import ROOT

T0 = 1_790_000_000.0  # a fixed epoch, so charts and tables are deterministic
MD_SECTIONS = ("## Summary", "## Impact", "## Timeline", "## Root cause", "## Action items")
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>|pipe|`tick`'


def check(id: str, outcome: str, message: str = "", **evidence: object) -> dict:
    return {"id": id, "runbook": "diagnosis-3", "outcome": outcome, "message": message,
            "evidence": evidence, "duration_s": 0.12}


def triage_doc(verdict: str = "down", **extra: object) -> dict:
    return {"verdict": verdict, "target": "compose project 'qbitel'",
            "causes": [{"id": "db-down", "category": "database", "title": "The database is down",
                        "score": 5.0, "evidence": ["database.ready fail: no response"],
                        "resolution": ["Check database connectivity: "
                                       "`pg_isready -U qbitel_user -d qbitel`"]}],
            "checks": [check("health.endpoint", "fail", "HTTP 503", status=503, body={"status": "unhealthy"}),
                       check("database.ready", "fail", "pg_isready: no response", output="no response"),
                       check("running.state", "pass", "running", uptime_s=30.0, restart_count=1,
                             recent_events=["01:02:03 die exit=137"]),
                       check("startup.tls", "skip", "TLS off")],
            **extra}


def raw_html_in_markdown(md: str) -> list[str]:
    """Lines where a `<` would reach a renderer as HTML: not backslash-escaped, not in a code span
    (CommonMark: a span closes at the next backtick run of the same length)."""
    found = []
    for line in md.splitlines():
        i = 0
        while i < len(line):
            ch = line[i]
            if ch == "\\" and i + 1 < len(line):
                i += 2
            elif ch == "`":
                fence = re.match(r"`+", line[i:]).group(0)
                close = re.search(rf"(?<!`){fence}(?!`)", line[i + len(fence):])
                i = i + len(fence) + (close.end() if close else 0)
            elif ch == "<":
                found.append(line)
                break
            else:
                i += 1
    return found


def write(path: Path, doc: object) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def render(reports: Path) -> tuple[str, str]:
    inp = load(reports)
    tl = timeline.build(inp)
    return html.render(inp, tl, T0 + 500), markdown.render(inp, tl, T0 + 500)


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    d = tmp_path / "reports"
    d.mkdir()
    return d


# --- charts ----------------------------------------------------------------------------------

def test_line_chart_draws_series_with_gaps_windows_and_marks():
    axis = charts.Axis(T0, T0 + 100)
    points = [(T0 + i, float(i)) for i in range(40)] + [(T0 + 40, None)]
    points += [(T0 + i, 5.0) for i in range(41, 90)]
    window = timeline.Window(T0 + 10, T0 + 30, "stop <postgres>", "chaos")
    mark = timeline.Event(T0 + 50, "restart", "restart & recover", "chaos")
    svg = charts.line_chart(points, axis, title="Throughput <rps>", fmt=lambda v: f"{v:.0f}",
                            windows=[window], marks=[mark])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 2  # the None splits the line in two
    assert charts.FAULT_FILL in svg and "stop &lt;postgres&gt;" in svg
    assert "stroke-dasharray" in svg and "restart &amp; recover" in svg
    assert "Throughput &lt;rps&gt;" in svg and "<rps>" not in svg
    assert "peak 39" in svg


def test_axis_ticks_are_inside_and_ordered():
    axis = charts.Axis(T0 + 3, T0 + 250)
    ticks = axis.ticks()
    assert 3 <= len(ticks) <= 9
    assert ticks == sorted(ticks) and all(axis.t0 <= t <= axis.t1 for t in ticks)
    assert charts.LEFT <= axis.x(ticks[0]) < axis.x(ticks[-1]) <= charts.WIDTH


@pytest.mark.parametrize(("value", "expected"), [(0, 1), (0.03, 0.05), (7, 10), (1440, 2000), (180, 200)])
def test_nice_max(value, expected):
    assert charts.nice_max(value) == pytest.approx(expected)


def test_lane_chart_colours_states():
    lanes = [timeline.Lane("health.endpoint", [(T0, "pass"), (T0 + 10, "fail"), (T0 + 20, "pass")]),
             timeline.Lane("logs.<odd>", [(T0 + 5, "error")])]
    window = timeline.Window(T0 + 8, T0 + 18, "f", "x")
    svg = charts.lane_chart(lanes, charts.Axis(T0, T0 + 30), windows=[window])
    for state in ("pass", "fail", "error"):
        assert charts.STATE_COLOURS[state] in svg
    assert "logs.&lt;odd&gt;" in svg


def test_bar_chart_says_not_measured():
    svg = charts.bar_chart([("db-down", 7.2, 15.8), ("oom", None, 14.6)])
    assert "7.2 s" in svg and "15.8 s" in svg and "not measured" in svg


# --- full page from complete inputs -------------------------------------------------------------

def test_full_report_has_every_section(reports):
    write(reports / "triage.json", triage_doc())
    write_all(reports, T0)
    page, md = render(reports)
    assert '<meta http-equiv="Content-Security-Policy" content="' + html.CSP + '">' in page
    assert 'class="banner down"' in page and "The database is down" in page
    assert "<code>pg_isready -U qbitel_user -d qbitel</code>" in page  # runbook step, commands as code
    assert page.count("<svg") >= 5  # lanes, rps, p95, error ratio, MTTD/MTTR
    assert "db-down" in page and "writes lost / acknowledged" in page and "3 / 800" in page
    assert "cause-2.1" in page and page.count("(gap)") == 1  # the informational item is no gap
    assert "<strong>2 of 3</strong> required runbook items covered" in page
    assert "served normally again 1.0 s after the revert" in page
    assert "runbook coverage not available" not in page
    assert "What this report is missing" not in page
    for section in MD_SECTIONS:
        assert section in md
    for step in ("Write post-mortem", "Add monitoring for root cause", "Update the runbook",
                 "Consider additional safeguards"):
        assert step in md
    assert "circuit breakers" in md  # the runbook's Prevention item for a database cause
    assert "1. Check database connectivity: `pg_isready -U qbitel_user -d qbitel`" in md
    assert "runbook item `cause-2.1` (CPU at 100%) is covered by no check" in md
    assert "experiment `oom` ended fail" in md and "lost 3 acknowledged writes" in md


def test_page_is_self_contained(reports):
    write(reports / "triage.json", triage_doc())
    write_all(reports, T0)
    page, _ = render(reports)
    assert "<script" not in page.lower()
    assert not re.search(r"""(?:src|href|xlink:href)\s*=\s*["']?(?:https?:)?//""", page, re.I)
    assert "url(" not in page and "@import" not in page


def test_timeline_merges_load_fault_into_chaos_window_and_finds_changes(reports):
    write(reports / "triage.json", triage_doc())
    write_all(reports, T0)
    tl = timeline.build(load(reports))
    labels = [w.label for w in tl.windows]
    assert labels == ["db-down (stop postgres)", "oom (OOM kill)"]
    texts = [e.text for e in tl.events]
    assert any("database.ready: not failing → fail" in t for t in texts)
    assert sum(t.startswith("[db-down] detected") for t in texts) == 1  # polls are not detections
    assert not any(t.startswith("[oom] detected") for t in texts)
    assert any("remediation: start postgres" in t for t in texts)
    assert any(t.startswith("container die") for t in texts)  # from running.state's recent events
    assert tl.t0 <= T0 + 10 and tl.t1 >= T0 + 97


# --- escaping and masking -------------------------------------------------------------------------

def test_hostile_text_is_escaped_everywhere(reports):
    doc = triage_doc(target=HOSTILE)
    doc["causes"][0]["title"] = HOSTILE
    doc["causes"][0]["evidence"] = [HOSTILE]
    doc["checks"][0]["message"] = HOSTILE
    doc["checks"][0]["evidence"] = {HOSTILE: HOSTILE, "body": {"x": HOSTILE}}
    write(reports / "triage.json", doc)
    write(reports / "chaos.json", [{"id": HOSTILE, "expected_cause": HOSTILE, "verdict": HOSTILE}])
    page, md = render(reports)
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert raw_html_in_markdown(md) == []
    assert "\\<script\\>" in md  # escaped for Markdown renderers that pass HTML through
    for line in md.splitlines():  # a | from the data never adds a table column
        if line.startswith("| ") and "pipe" in line:
            assert "\\|pipe\\|" in line


def test_secrets_in_results_are_masked(reports):
    doc = triage_doc()
    leak = "DATABASE_PASSWORD=hunter2hunter2 dsn postgresql://qbitel_user:s3cr3tvalue@db:5432/qbitel"
    doc["checks"][0]["message"] = leak
    doc["checks"][0]["evidence"] = {"line": leak, "headers": {"Authorization": "Bearer abcdefghijklmnop"}}
    doc["causes"][0]["evidence"] = [leak]
    write(reports / "triage.json", doc)
    page, md = render(reports)
    for secret in ("hunter2hunter2", "s3cr3tvalue", "abcdefghijklmnop"):
        assert secret not in page and secret not in md


# --- missing, partial, corrupt --------------------------------------------------------------------

def test_empty_reports_dir_gives_a_report_that_says_what_is_missing(reports, capsys):
    assert main(["--reports-dir", str(reports)]) == 0
    page = (reports / "postmortem.html").read_text()
    md = (reports / "postmortem.md").read_text()
    assert "What this report is missing" in page
    for name in ("triage.json not found", "chaos.json not found", "load-timeline.json not found"):
        assert name in page and name in md
    assert 'class="banner unknown"' in page and "runbook coverage not available" in page
    for section in MD_SECTIONS:
        assert section in md
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "missing or unreadable: chaos.json, load-timeline.json, triage.json" in out


@pytest.mark.parametrize("name", ["triage.json", "chaos.json", "load-timeline.json", "coverage.json"])
def test_corrupt_file_is_named_not_fatal(reports, name):
    write(reports / "triage.json", triage_doc())
    write(reports / name, '{"verdict": "down", "checks": [')  # cut short mid-write
    page, md = render(reports)
    assert f"{name} is not valid JSON (line 1)" in page
    assert "postmortem" not in name  # the page still has its verdict section
    assert "Service Down post-mortem" in page and "## Summary" in md


@pytest.mark.parametrize("content", ["", "   ", "null", "42", '"text"', "[1, 2]", '{"series": 7}'])
def test_wrong_shapes_never_crash(reports, content):
    for name in ("triage.json", "chaos.json", "load-timeline.json", "coverage.json"):
        write(reports / name, content)
    page, md = render(reports)
    assert "What this report is missing" in page
    assert "could not be drawn" not in page  # every section handled the shape itself
    assert "## Action items" in md


def test_partial_files_are_used_and_noted(reports):
    checks = [check("health.endpoint", "fail", "503"), {"message": "no id"}, 7]
    write(reports / "triage.json", {"checks": checks})
    write(reports / "chaos.json", [{"id": "db-down", "mttd_s": "7.5"}])
    write(reports / "load-timeline.json", {"series": [{"t": T0, "rps": 10, "errors": 5},
                                                      {"t": T0 + 1, "rps": 10, "errors": 0}, {"rps": 3}]})
    inp = load(reports)
    notes = " | ".join(n.text for n in inp.notes)
    assert "no valid verdict" in notes and "2 check entries" in notes
    assert "lack mttr_s" in notes and "lack writes_lost" in notes
    assert "error ratio derived" in notes and "no p95_ms values" in notes
    assert inp.experiments[0]["mttd_s"] == 7.5
    assert [p["error_ratio"] for p in inp.series] == [0.5, 0.0]
    page, _ = render(reports)
    assert "p95 latency (ms): no values" in page and "Throughput" in page
    assert "health.endpoint" in page


def test_locust_history_csv_is_a_fallback_for_the_load_timeline(reports):
    rows = ['"Timestamp","User Count","Type","Name","Requests/s","Failures/s","50%","95%"',
            f'"{int(T0)}","10","","Aggregated","20.0","2.0","30","120"',
            f'"{int(T0) + 1}","10","GET","/health","9.0","0","30","100"',
            f'"{int(T0) + 1}","10","","Aggregated","25.0","0","30","90"']
    (reports / "load_stats_history.csv").write_text("\n".join(rows) + "\n")
    inp = load(reports)
    assert [p["p95_ms"] for p in inp.series] == [120.0, 90.0]
    assert inp.series[0]["error_ratio"] == pytest.approx(0.1)
    assert any("load_stats_history.csv" in n.text for n in inp.notes)


def test_junit_summaries_and_corrupt_junit(reports):
    write(reports / "checks.junit.xml", '<testsuites><testsuite name="pytest" tests="30" failures="4" '
                                        'errors="0" skipped="2" time="3.5"/></testsuites>')
    write(reports / "chaos.junit.xml", "<testsuites><testsuite")
    inp = load(reports)
    assert [(s.file, s.tests, s.failures) for s in inp.suites] == [("checks.junit.xml", 30, 4)]
    assert any(n.source == "chaos.junit.xml" and n.kind == "corrupt" for n in inp.notes)


def test_iso_and_millisecond_times_are_accepted(reports):
    write(reports / "load-timeline.json", {
        "series": [{"t": (T0 + i) * 1000, "rps": 5, "p95_ms": 20, "error_ratio": 0} for i in range(3)],
        "faults": [{"name": "latency", "start": "2026-09-21T12:00:00Z", "end": "2026-09-21T12:00:30+00:00"}]})
    inp = load(reports)
    assert inp.series[0]["t"] == T0
    assert inp.load_faults[0]["end"] - inp.load_faults[0]["start"] == 30


# --- the command -----------------------------------------------------------------------------------

def test_unusable_arguments_exit_2_with_one_line_and_no_traceback(tmp_path):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    for argv in (["--reports-dir", str(tmp_path / "nope")], ["--reports-dir", str(ROOT / "Makefile")],
                 ["--reports-dir", str(tmp_path), "--out", str(tmp_path)]):
        proc = subprocess.run([sys.executable, "-m", "servicedown.report", *argv], capture_output=True,
                              text=True, timeout=60, env=env, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert proc.stderr.startswith("report: ")


def test_out_and_md_paths(reports, tmp_path, capsys):
    out = tmp_path / "deep" / "pm.html"
    assert main(["--reports-dir", str(reports), "--out", str(out)]) == 0
    assert out.exists() and (tmp_path / "deep" / "pm.md").exists()
    assert str(out) in capsys.readouterr().out


def test_rendering_is_fast_for_a_long_load_run(reports):
    base = time.time() - 4000
    write(reports / "triage.json", triage_doc())
    write(reports / "load-timeline.json", {"series": [{"t": base + i, "rps": 50, "p95_ms": 40 + i % 9,
                                                       "error_ratio": 0.0} for i in range(3600)]})
    start = time.monotonic()
    page, _ = render(reports)
    assert time.monotonic() - start < 30.0  # catches a hang, not a speed figure
    assert len(page) < 2_000_000


# --- pytest-html extras ----------------------------------------------------------------------------

PROBE_TEST = '''
import json
def test_probe(request):
    request.node.user_properties.append(("check", json.dumps({
        "id": "health.endpoint", "runbook": "diagnosis-3", "outcome": "fail",
        "message": "HTTP 503 <b>bold</b> password=" + "hunter2" * 2,
        "evidence": {"body": {"status": "unhealthy"}, "matches": ["line one", "line two"]},
        "duration_s": 0.25})))
    assert False, "health failed"
def test_plain():
    pass
'''


def _run_probe(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_probe.py").write_text(PROBE_TEST)
    argv = [sys.executable, "-m", "pytest", "test_probe.py", "-q", "-p", "no:cacheprovider",
            "-p", "servicedown.report.pytest_html_extras", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_pytest_html_gets_each_checks_evidence(tmp_path):
    proc = _run_probe(tmp_path, "--html", "r.html", "--self-contained-html")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the probe test fails on purpose
    page = (tmp_path / "r.html").read_text()
    assert "sd-ev" in page and "health.endpoint (fail)" in page and "col-check" in page
    assert "unhealthy" in page and "line two" in page
    assert "&lt;b&gt;bold" in page.replace("&amp;", "&")  # escaped, then JSON-embedded by pytest-html
    assert "hunter2hunter2" not in page


def test_pytest_html_extras_are_inert_without_html(tmp_path):
    proc = _run_probe(tmp_path, "-p", "no:html")
    assert proc.returncode == 1 and "1 failed, 1 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "PluginValidationError" not in proc.stderr
