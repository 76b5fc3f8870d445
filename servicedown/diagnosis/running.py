"""Runbook Diagnosis 1: "Check if the service is running" (container, unit or pod state)."""

from __future__ import annotations

from servicedown.diagnosis.context import Context
from servicedown.diagnosis.registry import Finding, bad, check, ok, skip
from servicedown.targets.base import ServiceState

CMD = ("docker-compose ps qbitel-engine | kubectl get pods -l app=qbitel-engine -n qbitel"
       " | systemctl status qbitel")
RECENT_START_S = 300  # a restart younger than this is part of the incident


@check("running.exists", "diagnosis-1", "the service exists on its platform", CMD)
def exists(ctx: Context) -> Finding:
    st = ctx.state()
    if not st.exists:
        return bad(st.detail.get("problem", "the service does not exist"), **st.evidence())
    return ok(f"{ctx.target.describe()} exists", **st.evidence())


@check("running.state", "diagnosis-1", "the service is running", CMD)
def state(ctx: Context) -> Finding:
    st = ctx.state()
    if not st.exists:
        return bad("not running: the service does not exist", **st.evidence())
    if st.restarting:
        return bad(f"restarting (restart count {st.restart_count}): it keeps exiting",
                   **st.evidence())
    if not st.running:
        how = f", last exit code {st.exit_code}" if st.exit_code is not None else ""
        return bad(f"not running: status '{st.status}'{how}", **st.evidence())
    return ok(f"running (status '{st.status}')", **st.evidence())


@check("running.health", "diagnosis-1", "the platform's own health status is healthy", CMD)
def platform_health(ctx: Context) -> Finding:
    st = ctx.state()
    if not st.exists:
        return bad("no health status: the service does not exist")
    if st.health is None:
        return skip("the platform keeps no health status for this service", **st.evidence())
    if st.health == "healthy":
        return ok("platform health status: healthy", **st.evidence())
    if st.health == "starting":
        return bad("platform health status: starting (not yet passed its healthcheck)",
                   **st.evidence())
    return bad(f"platform health status: {st.health}", **st.evidence())


@check("running.restarts", "diagnosis-1", "no restart loop and no recent crash", CMD)
def restarts(ctx: Context) -> Finding:
    st = ctx.state()
    if not st.exists:
        return skip("the service does not exist")
    if st.restarting:
        return bad(f"in a restart loop: restart count {st.restart_count}", **st.evidence())
    if st.die_events:
        return bad(f"exited {st.die_events} time(s) in the last "
                   f"{ctx.settings.event_window_s // 60} min: {', '.join(st.events[-3:])}",
                   **st.evidence())
    if st.restart_count and st.uptime_s is not None and st.uptime_s < RECENT_START_S:
        return bad(f"restarted by its platform {st.restart_count} time(s); up only "
                   f"{st.uptime_s:.0f}s", **st.evidence())
    return ok(f"no recent restarts (restart count {st.restart_count or 0})", **st.evidence())


@check("running.exit_code", "diagnosis-1,cause-1", "the last exit was clean", CMD)
def exit_code(ctx: Context) -> Finding:
    st = ctx.state()
    if not st.exists:
        return skip("the service does not exist")
    if st.running and not st.die_events:
        return ok("running; no exit recorded", **st.evidence())
    code = st.exit_code
    if code in (None, 0) and st.result in (None, "success"):
        return ok(f"last exit code {code}", **st.evidence())
    hint = {137: " (SIGKILL: OOM killer or kill -9)", 139: " (segmentation fault)",
            143: " (SIGTERM)", 1: " (the application exited with an error)"}.get(code or -1, "")
    if code == 137 and st.oom_killed is False and not st.oom_events and _events_readable(st):
        # The platform records OOM kills (Docker's oom event, Kubernetes' OOMKilled): none here.
        hint = " (SIGKILL, not the OOM killer: the platform recorded no OOM kill)"
    return bad(f"last exit code {code}{hint}" + (f", result {st.result}" if st.result else ""),
               **st.evidence())


@check("running.oom_killed", "diagnosis-1,cause-2.2", "not killed for memory (OOM)", CMD)
def oom_killed(ctx: Context) -> Finding:
    st = ctx.state()
    if not st.exists:
        return skip("the service does not exist")
    if st.oom_killed or st.oom_events:
        signs = []
        if st.oom_killed:
            signs.append("the platform marks the last exit as OOM-killed")
        if st.oom_events:
            signs.append(f"{st.oom_events} OOM event(s) in the last "
                         f"{ctx.settings.event_window_s // 60} min")
        return bad("OOM killed: " + "; ".join(signs), **st.evidence())
    if st.oom_killed is None:
        # Some platforms cannot tell (systemd on cgroup v1): unknown is not "no".
        return skip("the platform cannot tell whether the last exit was an OOM kill",
                    **st.evidence())
    return ok("no OOM kill recorded", **st.evidence())


def _events_readable(st: ServiceState) -> bool:
    return not any(e.startswith("events unavailable") for e in st.events)
