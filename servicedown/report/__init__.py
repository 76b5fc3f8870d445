"""The post-mortem report: one self-contained HTML page and a Markdown draft, from whatever
result files `reports/` holds (triage, chaos, load timeline, runbook coverage, JUnit).

Modules: `load` (reads the files leniently and says what is missing), `timeline` (one time
axis: fault windows, check state changes, restarts), `charts` (inline SVG), `html`, `markdown`,
`pytest_html_extras` (evidence attached to each check in pytest-html's report).
"""
