"""Runbook Diagnosis 2: "Check recent logs", one check per pattern family of logscan.py."""

from __future__ import annotations

from typing import Any

from servicedown import states
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.database import answers_the_engine
from servicedown.diagnosis.registry import Finding, bad, check, ok
from servicedown.healthy import is_healthy
from servicedown.probes import logscan
from servicedown.schema import iso
from servicedown.states import clock
from servicedown.targets.base import CURRENT, EARLIER

CMD = ("docker-compose logs --tail=100 qbitel-engine | kubectl logs -l app=qbitel-engine"
       " -n qbitel --tail=100 | journalctl -u qbitel -n 100")
QUOTED = 5  # lines quoted in a failure message; all matches go to the evidence
STACK_TRACE = "logs.stack_trace"
QUIET_S = 60.0  # matching lines stopped this long ago, and the service serves: healed
# Database errors are healed sooner: once the database takes the engine's own login again and
# the engine serves (its /health counts the database where it reports it), the probe proves the
# recovery that a quiet minute would only suggest. The lines before that are history.
DB_QUIET_S = 0.0
DB_ERROR = "logs.db_error"
NOT_A_CRASH = "the process runs on: it did not exit"  # causes.py reads this phrase

TITLES = {
    "logs.stack_trace": ("crash", "no stack traces or uncaught exceptions"),
    "logs.oom": ("oom", "no out-of-memory errors"),
    "logs.config_error": ("config-invalid", "no configuration errors"),
    "logs.validation": ("config-invalid", "no CRITICAL startup validation failures"),
    "logs.db_error": ("category:database", "no database connection errors"),
    "logs.disk_full": ("disk-full", "no 'No space left on device'"),
    "logs.fd_limit": ("fd-limit", "no 'Too many open files'"),
    "logs.tls_error": ("tls", "no TLS or certificate errors"),
}


def _make(check_id: str, runbook: str, title: str) -> None:
    def run(ctx: Context) -> Finding:
        scan = ctx.log_scan()
        hits = scan.hits.get(check_id, [])
        if _loop_goes_on(ctx):  # the run that just ended is this incident, not history
            now, before = hits, []
        else:
            now = [m for m in hits if m.run != EARLIER]
            before = [m for m in hits if m.run == EARLIER]
        ev: dict[str, Any] = {"lines_scanned": scan.lines}
        if scan.noise_blocks:
            ev["noise_blocks_set_aside"] = scan.noise_blocks
        history = _history(before)
        if history:
            ev["earlier_runs"] = [_quote(m) for m in before[-QUOTED:]]
            if ctx.serving_now():  # recovered from: history; else context of a run that ended
                ev["history"] = [history]
        if not now:
            where = "since the last start" if any(m.run != "unknown" for m in hits) or before \
                else f"in the last {scan.lines} log lines"
            return ok(f"none {where}" + (f"; {history}" if history else ""), **ev)
        ev["matches"] = [m.text for m in now]
        times = [m.time for m in now if m.time is not None]
        if times:  # when the service began to say so, on the platform's clock
            ev["first_at"] = iso(min(times))
        quoted = "\n  ".join(_quote(m) for m in now[-QUOTED:])
        healed = _healed(ctx, check_id, now)
        if healed:
            ev["history"] = [healed, *ev.get("history", [])]
            return ok(f"{healed}:\n  {quoted}", **ev)
        head = f"{len(now)} matching line(s) since the last start" if any(m.run == CURRENT for m in now) \
            else f"{len(now)} matching line(s) in the last {scan.lines}"
        if check_id == STACK_TRACE:
            excused = _serving_fine(ctx)
            if excused:
                return ok(f"{head}, while {excused}: reported, not a crash:\n  {quoted}", **ev)
            if _runs_on(ctx):
                # Failing requests, each with its traceback: evidence of what fails, not of a crash.
                return bad(f"{head}, while {NOT_A_CRASH} (failing requests):\n  {quoted}", **ev)
        return bad(f"{head}:\n  {quoted}", **ev)

    run.__name__ = check_id.replace(".", "_")
    check(check_id, f"step:recent-logs,{runbook}", title, CMD)(run)


def _quote(m: logscan.Match) -> str:
    if logscan.line_time(m.text) is not None:  # the line says its own time
        return m.text
    when = f"{clock(m.time)} " if m.time is not None else f"line {m.line_no}: "
    return f"{when}{m.text}"


def _history(before: list[logscan.Match]) -> str:
    if not before:
        return ""
    last = before[-1]
    at = f", the last at {clock(last.time)}" if last.time is not None else ""
    return f"earlier runs: {len(before)} matching line(s){at}, none since the last start"


def _loop_goes_on(ctx: Context) -> bool:
    """Crash-looping, or restarted after an exit and not serving since: a restart loop that is
    still going on is not history, and its current run may be too young to have said why."""
    try:
        st = ctx.state()
    except Exception:
        return False
    if st.how == states.CRASH_LOOPING or st.restarting:
        return True
    return st.last_exit is not None and st.how == states.STARTING and not ctx.serving_now()


def _healed(ctx: Context, check_id: str, now: list[logscan.Match]) -> str:
    """Lines of the current run that stopped QUIET_S ago while the service serves again (database
    errors: DB_QUIET_S ago, with the database taking the engine's login again): a blip that
    healed, history rather than this incident."""
    times = [m.time for m in now if m.time is not None]
    if not times or len(times) < len(now):
        return ""
    last = max(times)
    quiet = ctx.target.now() - last
    if quiet < (DB_QUIET_S if check_id == DB_ERROR else QUIET_S) or not ctx.serving_now():
        return ""
    if quiet < QUIET_S:
        if not answers_the_engine(ctx):
            return ""
        return (f"{len(now)} matching line(s) until {clock(last)}, none since: the database takes "
                "the engine's login again and it serves")
    return f"{len(now)} matching line(s) until {clock(last)}, none since (it serves again)"


def _runs_on(ctx: Context) -> bool:
    """The process runs, as it did when these lines of its current run were written."""
    try:
        st = ctx.state()
    except Exception:
        return False
    return st.exists and st.running and st.how in ("", states.RUNNING, states.STARTING)


def _serving_fine(ctx: Context) -> str:
    """Why a traceback of the current run is not crash evidence: the process did not exit after
    it and health holds now. Empty when either cannot be said (then it counts)."""
    try:
        st = ctx.state()
    except Exception:  # a platform that cannot tell its state (a URL): health alone decides
        st = None
    if st is not None and not (st.exists and st.running):
        return ""
    a = ctx.http_get("/health")
    if not is_healthy(a.status, a.body):
        return ""
    return "the process runs and /health is healthy" if st is not None else "/health is healthy"


# One check per logs.* id the pattern table feeds; a family missing a title is a bug.
for _id in logscan.CHECKS:
    _make(_id, *TITLES[_id])
