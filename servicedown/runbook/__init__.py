"""Runbook coverage: the runbook itself as the test plan.

`reader` turns a Markdown runbook (the shape of the QBITEL "Service Down" runbook) into items
with stable ids; `coverage` maps each item to the checks, tests, causes and chaos experiments
that cover it; `pytest_plugin` adds `pytest --runbook PATH`; `__main__` is the command line
(`python -m servicedown.runbook coverage PATH`).
"""

from servicedown.runbook.reader import Item, Runbook, RunbookError, parse_runbook, read_runbook

__all__ = ["Item", "Runbook", "RunbookError", "parse_runbook", "read_runbook"]
