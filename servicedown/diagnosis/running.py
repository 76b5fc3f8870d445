"""Runbook Diagnosis 1: "Check if the service is running" (container, unit or pod state).

The checks say exactly how the service is not running (states.py: stopped or killed on
request, crashed, OOM-killed, failed at start, crash-looping, paused; on Kubernetes also
partly serving, not ready, evicted, unschedulable, unable to pull its image, scaled to 0),
each with its evidence and its time. An exit the service has since recovered from (it runs
again, not looping, /health healthy) is history: reported, not failed.
"""

from __future__ import annotations

from servicedown import states
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.registry import Finding, bad, check, not_applicable, ok, skip
from servicedown.targets.base import ServiceState

CMD = ("docker-compose ps qbitel-engine | kubectl get pods -l app=qbitel-engine -n qbitel"
       " | systemctl status qbitel")


def _ev(st: ServiceState, **more: object) -> dict:
    return st.evidence() | more


@check("running.exists", "step:service-running", "the service exists on its platform", CMD)
def exists(ctx: Context) -> Finding:
    st = ctx.state()
    if not st.exists:
        return bad(st.how_detail or st.detail.get("problem", "the service does not exist"), **_ev(st))
    return ok(f"{ctx.target.describe()} exists", **_ev(st))


@check("running.state", "step:service-running", "the service is running", CMD)
def state(ctx: Context) -> Finding:
    st = ctx.state()
    if not st.exists:
        return bad(f"not running: {st.how_detail or 'the service does not exist'}", **_ev(st))
    if st.how in states.DOWN_STATES:
        lead = "not serving" if st.running else "not running"
        return bad(f"{lead}: {st.how_detail}", **_ev(st))
    if st.how == states.PARTIAL:
        return ok(f"running, partly: {st.how_detail}", **_ev(st))
    if st.how == states.STARTING:
        return ok(f"running, starting: {st.how_detail}", **_ev(st))
    if st.restarting or not st.running:
        how = f", last exit code {st.exit_code}" if st.exit_code is not None else ""
        return bad(f"not running: status '{st.status}'{how}", **_ev(st))
    history = _history(ctx, st)
    if history:
        return ok(f"running ({st.how_detail or st.status})", **_ev(st, history=st.history))
    return ok(f"running ({st.how_detail or st.status})", **_ev(st))


@check("running.health", "step:service-running", "the platform's own health status is healthy", CMD)
def platform_health(ctx: Context) -> Finding:
    st = ctx.state()
    if not st.exists:
        return not_applicable("no health status: the service does not exist", **_ev(st))
    if st.health is None:
        return not_applicable("the platform keeps no health status for this service", **_ev(st))
    if st.health == "healthy":
        return ok("platform health status: healthy", **_ev(st))
    if st.health == "starting":
        return bad("platform health status: starting (not yet passed its healthcheck)", **_ev(st))
    if st.how == states.PARTIAL:
        return bad(f"platform health status: {st.health}: {st.how_detail}", **_ev(st))
    return bad(f"platform health status: {st.health}" + (f" ({st.status})" if st.status else ""),
               **_ev(st))


def _history(ctx: Context, st: ServiceState) -> str:
    """The exits of the window as history, when the service has recovered from them: it serves
    again, or the run since has lasted past a start (LOOP_RUN_S) without looping. An exit that
    a minute-long run followed did not end that run: whatever fails now is something else (an
    OOM kill at 20:07 does not explain a database cut at 20:12)."""
    if not st.history:
        return ""
    settled = st.running and st.how not in (states.CRASH_LOOPING, states.PARTIAL) and \
        (st.uptime_s or 0) >= states.LOOP_RUN_S
    return "; ".join(st.history) if settled or ctx.serving_now() else ""


@check("running.restarts", "step:service-running", "no restart loop and no recent crash", CMD)
def restarts(ctx: Context) -> Finding:
    st = ctx.state()
    if not st.exists:
        return not_applicable("the service does not exist")
    if st.how == states.CRASH_LOOPING:
        return bad(st.how_detail, **_ev(st))
    if st.restarting:
        return bad(f"restarting now (restart count {st.restart_count}): {st.how_detail}", **_ev(st))
    unasked = [e for e in st.exits if not e.requested and e.code not in (0, None)]
    history = _history(ctx, st)
    if history:
        return ok(f"no restart since it recovered ({history})", **_ev(st))
    if unasked:
        last = unasked[-1]
        return bad(f"exited {len(unasked)} time(s) in the last {_window(ctx)}, last {last.words()} "
                   f"at {states.clock(last.at)}; "
                   f"{st.how_detail or 'not settled since'}", **_ev(st))
    return ok(f"no recent restarts (restart count {st.restart_count or 0})", **_ev(st))


@check("running.exit_code", "step:service-running,crash", "the last exit was clean", CMD)
def exit_code(ctx: Context) -> Finding:
    st = ctx.state()
    if not st.exists:
        return not_applicable("the service does not exist")
    last = st.last_exit
    if last is None:
        if st.running:
            return ok("running; no exit recorded", **_ev(st))
        return ok(f"not running, no exit recorded ({st.how_detail})", **_ev(st))
    history = _history(ctx, st)
    if history:
        return ok(f"the last exit is history: {history}", **_ev(st))
    if last.requested and last.code in (0, 143, 137):
        return ok(f"the last exit was on request: {last.requested}, {last.words()}", **_ev(st))
    if last.code == 0:
        return ok(f"last exit code 0 at {states.clock(last.at)}", **_ev(st))
    hint = {139: " (segmentation fault)", 1: " (the application exited with an error)"}.get(
        last.code or -1, "")
    if last.signal == 9 and not last.oom and st.oom_killed is False and _events_readable(st):
        # The platform records OOM kills (Docker's oom event, Kubernetes' OOMKilled): none here.
        hint = " (SIGKILL, not the OOM killer: the platform recorded no OOM kill)"
    elif last.signal == 9:
        hint = " (SIGKILL: OOM killer or kill -9)"
    code = "unknown" if last.code is None else last.code  # a start resets it; the exit went unseen
    return bad(f"last exit code {code}{hint} at {states.clock(last.at)}"
               + (f", result {st.result}" if st.result else ""), **_ev(st))


@check("running.oom_killed", "step:service-running,oom", "not killed for memory (OOM)", CMD)
def oom_killed(ctx: Context) -> Finding:
    st = ctx.state()
    if not st.exists:
        return not_applicable("the service does not exist")
    if st.oom_killed or st.oom_events:
        signs = []
        if st.oom_killed:
            signs.append("the platform marks the last exit as OOM-killed")
        if st.oom_events:
            signs.append(f"{st.oom_events} OOM event(s) in the last {_window(ctx)}")
        history = _history(ctx, st)
        if history:
            return ok(f"recovered from an OOM kill ({'; '.join(signs)}): {history}", **_ev(st))
        return bad("OOM killed: " + "; ".join(signs), **_ev(st))
    if st.oom_killed is None:
        # Some platforms cannot tell (systemd on cgroup v1): unknown is not "no".
        return skip("the platform cannot tell whether the last exit was an OOM kill", **_ev(st))
    return ok("no OOM kill recorded", **_ev(st))


def _window(ctx: Context) -> str:
    s = ctx.settings.event_window_s
    return f"{s // 60:g} min" if s >= 120 else f"{s:g} s"


def _events_readable(st: ServiceState) -> bool:
    return not any(e.startswith("events unavailable") for e in st.events)
