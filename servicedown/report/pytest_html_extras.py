"""pytest-html: each check's evidence (message, state, log excerpt, health body, timings) attached
to its row, and a Check column naming the runbook check a test asserts.

The evidence comes from the `("check", json)` user property the `expect` fixture adds. Without
`--html` every hook returns at once and nothing heavier than this module is imported.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

import pytest
from pytest_html import extras

from servicedown.redact import redact
from servicedown.report.evidence import check_fragment

_STYLE = ("<style>.sd-ev pre{white-space:pre-wrap;word-break:break-word;max-height:320px;overflow:auto;"
          "background:#f6f8fa;padding:6px}.sd-ev dl{display:grid;grid-template-columns:max-content 1fr;"
          "gap:2px 12px}.sd-ev dt{color:#57606a}.sd-ev dd{margin:0}.sd-ev .pill{border-radius:8px;"
          "padding:0 6px;color:#fff;background:#8c959f}.sd-ev .pill.pass{background:#1a7f37}"
          ".sd-ev .pill.fail{background:#cf222e}.sd-ev .pill.error{background:#bc4c00}</style>")


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("htmlpath", None))


def check_of(report: Any) -> dict[str, Any] | None:
    """The check result a test recorded (the last one, if it asserted several), or None."""
    for name, value in reversed(getattr(report, "user_properties", []) or []):
        if name != "check":
            continue
        try:
            doc = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            return {"id": "?", "outcome": "unknown", "message": redact(value), "evidence": {}}
        return doc if isinstance(doc, dict) else None
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.when != "call" or not _active(item.config):
        return report
    check = check_of(report)
    if check is None:
        return report
    report.extras = [*getattr(report, "extras", []),
                     extras.html(f'<div class="sd-ev">{_STYLE}{check_fragment(check)}</div>')]
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells: list[str]) -> None:
    cells.insert(2, '<th class="sortable" data-column-type="check">Check</th>')


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report: Any, cells: list[str]) -> None:
    check = check_of(report)
    label = "" if check is None else f"{check.get('id', '?')} ({check.get('outcome', '?')})"
    cells.insert(2, f'<td class="col-check">{escape(redact(label))}</td>')
