"""The benchmark scripts fail when what they time failed, never time a crash as a result, and
write figures that render into the README's table between its markers.

Commands are stood in for by small scripts that exit as a crash would (pytest's internal
error, a wrong verdict, a timeout, a missing binary); no stack or load generator is needed.
"""

from __future__ import annotations

import json
import stat
import sys
import types
from pathlib import Path

import pytest

from bench import bench_chaos, bench_checks, bench_load, common, render
from bench import run as bench_run
from bench.common import BenchFailed


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.fixture(autouse=True)
def fresh_figures():
    common.FIGURES.clear()
    yield
    common.FIGURES.clear()


# --- run(): the one way a benchmark runs a command ------------------------------------------------
@pytest.mark.parametrize(("body", "expect", "timeout", "said"), [
    ("sys.exit(2)", (0,), 30, "exit code 2, expected 0"),  # a crash
    ("print('INTERNALERROR'); sys.exit(3)", (0, 1), 30, "exit code 3, expected 0 or 1"),
    ("sys.exit(0)", (1,), 30, "exit code 0, expected 1"),  # a fault the checks did not find
    ("import time; time.sleep(30)", (0,), 0.5, "did not end within 0.5 s"),
])
def test_a_command_that_ends_badly_fails_the_benchmark(tmp_path, body, expect, timeout, said):
    with pytest.raises(BenchFailed, match=said):
        common.run([script(tmp_path, "cmd", body)], timeout=timeout, expect=expect, what="the cmd")


def test_a_missing_command_fails_the_benchmark():
    with pytest.raises(BenchFailed, match="could not start"):
        common.run(["/nonexistent/wrk"], what="wrk")


def test_a_command_that_ends_as_expected_is_timed(tmp_path):
    secs, out = common.run([script(tmp_path, "cmd", "print('fine'); sys.exit(1)")], expect=(1,))
    assert secs > 0 and "fine" in out


# --- each script, with what it times crashing ---------------------------------------------------
class FakeStack:
    """The bench's view of a stack; stopping its engine leaves a flag file a stand-in reads."""

    run_id, engine_url = "sdchaos-fake", "http://127.0.0.1:9"

    def __init__(self, flag: Path) -> None:
        self.flag = flag

    def container(self, _service: str) -> types.SimpleNamespace:
        return types.SimpleNamespace(stop=lambda timeout: self.flag.touch(),
                                     start=lambda: self.flag.unlink(missing_ok=True))

    def wait_engine_healthy(self, _timeout: float) -> tuple[bool, str]:
        return True, "healthy"


def fake_ctx(tmp_path: Path) -> types.SimpleNamespace:
    stack = FakeStack(tmp_path / "engine-stopped")
    return types.SimpleNamespace(stack=lambda: stack)


@pytest.mark.parametrize("crash", ["sys.exit(2)", "sys.exit(4)", "raise SystemExit(-9)"])
def test_bench_checks_fails_when_pytest_checks_crashes(tmp_path, monkeypatch, crash):
    monkeypatch.setattr(bench_checks, "PY", script(tmp_path, "py", crash))
    with pytest.raises(BenchFailed, match="pytest checks/ against the healthy stack: exit code"):
        bench_checks.main(fake_ctx(tmp_path))
    assert not [f for f in common.FIGURES if f.status == "measured"]


def test_bench_checks_fails_when_a_broken_stack_passes(tmp_path, monkeypatch):
    """Exit 0 with the engine stopped means the checks missed the fault: not a figure."""
    monkeypatch.setattr(bench_checks, "PY", script(tmp_path, "py", "sys.exit(0)"))
    with pytest.raises(BenchFailed, match="engine stopped: exit code 0, expected 1"):
        bench_checks.main(fake_ctx(tmp_path))
    assert [f.key for f in common.FIGURES] == ["checks.healthy"]


def test_bench_checks_times_runs_that_end_as_expected(tmp_path, monkeypatch):
    # The stand-in ends as pytest would: 0 against the healthy stack, 1 against a broken one.
    flag = tmp_path / "engine-stopped"
    body = (f"import os\nbroken = os.path.exists({str(flag)!r}) or not sys.argv[-1].endswith(':9')\n"
            "sys.exit(1 if broken else 0)")
    monkeypatch.setattr(bench_checks, "PY", script(tmp_path, "py", body))
    bench_checks.main(fake_ctx(tmp_path))
    assert [f.key for f in common.FIGURES] == ["checks.healthy", "checks.engine_stopped",
                                               "checks.black_holed"]
    assert all(len(f.values["samples_s"]) == bench_checks.RUNS for f in common.FIGURES)


WRK_OUT = """Running 15s test @ http://127.0.0.1:1/health/live
  2 threads and 64 connections
  Latency Distribution
     99%    4.10ms
  {n} requests in 15.00s, 1.0MB read
{extra}Requests/sec:  {rps}
"""


