"""The Kubernetes target's pure reading of pod and event JSON (no API server needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from servicedown import causes, secrets
from servicedown.backends.kube import exit_status
from servicedown.secrets import SECRET_REF, is_secret_ref
from servicedown.targets.kubernetes_pods import (
    event_line,
    selector_text,
    termination_events,
    unresolved_refs,
    view_pod,
)

NOW = datetime.now(UTC)


def _iso(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod(state: dict, last: dict | None = None, phase: str = "Running", ready: bool = False,
         restarts: int = 0, started: bool = False) -> dict:
    return {
        "metadata": {"name": "qbitel-engine-abc", "uid": "u1", "creationTimestamp": _iso(600)},
        "spec": {"containers": [{"name": "sidecar"}, {"name": "ai-engine"}]},
        "status": {"phase": phase,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                   "containerStatuses": [{"name": "ai-engine", "state": state, "restartCount": restarts,
                                          "started": started,
                                          "lastState": {"terminated": last} if last else {}}]},
    }


def test_crash_loop_pod_reads_like_kubectl() -> None:
    pod = _pod({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
               last={"reason": "OOMKilled", "exitCode": 137, "finishedAt": _iso(30)}, restarts=3)
    v = view_pod(pod)
    assert v.word == "CrashLoopBackOff" and not v.ready and v.restarts == 3
    assert v.waiting == ["ai-engine: CrashLoopBackOff: back-off 40s"]
    lines, ooms, dies = termination_events([pod], NOW - timedelta(seconds=600))
    assert (ooms, dies) == (1, 1)
    texts = [t for _, t in lines]
    assert texts[0].endswith("oom pod/qbitel-engine-abc container ai-engine")
    assert "die exitCode=137 reason=OOMKilled" in texts[1]
    # The exit code in the state's words is what the causes table's OOM pattern reads.
    assert causes._compiled(causes.KILLED).search(texts[1])


def test_exits_before_the_window_are_not_events() -> None:
    pod = _pod({"running": {"startedAt": _iso(3000)}},
               last={"reason": "Error", "exitCode": 1, "finishedAt": _iso(3600)}, ready=True,
               restarts=1, started=True)
    assert termination_events([pod], NOW - timedelta(seconds=600)) == ([], 0, 0)
    assert view_pod(pod).word == "Running"


def test_starting_pod_is_not_a_failure() -> None:
    v = view_pod(_pod({"running": {"startedAt": _iso(5)}}, started=False))
    assert v.starting and not v.ready


def test_pending_pod_takes_its_waiting_reason() -> None:
    pod = _pod({"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x"'}},
               phase="Pending")
    assert view_pod(pod).word == "ImagePullBackOff"


def test_unresolved_secret_and_key() -> None:
    a = _pod({"waiting": {"reason": "CreateContainerConfigError",
                          "message": 'secret "qbitel-secrets" not found'}}, phase="Pending")
    b = _pod({"waiting": {"reason": "CreateContainerConfigError",
                          "message": "couldn't find key jwt-secret in Secret qbitel/other"}},
             phase="Pending")
    assert unresolved_refs([a, b]) == ({"qbitel-secrets"}, {("other", "jwt-secret")})


def test_kubelet_kill_reads_as_a_requested_kill() -> None:
    when, text = event_line({"reason": "Killing", "type": "Normal", "lastTimestamp": _iso(5),
                             "involvedObject": {"name": "p"},
                             "message": "Container ai-engine failed liveness probe, will be restarted"})
    assert when is not None and " kill signal=15 pod/p: Container ai-engine failed liveness" in text
    assert causes._compiled(causes.KILL_REQUEST).search(text)
    _, text = event_line({"reason": "BackOff", "type": "Warning", "count": 7, "involvedObject": {"name": "p"},
                          "eventTime": _iso(3).replace("Z", ".123456Z"), "message": "Back-off  restarting"})
    assert text.endswith("Warning BackOff pod/p: Back-off restarting (x7)")


def test_selector_text() -> None:
    assert selector_text({"matchLabels": {"app": "qbitel-engine", "tier": "api"}}) == \
        "app=qbitel-engine,tier=api"
    assert selector_text(None) == "(none)"


def test_secret_placeholder_is_recognisable_and_never_judged_weak() -> None:
    assert is_secret_ref(SECRET_REF) and not is_secret_ref("x" * 40)
    for name in secrets.REQUIRED:
        report = secrets.assess_one(name, SECRET_REF)
        assert report.present and report.ok, report


def test_exec_exit_status_from_the_error_channel() -> None:
    assert exit_status('{"metadata":{},"status":"Success"}') == 0
    assert exit_status('{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":'
                       '[{"reason":"ExitCode","message":"3"}]}}') == 3
    assert exit_status('{"status":"Failure","message":"unable to upgrade connection: 501"}') is None
    assert exit_status("unable to upgrade connection: <html>") is None


def test_an_init_containers_clean_exit_is_not_a_crash() -> None:
    pod = _pod({"running": {"startedAt": _iso(30)}}, ready=True, started=True)
    pod["status"]["initContainerStatuses"] = [{"name": "migrate", "restartCount": 0, "state": {
        "terminated": {"reason": "Completed", "exitCode": 0, "finishedAt": _iso(35)}}}]
    assert termination_events([pod], NOW - timedelta(seconds=600)) == ([], 0, 0)
    pod["status"]["initContainerStatuses"][0]["state"]["terminated"].update(reason="Error", exitCode=2)
    _, _, dies = termination_events([pod], NOW - timedelta(seconds=600))
    assert dies == 1
