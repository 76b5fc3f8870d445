"""Runbook Diagnosis 2: "Check recent logs", one check per pattern family of logscan.py."""

from __future__ import annotations

from servicedown.diagnosis.context import Context
from servicedown.diagnosis.registry import Finding, bad, check, ok
from servicedown.probes import logscan

CMD = ("docker-compose logs --tail=100 qbitel-engine | kubectl logs -l app=qbitel-engine"
       " -n qbitel --tail=100 | journalctl -u qbitel -n 100")
QUOTED = 5  # lines quoted in a failure message; all matches go to the evidence

TITLES = {
    "logs.stack_trace": ("cause-1.1", "no stack traces or uncaught exceptions"),
    "logs.oom": ("cause-1.2", "no out-of-memory errors"),
    "logs.config_error": ("cause-1.3", "no configuration errors"),
    "logs.validation": ("cause-4.1", "no CRITICAL startup validation failures"),
    "logs.db_error": ("cause-3", "no database connection errors"),
    "logs.disk_full": ("cause-2.3", "no 'No space left on device'"),
    "logs.fd_limit": ("cause-2.4", "no 'Too many open files'"),
    "logs.tls_error": ("cause-4.3", "no TLS or certificate errors"),
}


def _make(check_id: str, runbook: str, title: str) -> None:
    def run(ctx: Context) -> Finding:
        lines = ctx.raw_logs()
        hits = ctx.log_hits().get(check_id, [])
        scanned = {"lines_scanned": len(lines)}
        if not hits:
            return ok(f"none in the last {len(lines)} log lines", **scanned)
        quoted = [f"line {m.line_no}: {m.text}" for m in hits[-QUOTED:]]
        return bad(f"{len(hits)} matching line(s) in the last {len(lines)}:\n  "
                   + "\n  ".join(quoted), matches=[m.text for m in hits], **scanned)

    run.__name__ = check_id.replace(".", "_")
    check(check_id, f"diagnosis-2,{runbook}", title, CMD)(run)


# One check per logs.* id the pattern table feeds; a family missing a title is a bug.
for _id in logscan.CHECKS:
    _make(_id, *TITLES[_id])
