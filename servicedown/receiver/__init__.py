"""`servicedown serve`: the Alertmanager webhook receiver that turns an alert into a triage.

When ServiceDown or a related alert fires, Alertmanager posts the notification here; the receiver
maps the alert's labels to a configured target (a label selects one, never defines one), runs the
checks and the triage against it (one run at a time per target, a bounded queue), writes the
incident under reports/incidents/<id>/ and posts a short summary where its config says. The same
process serves the checks as Prometheus gauges (/metrics) and the last run's verdict (/healthz).

Modules: `config` (the config file and its checks), `payload` (Alertmanager's webhook JSON, bad
input as one reason), `incidents` (ids, the incident log, the files), `summary` (the text for a
terminal and a chat), `scheduler` (the queue and one run per target), `jobs` (one run: checks,
triage, remediation where allowed, files, summary), `metrics`, `poster` (the summary's webhook),
`server` (HTTP: token, limits, TLS), `app` (all of it wired, and the command).
"""
