"""The mutation score of the triage's rules: mutmut over servicedown/triage.py, causes.py and
diagnosis/, with the unit suite (no Docker) as the killer.

mutmut runs in a copy of the project under the cache (its mutants/ folder never touches the
work tree), and its result is kept there keyed on a hash of everything that decides it (the
mutated sources, the unit tests, the recorded corpus they replay, the mutmut version): a rerun
without changes prints the stored figures at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT

MUTATED = ["servicedown/triage.py", "servicedown/causes.py", "servicedown/diagnosis/*"]
COPIED = ["servicedown", "tests", "docs/architecture.md", "runbooks", "checks", "chaos", "loadtests",
          "scripts", "bench", "compose/monitoring", "conftest.py", "pyproject.toml"]
CACHE = Path(os.environ.get("SERVICEDOWN_CACHE") or Path.home() / ".cache" / "servicedown") / "mutation"
# What mutmut copies beside the mutated package into its mutants/ folder (the tests read them).
ALSO_COPY = ["docs", "runbooks", "checks", "chaos", "loadtests", "scripts", "bench", "compose",
             "conftest.py"]
# Functions that build the checks once, when their module is imported (the log families' and the
# probes' check factories, the registering decorator). mutmut switches mutants on when a function
# is called, and these are called before any mutant is on: no test can kill their mutants (nor
# miss them), so the score leaves them out and says how many (the checks they build run in
# every replay). mutmut's do_not_mutate_patterns does not take a whole function out.
IMPORT_TIME = ("servicedown.diagnosis.logs.x__make__", "servicedown.diagnosis.health.x__make_probe__",
               "servicedown.diagnosis.registry.x_check__")
# Tests that start pytest from another folder: there mutmut's mutated code finds no config of
# its own and fails to import, whatever the mutant. They prove the console script, not a rule.
NOT_UNDER_MUTMUT = ["tests/unit/test_cli.py::test_checks_run_the_suite_from_an_unrelated_folder",
                    # reads the README, which is not copied: its figures change with every bench
                    "tests/unit/test_bench.py::test_the_projects_readme_has_its_table_between_the_markers"]
# The corpus's label and secret tests read what the replay test already pins (the triage's
# answer) or nothing the mutated rules decide: under mutmut they would only double each run.
SAME_AS_REPLAY = ["test_the_triage_agrees_with_the_label", "test_no_secret_value_and_no_private_key"]
PYTEST_ARGS = ["-p", "no:cacheprovider", "-x", "-q",
               *(a for t in NOT_UNDER_MUTMUT for a in ("--deselect", t)),
               "-k", " and ".join(f"not {name}" for name in SAME_AS_REPLAY)]
RUN_TIMEOUT_S = float(os.environ.get("MUTATION_TIMEOUT_S", "5400"))
CONFIG = """
[tool.mutmut]
source_paths = ["servicedown/"]
only_mutate = {only}
also_copy = {copy}
pytest_add_cli_args_test_selection = ["tests/unit"]
pytest_add_cli_args = {pytest_args}
"""


def _files(rel: str) -> list[Path]:
    p = ROOT / rel
    if p.is_file():
        return [p]
    return sorted(f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts)


# This module and the bench that prints its result decide nothing of the run but its
# configuration, which the key takes as written (config_text).
NOT_IN_KEY = {"bench/mutation.py", "bench/bench_triage.py"}


def config_text() -> str:
    return CONFIG.format(only=json.dumps(MUTATED), pytest_args=json.dumps(PYTEST_ARGS),
                         copy=json.dumps(ALSO_COPY))


def key() -> str:
    import mutmut

    h = hashlib.sha256(f"mutmut {getattr(mutmut, '__version__', '?')} {sys.version}".encode())
    h.update(config_text().encode())
    for rel in COPIED:
        for f in _files(rel):
            name = str(f.relative_to(ROOT))
            if name not in NOT_IN_KEY:
                h.update(name.encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:20]


def _workspace(where: Path) -> None:
    if where.exists():
        shutil.rmtree(where)
    for rel in COPIED:
        src, dst = ROOT / rel, where / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dst)
    with (where / "pyproject.toml").open("a") as fh:
        fh.write(config_text())


def run(cache_key: str) -> dict:
    """One mutmut run -> {"killed", "survived", "total", "score", "survivors", "seconds"}."""
    where = CACHE / f"work-{cache_key}"
    try:
        return _run_in(where)
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _run_in(where: Path) -> dict:
    _workspace(where)
    mutmut = Path(sys.executable).with_name("mutmut")
    # The mutants' copy must be the one imported: nothing of the work tree on the path.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    start = time.monotonic()
    try:
        ran = subprocess.run([str(mutmut), "run"], cwd=where, env=env, capture_output=True,
                             text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"mutmut did not finish within {RUN_TIMEOUT_S:.0f}s "
                           "(MUTATION_TIMEOUT_S raises the bound)") from None
    took = time.monotonic() - start
    res = subprocess.run([str(mutmut), "results", "--all", "true"], cwd=where, env=env,
                         capture_output=True, text=True, timeout=300)
    status: dict[str, str] = {}
    for line in res.stdout.splitlines():
        name, _, state = line.strip().rpartition(": ")
        if name and state:
            status[name] = state
    if not status or all(s == "not checked" for s in status.values()):
        # Nothing was tested: the unit suite did not pass under mutmut. Never stored as a score.
        raise RuntimeError(f"mutmut checked no mutant (its test run failed): "
                           f"{(ran.stdout + ran.stderr)[-800:]}")
    killed = sum(s == "killed" for s in status.values())
    counted = {n: s for n, s in status.items() if s in ("killed", "survived", "timeout",
                                                       "suspicious", "no tests")}
    caught = killed + sum(s == "timeout" for s in counted.values())
    survivors = sorted(n for n, s in counted.items() if s in ("survived", "no tests"))
    return {"killed": caught, "total": len(counted), "survivors": survivors,
            "states": _count(status), "seconds": round(took)}


def _count(status: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in status.values():
        out[s] = out.get(s, 0) + 1
    return out


def report(fresh: bool = False) -> list[str]:
    CACHE.mkdir(parents=True, exist_ok=True)
    k = key()
    stored = CACHE / f"{k}.json"
    if stored.exists() and not fresh:
        result = json.loads(stored.read_text())
        how = f"cached run of {result['seconds']}s (sources unchanged)"
    else:
        result = run(k)
        stored.write_text(json.dumps(result, indent=1))
        how = f"ran in {result['seconds']}s"
    left_out = [n for n in result["survivors"] if n.startswith(IMPORT_TIME)]
    survivors = [n for n in result["survivors"] if not n.startswith(IMPORT_TIME)]
    total, killed = result["total"] - len(left_out), result["killed"]
    score = 100 * killed / total if total else 0.0
    raw = 100 * killed / result["total"] if result["total"] else 0.0
    lines = [f"mutation score {score:.0f}% ({killed} of {total} mutants killed; {how})",
             f"left out: {len(left_out)} mutants of the check factories that run at import "
             f"(no test can switch them on); with them: {raw:.0f}% of {result['total']}",
             "states: " + ", ".join(f"{k} {v}" for k, v in sorted(result["states"].items()))]
    if survivors:
        lines.append(f"survivors ({len(survivors)}): " + ", ".join(survivors[:40])
                     + (" ..." if len(survivors) > 40 else ""))
    return lines