@pytest.mark.parametrize(("extra", "code", "said"), [
    ("  Non-2xx or 3xx responses: 12\n", 0, "12 non-2xx answers"),
    ("  Socket errors: connect 0, read 3, write 0, timeout 5\n", 0, "8 socket errors"),
    ("", 1, "exit code 1"),
])
def test_wrk_errors_fail_the_benchmark(tmp_path, extra, code, said):
    out = WRK_OUT.format(n=1000, extra=extra, rps="66.6")
    wrk = script(tmp_path, "wrk", f"print({out!r}); sys.exit({code})")
    with pytest.raises(BenchFailed, match=said):
        bench_load.wrk(wrk, "http://127.0.0.1:1/health/live", 0.0)


def test_wrk_without_a_throughput_line_fails(tmp_path):
    wrk = script(tmp_path, "wrk", "print('unable to connect to 127.0.0.1:1 Connection refused')")
    with pytest.raises(BenchFailed, match="no throughput"):
        bench_load.wrk(wrk, "http://127.0.0.1:1/", 0.0)


def test_wrk_within_the_allowed_errors_gives_its_throughput(tmp_path):
    out = WRK_OUT.format(n=100000, extra="  Socket errors: connect 0, read 0, write 0, timeout 9\n",
                         rps="6666.6")
    wrk = script(tmp_path, "wrk", f"print({out!r})")
    rps, detail = bench_load.wrk(wrk, "http://127.0.0.1:1/", 0.01)
    assert rps == 6666.6 and "errors 9" in detail


def test_locust_failures_fail_the_benchmark(tmp_path, monkeypatch):
    """A Locust run whose requests failed is not a throughput."""
    result = {"num_requests": 100, "num_failures": 7, "start_time": 1.0, "last_request_timestamp": 2.0}
    body = ("import json, pathlib\nif '--json-file' in sys.argv:\n"
            f"    pathlib.Path(sys.argv[sys.argv.index('--json-file') + 1] + '.json').write_text("
            f"json.dumps([{result!r}]))")
    monkeypatch.setattr(bench_load, "PY", script(tmp_path, "py", body))
    with pytest.raises(BenchFailed, match="7 of 100 requests failed"):
        bench_load.locust(tmp_path, "http://127.0.0.1:1")


def test_a_capacity_step_that_crashes_fails_the_benchmark(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_load, "PY", script(tmp_path, "py", "sys.exit(2)"))
    with pytest.raises(BenchFailed, match="the real mix at 20 users: exit code 2"):
        bench_load.capacity(tmp_path, "http://127.0.0.1:1")


def test_bench_chaos_fails_when_the_chaos_suite_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_chaos, "PY", script(tmp_path, "py", "sys.exit(1)"))
    with pytest.raises(BenchFailed, match="pytest chaos/: exit code 1"):
        bench_chaos.main(fake_ctx(tmp_path))
    assert not common.FIGURES


# --- the server Locust's cost is measured against ----------------------------------------------
def test_the_static_server_answers_its_json_and_stops():
    """Debian's nginx, unpacked into the cache when not installed: a fixed JSON answer on every
    path, keep-alive, and nothing listening once the block ends."""
    import httpx

    from bench.static_server import BODY, static_server

    with static_server() as url, httpx.Client(timeout=5) as client:
        answers = [client.get(url + path) for path in ("/health/live", "/", "/x")]
        port = int(url.rsplit(":", 1)[1])
    assert all(a.status_code == 200 and a.text == BODY for a in answers)
    assert json.loads(BODY)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


# --- the whole run: exit code and bench.json ----------------------------------------------------
def test_a_failed_section_makes_the_run_fail_and_says_so_in_the_json(tmp_path, monkeypatch):
    good = types.ModuleType("bench_fake_good")
    good.main = lambda ctx: common.record("fake.figure", "a figure", "1.0 s", "≤ 2 s", seconds=1.0)
    bad = types.ModuleType("bench_fake_bad")

    def crash(ctx):
        common.run([script(tmp_path, "cmd", "sys.exit(2)")], what="the timed thing")

    bad.main = crash
    monkeypatch.setitem(sys.modules, "bench_fake_good", good)
    monkeypatch.setitem(sys.modules, "bench_fake_bad", bad)
    monkeypatch.setattr(bench_run, "SECTIONS", [("bench_fake_good", False), ("bench_fake_bad", False)])
    out = tmp_path / "bench.json"
    assert bench_run.main(["--out", str(out)]) == 1
    doc = json.loads(out.read_text())
    assert doc["complete"] is False
    assert [(f["key"], f["status"]) for f in doc["figures"]] == [
        ("fake.figure", "measured"), ("bench_fake_bad.error", "failed")]
    assert "exit code 2" in doc["figures"][1]["text"]
    assert doc["machine"]["cores"] and doc["machine"]["kernel"] and doc["date"]
    with pytest.raises(render.RenderError, match="incomplete run"):
        render.table(doc)


