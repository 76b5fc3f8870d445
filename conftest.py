"""Loads the project's pytest layer (options, diagnosis fixtures, triage summary)."""

pytest_plugins = ("servicedown.pytest_plugin", "servicedown.report.pytest_html_extras",
                  "servicedown.runbook.pytest_plugin")
