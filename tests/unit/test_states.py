"""How the service is not running, on each platform: the pure readers of the platforms' records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from servicedown import states
from servicedown.states import Exit
from servicedown.targets import compose, kubernetes_pods, systemd_read
from servicedown.targets.base import CURRENT, EARLIER, UNKNOWN

T0 = 1_796_160_000.0  # a fixed epoch: 2026-12-01 ~20:40 UTC


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- the vocabulary -------------------------------------------------------------------------

@pytest.mark.parametrize(("exit_", "word"), [
    (Exit(T0, 0, requested="docker stop at 20:40:00"), states.STOPPED),
    (Exit(T0, 137, requested="docker stop at 20:40:00"), states.STOPPED),  # the grace overran
    (Exit(T0, 137, requested="docker kill (signal 9) at 20:40:00"), states.KILLED),
    (Exit(T0, 137, oom=True), states.OOM_KILLED),
    (Exit(T0, 1, ran_s=0.4), states.FAILED_AT_START),
    (Exit(T0, 1, ran_s=600), states.CRASHED),
    (Exit(T0, 137, ran_s=600), states.CRASHED),  # SIGKILL nobody asked for, not the OOM killer
    (Exit(T0, 137, ran_s=0.5), states.CRASHED),  # killed early is still killed, not a failed start
    (Exit(T0, 0, ran_s=600), states.EXITED),
    (Exit(T0, 143, ran_s=600), states.EXITED),
])
def test_exit_state(exit_, word):
    got, sentence = states.exit_state(exit_)
    assert got == word
    assert "20:40" in sentence or "at" in sentence


def test_a_sigkill_nobody_asked_for_says_so():
    _, sentence = states.exit_state(Exit(T0, 137, ran_s=600))
    assert "SIGKILL" in sentence and "not by the OOM killer" in sentence


@pytest.mark.parametrize(("exits", "uptime", "restarting", "loop"), [
    ([Exit(T0, 1)], None, True, False),  # one exit the platform is restarting after: not a loop
    ([Exit(T0, 1), Exit(T0 + 5, 1)], None, True, True),
    ([Exit(T0 + i, 1) for i in range(3)], 10.0, False, True),
    ([Exit(T0 + i, 1) for i in range(3)], 600.0, False, False),  # settled since: history
    ([Exit(T0 + i, 0, requested="docker stop") for i in range(5)], 1.0, False, False),
    # Three crashes, then a stop on request: stopped, not a loop.
    ([Exit(T0 + i, 1) for i in range(3)] + [Exit(T0 + 5, 0, requested="systemctl stop")], None, False,
     False),
])
def test_looping(exits, uptime, restarting, loop):
    assert states.looping(exits, uptime, restarting) is loop


# --- Docker ------------------------------------------------------------------------------------

def ev(action: str, t: float, **attrs: str) -> dict:
    return {"Action": action, "timeNano": int(t * 1e9), "Actor": {"Attributes": attrs}}


def doc(status: str = "exited", running: bool = False, exit_code: int = 0, policy: str = "unless-stopped",
        restarting: bool = False, oom: bool = False, health: str | None = None) -> dict:
    st = {"Status": status, "Running": running, "Restarting": restarting, "ExitCode": exit_code,
          "OOMKilled": oom, "StartedAt": iso(T0 - 100), "FinishedAt": iso(T0)}
    if health:
        st["Health"] = {"Status": health}
    return {"Id": "c1", "State": st, "HostConfig": {"RestartPolicy": {"Name": policy}}}


def timeline(*events: dict) -> list:
    return [(e, "") for e in events]


def test_docker_stop_is_a_stop():
    exits = compose._exits(timeline(ev("start", T0 - 100), ev("kill", T0 - 5, signal="15"),
                                    ev("die", T0, exitCode="0"), ev("stop", T0)), [], doc(), False)
    assert exits[-1].requested.startswith("docker stop") and exits[-1].code == 0
    how, detail, _ = compose._how(doc()["State"], False, False, None, exits, doc())
    assert how == states.STOPPED and "docker stop" in detail


def test_docker_kill_is_a_kill():
    exits = compose._exits(timeline(ev("kill", T0 - 0.01, signal="9"), ev("die", T0, exitCode="137")),
                           [], doc(exit_code=137), False)
    assert states.exit_state(exits[-1])[0] == states.KILLED


def test_a_stop_whose_events_are_gone_is_still_a_stop():
    # Docker's event buffer is short: only the container's own record is left.
    d = doc(exit_code=0)
    exits = compose._exits([], [], d, False)
    assert exits[-1].requested and states.exit_state(exits[-1])[0] == states.STOPPED


def test_a_stop_past_its_grace_whose_die_event_is_missing_is_a_stop():
    # The die fell past the query's whole second: the stop's SIGTERM and SIGKILL are there.
    d = doc(exit_code=137)
    exits = compose._exits(timeline(ev("start", T0 - 100), ev("kill", T0 - 2, signal="15"),
                                    ev("kill", T0 - 0.01, signal="9")), [], d, False)
    assert exits[-1].requested.startswith("docker stop") and exits[-1].code == 137
    assert states.exit_state(exits[-1])[0] == states.STOPPED
    # ... and one long before the exit is not its request: the restart policy's reading stays.
    old = compose._exits(timeline(ev("kill", T0 - 60, signal="15")), [], d, False)
    assert states.exit_state(old[-1])[0] == states.KILLED and "grace" in old[-1].requested


def test_an_exit_docker_restarts_is_not_a_request():
    d = doc(exit_code=137, policy="no")
    exits = compose._exits([], [], d, False)
    assert not exits[-1].requested and states.exit_state(exits[-1])[0] == states.CRASHED


def test_an_oom_event_or_kernel_line_marks_the_exit():
    by_event = compose._exits(timeline(ev("oom", T0), ev("die", T0, exitCode="137")), [],
                              doc(running=True, status="running"), True)
    by_kernel = compose._exits(timeline(ev("die", T0, exitCode="137")), [T0 - 1],
                               doc(running=True, status="running"), True)
    assert by_event[-1].oom and by_kernel[-1].oom


def test_a_running_container_after_a_crash_has_history_not_a_state():
    d = doc(status="running", running=True, policy="unless-stopped")
    exits = compose._exits(timeline(ev("start", T0 - 700), ev("die", T0 - 600, exitCode="137"),
                                    ev("start", T0 - 599)), [], d, True)
    how, _, history = compose._how(d["State"], True, False, 599.0, exits, d)
    assert how == states.RUNNING
    assert history and history[0].startswith("recovered: exit code 137") and "docker" in history[0]


@pytest.mark.parametrize(("policy", "code", "by_docker"), [
    ("unless-stopped", 137, True), ("always", 0, True), ("on-failure", 1, True),
    ("on-failure", 0, False),  # on-failure leaves a clean exit alone: someone started it
    ("no", 137, False),  # an OOM kill, then `docker start` by hand: never "by docker"
])
def test_who_started_it_again_follows_the_restart_policy(policy, code, by_docker):
    d = doc(status="running", running=True, policy=policy)
    exits = compose._exits(timeline(ev("start", T0 - 700), ev("die", T0 - 600, exitCode=str(code)),
                                    ev("start", T0 - 599)), [], d, True)
    _, _, history = compose._how(d["State"], True, False, 599.0, exits, d)
    assert ("restarted by docker" in history[0]) is by_docker
    assert by_docker or "started again" in history[0]


def test_restarting_after_several_exits_is_a_loop():
    d = doc(status="restarting", running=True, restarting=True)
    exits = compose._exits(timeline(*[ev("die", T0 - i, exitCode="1") for i in (30, 20, 10)]), [], d, True)
    how, detail, _ = compose._how(d["State"], True, True, None, exits, d)
    assert how == states.CRASH_LOOPING and "3 exit(s)" in detail


def test_docker_log_lines_are_split_by_the_last_start():
    text = (f"{iso(T0 - 200)} Database connection error: refused\n"
            f"{iso(T0 - 1)} started\nno stamp here\n")
    lines = compose._log_lines(text, T0 - 10)
    assert [(line.text, line.run) for line in lines] == [
        ("Database connection error: refused", EARLIER), ("started", CURRENT),
        ("no stamp here", UNKNOWN)]
    assert lines[0].time == pytest.approx(T0 - 200, abs=1e-3)


# --- systemd ---------------------------------------------------------------------------------

def jline(t: float, message: str) -> str:
    return f"{t:.6f} host systemd[1]: {message}"


def answer(active: str, sub: str, result: str = "success", code: int = 1, status: int = 0,
           journal: list[str] | None = None) -> systemd_read.UnitAnswer:
    props = {"Id": "qbitel.service", "LoadState": "loaded", "ActiveState": active, "SubState": sub,
             "Result": result, "ExecMainCode": str(code), "ExecMainStatus": str(status),
             "NRestarts": "0", "MainPID": "0", "ActiveEnterTimestamp": ""}
    return systemd_read.UnitAnswer(props, (T0 + 5, 1000.0), journal or [], [], [], [], [])


def test_systemctl_stop_is_a_stop():
    a = answer("inactive", "dead", journal=[jline(T0 - 60, "Started qbitel.service - QBITEL."),
                                            jline(T0, "Stopping qbitel.service - QBITEL..."),
                                            jline(T0 + 1, "qbitel.service: Deactivated successfully."),
                                            jline(T0 + 1, "Stopped qbitel.service - QBITEL.")])
    st = systemd_read.unit_state(a, "qbitel.service", 600, T0 + 5)
    assert st.how == states.STOPPED and "systemctl stop" in st.how_detail


def test_systemd_sigkill_without_oom_signs_is_a_crash():
    a = answer("activating", "auto-restart", result="signal", code=2, status=9,
               journal=[jline(T0 - 300, "Started qbitel.service - QBITEL."),
                        jline(T0, "qbitel.service: Main process exited, code=killed, status=9/KILL")])
    st = systemd_read.unit_state(a, "qbitel.service", 600, T0 + 5)
    assert st.how == states.CRASHED and st.last_exit.code == 137 and not st.oom_killed


def test_an_old_inactive_unit_with_success_is_a_stop():
    st = systemd_read.unit_state(answer("inactive", "dead"), "qbitel.service", 600, T0)
    assert st.how == states.STOPPED


def test_journal_json_lines_carry_time_and_invocation():
    rows = [{"MESSAGE": "old error", "__REALTIME_TIMESTAMP": str(int((T0 - 100) * 1e6)),
             "_SYSTEMD_INVOCATION_ID": "aaa"},
            {"MESSAGE": [104, 105], "__REALTIME_TIMESTAMP": str(int(T0 * 1e6)),
             "_SYSTEMD_INVOCATION_ID": "bbb"}, "not json"]
    text = "\n".join(json.dumps(r) if isinstance(r, dict) else r for r in rows)
    lines = systemd_read.journal_lines(text, "bbb")
    assert [(line.text, line.run) for line in lines] == [("old error", EARLIER), ("hi", CURRENT)]
    assert lines[1].time == pytest.approx(T0)


# --- Kubernetes ----------------------------------------------------------------------------------

NOW = datetime.now(UTC)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, ready: bool, state: dict, phase: str = "Running", reason: str | None = None,
        message: str | None = None, last: dict | None = None, restarts: int = 0,
        started: bool = True) -> dict:
    st = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
          "containerStatuses": [{"name": "ai-engine", "state": state, "ready": ready,
                                 "restartCount": restarts, "started": started and "running" in state,
                                 "lastState": {"terminated": last} if last else {}}]}
    if reason:
        st["reason"], st["message"] = reason, message
    return {"metadata": {"name": name, "uid": name}, "spec": {"containers": [{"name": "ai-engine"}]},
            "status": st}


RUNNING = {"running": {"startedAt": ts(300)}}


def k8s(pods: list[dict], events: list[dict] = (), deployment: dict | None = None):
    views = [kubernetes_pods.view_pod(p) for p in pods]
    return kubernetes_pods.pods_state(pods, views, list(events), deployment)


def event(pod_name: str, reason: str, message: str) -> dict:
    return {"involvedObject": {"name": pod_name}, "reason": reason, "message": message,
            "type": "Warning", "lastTimestamp": ts(10)}


def test_one_pod_of_three_crash_looping_is_partial_and_named():
    oom = {"reason": "OOMKilled", "exitCode": 137, "finishedAt": ts(20), "startedAt": ts(60)}
    pods = [pod("a", True, RUNNING), pod("b", True, RUNNING),
            pod("c", False, {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                last=oom, restarts=4)]
    how, detail, _ = k8s(pods)
    assert how == states.PARTIAL
    assert "2 of 3 pods serve" in detail and "pod c" in detail and "OOMKilled" in detail


def test_running_but_not_ready_quotes_the_probe():
    pods = [pod("a", False, RUNNING)]
    how, detail, _ = k8s(pods, [event("a", "Unhealthy", "Readiness probe failed: HTTP probe failed "
                                                         "with statuscode: 503")])
    assert how == states.NOT_READY and "statuscode: 503" in detail


def test_evicted_quotes_the_node():
    pods = [pod("a", False, {"terminated": {"reason": "Evicted", "exitCode": 137}}, phase="Failed",
                reason="Evicted", message="The node was low on resource: memory.")]
    how, detail, _ = k8s(pods)
    assert how == states.EVICTED and "low on resource: memory" in detail


def test_unschedulable_quotes_the_scheduler():
    p = pod("a", False, {}, phase="Pending")
    p["status"]["containerStatuses"] = []
    how, detail, _ = k8s([p], [event("a", "FailedScheduling", "0/1 nodes are available: 1 "
                                                              "Insufficient memory.")])
    assert how == states.UNSCHEDULABLE and "Insufficient memory" in detail


def test_image_pull_failure():
    pods = [pod("a", False, {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling "
                                                                                 "image \"x:9\""}},
                phase="Pending")]
    assert k8s(pods)[0] == states.IMAGE_PULL


def test_scaled_to_zero_is_a_stop_on_request():
    how, detail, _ = k8s([], deployment={"spec": {"replicas": 0}})
    assert how == states.SCALED_TO_ZERO and "scaled to 0" in detail
    assert k8s([], deployment=None)[0] == states.MISSING


def test_a_kubelet_kill_before_an_exit_is_a_request():
    term = {"reason": "Error", "exitCode": 137, "finishedAt": ts(5), "startedAt": ts(600)}
    killed = [NOW - timedelta(seconds=20)]
    e = kubernetes_pods.pod_exit({}, term, killed)
    assert e.requested and states.exit_state(e)[0] == states.KILLED
    assert not kubernetes_pods.pod_exit({}, term, []).requested


def test_restarted_after_a_crash_and_not_serving_yet_is_the_crash():
    d = doc(status="running", running=True, health="starting")
    exits = compose._exits(timeline(ev("start", T0 - 300), ev("die", T0 - 2, exitCode="137"),
                                    ev("start", T0 - 1)), [], d, True)
    how, detail, history = compose._how(d["State"], True, False, 1.0, exits, d)
    assert how == states.CRASHED and "not yet past its healthcheck" in detail and not history
    fresh = doc(status="running", running=True, health="starting")
    assert compose._how(fresh["State"], True, False, 1.0, [], fresh)[0] == states.STARTING


def test_docker_log_lines_end_at_newlines_only():
    text = f"{iso(T0)} a\x0bb\x1cc\rd\n{iso(T0 + 1)} e\n"
    assert [line.text for line in compose._log_lines(text, T0 - 1)] == ["a\x0bb\x1cc\rd", "e"]


def test_a_container_on_no_network_is_detached():
    d = doc(status="running", running=True)
    d["NetworkSettings"] = {"Networks": {}}
    how, detail, _ = compose._how(d["State"], True, False, 300.0, [], d)
    assert how == states.DETACHED and how in states.DOWN_STATES and "no network" in detail
    d["NetworkSettings"] = {"Networks": {"qbitel_default": {}}}
    assert compose._how(d["State"], True, False, 300.0, [], d)[0] == states.RUNNING


def test_a_sigterm_the_current_run_has_not_ended_with_is_a_stop_in_progress():
    started = T0 - 100
    term = timeline(ev("start", started), ev("kill", T0 - 2, signal="15"))
    assert "signal 15" in compose._stop_pending(term, started, T0)
    # ended (die), restarted (start), long outlived, a reload signal, or before this run: not
    assert compose._stop_pending(term + timeline(ev("die", T0 - 1, exitCode="0")), started, T0) is None
    assert compose._stop_pending(term + timeline(ev("start", T0 - 1)), started, T0) is None
    assert compose._stop_pending(term, started, T0 + compose.DRAIN_S + 1) is None
    assert compose._stop_pending(timeline(ev("kill", T0 - 2, signal="1")), started, T0) is None
    assert compose._stop_pending(timeline(ev("kill", started - 5, signal="15")), started, T0) is None