def test_a_run_where_everything_passed_is_complete(tmp_path, monkeypatch):
    good = types.ModuleType("bench_fake_good")
    good.main = lambda ctx: common.record("fake.figure", "a figure", "1.0 s", "≤ 2 s", seconds=1.0)
    monkeypatch.setitem(sys.modules, "bench_fake_good", good)
    monkeypatch.setattr(bench_run, "SECTIONS", [("bench_fake_good", False)])
    out = tmp_path / "bench.json"
    assert bench_run.main(["--out", str(out)]) == 0
    assert json.loads(out.read_text())["complete"] is True


# --- the README's table ------------------------------------------------------------------------
DOC = {"date": "2026-12-01T21:00:00+00:00", "complete": True, "sections": ["bench_checks"],
       "machine": {"cores": 2, "memory_gib": 23.5, "kernel": "6.1.0", "os": "Debian GNU/Linux 12",
                   "commit": "abc1234567"},
       "load_average_start": [1.5, 1.0, 0.5], "load_average_end": [2.0, 1.0, 0.5],
       "figures": [{"key": "checks.healthy", "label": "`pytest checks/`, healthy", "text": "median 1.22 s",
                    "target": "≤ 3 s", "status": "measured", "values": {}}]}
README = "# title\n\ntext before\n\n<!-- figures:begin -->\n| old | table |\n<!-- figures:end -->\n\nafter\n"


def test_the_table_is_rendered_between_the_markers_and_nothing_else_changes():
    out = render.render(README, DOC)
    assert out.startswith("# title\n\ntext before\n\n<!-- figures:begin -->\n")
    assert out.endswith("<!-- figures:end -->\n\nafter\n")
    assert "| old | table |" not in out
    assert "| `pytest checks/`, healthy | median 1.22 s | ≤ 3 s |" in out
    assert "2026-12-01" in out and "2 cores" in out and "23.5 GiB" in out and "kernel 6.1.0" in out
    assert render.render(out, DOC) == out  # rendering again changes nothing


@pytest.mark.parametrize("readme", ["no markers", "<!-- figures:end -->\n<!-- figures:begin -->",
                                    "<!-- figures:begin -->\n<!-- figures:begin -->\n<!-- figures:end -->"])
def test_markers_missing_or_out_of_order_are_refused(readme):
    with pytest.raises(render.RenderError, match="exactly one"):
        render.render(readme, DOC)


def test_render_cli_writes_then_checks(tmp_path):
    readme, doc = tmp_path / "README.md", tmp_path / "bench.json"
    readme.write_text(README)
    doc.write_text(json.dumps(DOC))
    args = ["--json", str(doc), "--readme", str(readme)]
    assert render.main([*args, "--check"]) == 1
    assert render.main(args) == 0
    assert render.main([*args, "--check"]) == 0
    assert render.main(["--json", str(tmp_path / "none.json"), "--readme", str(readme)]) == 2


def test_the_projects_readme_has_its_table_between_the_markers():
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    inside = text.split(render.BEGIN, 1)[1].split(render.END, 1)[0]
    assert "| figure | measured | target |" in inside


def test_a_failing_chaos_suite_is_named_by_its_failed_tests(tmp_path, monkeypatch):
    out = ("FAILED chaos/test_experiments.py::test_experiment[crash] - Failed: [crash] SI...\n"
           "FAILED chaos/test_cleanup.py::test_a_failing_run_leaves_nothing - assert\n"
           "2 failed, 20 passed in 429.20s (0:07:09)")
    monkeypatch.setattr(bench_chaos, "PY", script(tmp_path, "py", f"print({out!r}); sys.exit(1)"))
    with pytest.raises(BenchFailed) as info:
        bench_chaos.main(fake_ctx(tmp_path))
    assert str(info.value) == ("pytest chaos/ failed (2 failed, 20 passed in 429.20s (0:07:09)): "
                               "test_experiment[crash], test_a_failing_run_leaves_nothing")


def test_a_runbook_read_that_overruns_or_crashes_is_a_failure_not_a_time(tmp_path, monkeypatch):
    from bench import bench_runbook

    assert bench_runbook.main(["--repeats", "10", "--no-2mb", "--timeout", "0.001"]) == 1
    assert common.FIGURES and all(f.status == "failed" and "did not finish" in f.text
                                  for f in common.FIGURES)
    common.FIGURES.clear()
    monkeypatch.setattr(bench_runbook.sys, "executable", script(tmp_path, "py", "sys.exit(3)"))
    bench_runbook.timed_read("k", "a case", "# R\n", 30)
    assert [(f.status, f.text) for f in common.FIGURES] == [("failed", "FAILED: exit 3: no output")]
