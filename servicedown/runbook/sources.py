"""What declares runbook coverage: tests' markers, chaos experiments, and the last chaos results.

Tests declare meanings (servicedown/meanings.py) with `@pytest.mark.runbook("<meaning id>")`
(on the function, the class or the module's `pytestmark`) and name the check they assert with
`expect("<check id>")`; both are read from the source (ast), so the command line needs no
pytest session. Chaos experiments are data in `servicedown.chaos.experiments`: each stands for
its expected cause, and one whose remedy is the platform restart also for `step:restart`.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servicedown.chaos.experiments import EXPERIMENTS

# An experiment whose remedy is the runbook's Quick Fix also proves that step (and times it).
REMEDIATION_ITEMS: dict[str, tuple[str, ...]] = {"platform-restart": ("step:restart",)}


class SourceError(ValueError):
    """An input file that was given cannot be used; the message says why."""


@dataclass(frozen=True)
class TestRef:
    __test__ = False  # a record, not a test class for pytest to collect
    nodeid: str
    items: tuple[str, ...]  # runbook item ids of its markers
    checks: tuple[str, ...]  # check ids it expects


@dataclass(frozen=True)
class Experiment:
    id: str
    expected_cause: str
    runbook: tuple[str, ...] = ()  # items it declares itself, besides its cause's


@dataclass(frozen=True)
class ChaosResult:
    id: str
    expected_cause: str
    mttd_s: float | None
    mttr_s: float | None
    verdict: str
    remediation: str = ""


def split_ids(value: Any) -> tuple[str, ...]:
    """'diagnosis-2,cause-1.1' or ('a', 'b, c') -> ('diagnosis-2', 'cause-1.1')."""
    if value is None:
        return ()
    parts = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)]
    return tuple(p.strip() for part in parts for p in part.split(",") if p.strip())


# --- tests ---
def scan_tests(paths: Iterable[Path], root: Path) -> tuple[list[TestRef], list[str]]:
    refs: list[TestRef] = []
    notes: list[str] = []
    for path in paths:
        files = sorted(path.rglob("test_*.py")) if path.is_dir() else [path] if path.is_file() else []
        for f in files:
            try:
                tree = ast.parse(f.read_text(encoding="utf-8"), str(f))
            except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as exc:
                notes.append(f"{f}: not read ({type(exc).__name__}: {exc})")
                continue
            rel = f.relative_to(root) if f.is_relative_to(root) else f
            refs.extend(_tests_of_module(tree, str(rel)))
    return refs, notes


def _tests_of_module(tree: ast.Module, prefix: str) -> Iterator[TestRef]:
    module_marks = _pytestmark(tree.body)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            class_marks = module_marks + _marks(node.decorator_list) + _pytestmark(node.body)
            for fn in node.body:
                if _is_test(fn):
                    yield _ref(f"{prefix}::{node.name}::{fn.name}", fn, class_marks)
        elif _is_test(node):
            yield _ref(f"{prefix}::{node.name}", node, module_marks)


def _is_test(node: ast.AST) -> bool:
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")


def _ref(nodeid: str, fn: ast.FunctionDef | ast.AsyncFunctionDef, inherited: list[str]) -> TestRef:
    items = tuple(dict.fromkeys(inherited + _marks(fn.decorator_list)))
    return TestRef(nodeid, items, tuple(expected_checks(fn)))


def _pytestmark(body: list[ast.stmt]) -> list[str]:
    for stmt in body:
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets):
            value = stmt.value
            return _marks(value.elts if isinstance(value, ast.List | ast.Tuple) else [value])
    return []


def _marks(exprs: Iterable[ast.expr]) -> list[str]:
    """Item ids of `pytest.mark.runbook("...")` calls among these expressions."""
    out: list[str] = []
    for e in exprs:
        if (isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.func.attr == "runbook"
                and isinstance(e.func.value, ast.Attribute) and e.func.value.attr == "mark"):
            out += [i for a in e.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
                    for i in split_ids(a.value)]
    return out


def expected_checks(fn: ast.AST) -> list[str]:
    """Check ids of the `expect("<check id>")` calls in a test function."""
    found: list[str] = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and node.args:
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            arg = node.args[0]
            if name == "expect" and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append(arg.value)
    return list(dict.fromkeys(found))


def checks_of_function(func: Any) -> list[str]:
    """expect(...) check ids of a live test function (for the pytest plugin)."""
    try:
        return expected_checks(ast.parse(textwrap.dedent(inspect.getsource(func))))
    except (OSError, TypeError, SyntaxError, ValueError):
        return []


# --- chaos experiments (data, another module's shape) ---
def _field(obj: Any, *names: str) -> Any:
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _cause_id(value: Any) -> str:
    if isinstance(value, str):
        return value
    return str(getattr(value, "id", "") or "")


def project_experiments() -> list[Experiment]:
    """The chaos harness's experiments (servicedown/chaos/experiments.py) as the matrix reads them."""
    return experiments_from(EXPERIMENTS)


def experiments_from(values: Iterable[Any]) -> list[Experiment]:
    """Rows with an id and an expected cause (objects or dicts); others are left out."""
    out = []
    for v in values:
        eid, cause = _field(v, "id", "name"), _cause_id(_field(v, "expected_cause", "cause"))
        if isinstance(eid, str) and cause:
            remedy = REMEDIATION_ITEMS.get(str(_field(v, "remediation") or ""), ())
            out.append(Experiment(eid, cause, split_ids(_field(v, "runbook")) + remedy))
    return out


# --- the last chaos results ---
def load_results(path: str | Path | None) -> tuple[list[ChaosResult], list[str]]:
    """reports/chaos.json: a list, or {"experiments": [...]}. Missing file -> a note."""
    if path is None:
        return [], []
    p = Path(path)
    if not p.exists():
        return [], [f"no chaos results at {p}: MTTD/MTTR columns empty (run the chaos suite)"]
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{p}: cannot read the chaos results ({exc})") from None
    except json.JSONDecodeError as exc:
        raise SourceError(f"{p}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    rows = doc.get("experiments") if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        raise SourceError(f"{p}: expected a list of experiment results or "
                          '{"experiments": [...]}')
    out = []
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("id"), str):
            out.append(ChaosResult(row["id"], _cause_id(row.get("expected_cause")),
                                   _seconds(row.get("mttd_s")), _seconds(row.get("mttr_s")),
                                   str(row.get("verdict") or ""), str(row.get("remediation") or "")))
    return out, []


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
