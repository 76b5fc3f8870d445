"""`pytest checks/ --target kubernetes` against the real API server, one scenario per pod
status the runbook cares about: each must give the matching top cause, the same triage and
JSON as the other targets, and never a secret value."""

from __future__ import annotations

import re

import pytest

from servicedown.config import Settings
from servicedown.ports import free_port
from servicedown.targets.kubernetes import RESTARTED_AT, KubernetesTarget
from tests.kubernetes import cluster
from tests.support import failed_checks, pytest_checks, top_cause

pytestmark = [pytest.mark.kubernetes, pytest.mark.slow, pytest.mark.timeout(cluster.SESSION_TIMEOUT)]

RUNNING = ("running.exists", "running.state", "running.health", "running.restarts",
           "running.exit_code", "running.oom_killed")
_OWN_TRACEBACK = re.compile(r'^(Traceback \(most recent call last\)|\s*File ".*\.py", line \d+)',
                            re.MULTILINE)


def _run(tmp_path, base_url: str, *extra: str, kubeconfig: str = str(cluster.KUBECONFIG)):
    return pytest_checks(tmp_path, "--target", "kubernetes", "--kubeconfig", kubeconfig,
                         "--namespace", cluster.NAMESPACE, "--selector", "app=qbitel-engine",
                         "--base-url", base_url, *extra, timeout=120)


def _down_url() -> str:
    """The service's URL while it is down: nothing answers there."""
    return f"http://127.0.0.1:{free_port()}"


def _outcomes(doc: dict) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in doc["checks"]}


def _no_secret(out: str, doc: dict, values: dict[str, str]) -> None:
    text = out + repr(doc)
    for value in values.values():
        assert value not in text, "a secret value appeared in the output"
    assert not _OWN_TRACEBACK.search(out), out[-3000:]


def test_healthy_pods_pass_and_nothing_changes(api, kubelet, health_server, engine_cluster, tmp_path):
    for pod in cluster.create_pods(api, 3):
        api.patch_status(pod["metadata"]["name"], cluster.healthy(pod))
        kubelet.logs[(pod["metadata"]["name"], False)] = cluster.STARTED_LOG
    target = KubernetesTarget(Settings(target="kubernetes", kubeconfig=str(cluster.KUBECONFIG)))
    before = target.fingerprint()
    rc, doc, out = _run(tmp_path, health_server.url)
    outcomes = _outcomes(doc)
    assert all(outcomes[c] == "pass" for c in RUNNING), {c: outcomes[c] for c in RUNNING}
    assert outcomes["startup.env"] == "pass"
    assert outcomes["startup.secrets"] != "fail"  # placeholders are never judged weak
    assert outcomes["logs.stack_trace"] == "pass" and outcomes["startup.validation"] == "pass"
    assert rc == 0, out[-3000:]
    assert doc["verdict"] == "healthy" and doc["causes"] == []
    assert "kubernetes deployment 'qbitel-engine'" in doc["target"]
    assert target.fingerprint() == before  # read-only
    target.close()
    _no_secret(out, doc, engine_cluster)


def test_oom_killed_crash_loop_is_oom(api, engine_cluster, tmp_path):
    for pod in cluster.create_pods(api, 3):
        api.patch_status(pod["metadata"]["name"], cluster.crash_loop(pod, "OOMKilled", 137))
        cluster.kubelet_event(api, pod, "BackOff", "Back-off restarting failed container ai-engine "
                              f"in pod {pod['metadata']['name']}_qbitel", count=5)
    rc, doc, out = _run(tmp_path, _down_url())
    assert rc == 1
    assert doc["verdict"] == "down"
    assert {"running.state", "running.oom_killed", "running.exit_code"} <= failed_checks(doc), out[-3000:]
    assert top_cause(doc) == "oom", doc["causes"]
    state = next(c for c in doc["checks"] if c["id"] == "running.state")
    assert "0/3 ready; pod qbitel-engine-" in state["evidence"]["status"], state
    assert "CrashLoopBackOff" in state["evidence"]["status"], state
    _no_secret(out, doc, engine_cluster)


def test_crash_loop_without_logs_is_a_crash_loop_the_logs_would_explain(api, engine_cluster, tmp_path):
    """The node's kubelet is down: no logs; the pod statuses say it loops, not why."""
    for pod in cluster.create_pods(api, 3, node=cluster.NODE_DOWN):
        api.patch_status(pod["metadata"]["name"], cluster.crash_loop(pod, "Error", 1))
    rc, doc, out = _run(tmp_path, _down_url())
    assert rc == 1 and doc["verdict"] == "down"
    assert _outcomes(doc)["logs.stack_trace"] == "skip"
    assert "did not serve the pods' logs" in out
    assert top_cause(doc) == "crash-loop", doc["causes"]
    crash = next(c for c in doc["causes"] if c["id"] == "crash")
    assert not crash["defining"]  # no traceback to prove it
    _no_secret(out, doc, engine_cluster)


def test_missing_secret_is_missing_env(api, engine_cluster, tmp_path):
    cluster.delete_secret(api)
    for pod in cluster.create_pods(api, 3):
        api.patch_status(pod["metadata"]["name"],
                         cluster.config_error(pod, f'secret "{cluster.SECRET}" not found'))
        cluster.kubelet_event(api, pod, "Failed", f'Error: secret "{cluster.SECRET}" not found', count=3)
    rc, doc, out = _run(tmp_path, _down_url())
    assert rc == 1 and doc["verdict"] == "down"
    assert {"running.state", "startup.env"} <= failed_checks(doc), out[-3000:]
    env = next(c for c in doc["checks"] if c["id"] == "startup.env")
    assert "DATABASE_PASSWORD, JWT_SECRET, ENCRYPTION_KEY" in env["message"], env
    assert top_cause(doc) == "missing-env", doc["causes"]
    state = next(c for c in doc["checks"] if c["id"] == "running.state")
    assert "CreateContainerConfigError" in state["message"], state
    _no_secret(out, doc, engine_cluster)


def test_crash_loop_with_exit_1_is_crash(api, kubelet, engine_cluster, tmp_path):
    for pod in cluster.create_pods(api, 3):
        api.patch_status(pod["metadata"]["name"], cluster.crash_loop(pod, "Error", 1))
        kubelet.logs[(pod["metadata"]["name"], True)] = cluster.CRASHED_LOG
    rc, doc, out = _run(tmp_path, _down_url())
    assert rc == 1 and doc["verdict"] == "down"
    assert {"running.state", "running.exit_code", "running.restarts",
            "logs.stack_trace"} <= failed_checks(doc), out[-3000:]
    assert "running.oom_killed" not in failed_checks(doc)
    assert top_cause(doc) == "crash", doc["causes"]
    exit_code = next(c for c in doc["checks"] if c["id"] == "running.exit_code")
    assert "last exit code 1" in exit_code["message"] and "Error" in exit_code["message"]
    _no_secret(out, doc, engine_cluster)


def test_image_pull_backoff_is_down(api, engine_cluster, tmp_path):
    for pod in cluster.create_pods(api, 3, image="qbitel-engine:no-such-tag"):
        api.patch_status(pod["metadata"]["name"], cluster.image_pull_backoff(pod))
        cluster.kubelet_event(api, pod, "Failed", 'Failed to pull image "qbitel-engine:no-such-tag": '
                              "not found", count=3)
        cluster.kubelet_event(api, pod, "Failed", "Error: ImagePullBackOff", count=3)
    rc, doc, out = _run(tmp_path, _down_url())
    assert rc == 1 and doc["verdict"] == "down"
    state = next(c for c in doc["checks"] if c["id"] == "running.state")
    assert state["outcome"] == "fail" and "ImagePullBackOff" in state["message"], state
    assert _outcomes(doc)["startup.env"] == "pass"  # the Secret is fine: not a config problem
    # No runbook cause is about images: the row the runbook does not name says it.
    assert top_cause(doc) == "image-pull", doc["causes"]
    assert "not in the runbook" in out
    _no_secret(out, doc, engine_cluster)


def test_one_pod_of_three_oom_looping_while_two_serve_is_degraded_and_named(api, health_server,
                                                                             engine_cluster, tmp_path):
    pods = cluster.create_pods(api, 3)
    for pod in pods[:2]:
        api.patch_status(pod["metadata"]["name"], cluster.healthy(pod))
    bad = pods[2]
    api.patch_status(bad["metadata"]["name"], cluster.crash_loop(bad, "OOMKilled", 137))
    rc, doc, out = _run(tmp_path, health_server.url)
    assert rc == 1 and doc["verdict"] == "degraded", out[-3000:]
    assert bad["metadata"]["name"] in doc["state"] and "2 of 3 pods serve" in doc["state"]
    assert top_cause(doc) in ("oom", "partial"), doc["causes"]
    assert bad["metadata"]["name"] in out  # named in the summary, not only the JSON


def test_running_but_not_ready_quotes_its_probe(api, engine_cluster, tmp_path):
    for pod in cluster.create_pods(api, 3):
        api.patch_status(pod["metadata"]["name"], cluster.not_ready(pod))
        cluster.kubelet_event(api, pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with "
                              "statuscode: 503", count=12)
    rc, doc, out = _run(tmp_path, _down_url())
    assert rc == 1 and doc["verdict"] == "down"
    assert top_cause(doc) == "not-ready", doc["causes"]
    assert "statuscode: 503" in doc["state"]
    assert "not running" not in doc["state"] and top_cause(doc) != "crash"


def test_an_evicted_pod_says_the_nodes_reason(api, engine_cluster, tmp_path):
    for pod in cluster.create_pods(api, 1):
        api.patch_status(pod["metadata"]["name"], cluster.evicted(
            pod, "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi."))
    rc, doc, out = _run(tmp_path, _down_url())
    assert rc == 1 and doc["verdict"] == "down"
    assert top_cause(doc) == "evicted", doc["causes"]
    assert "low on resource: memory" in doc["state"]


def test_an_unschedulable_pod_quotes_the_scheduler(api, engine_cluster, tmp_path):
    for pod in cluster.create_pods(api, 1, node=""):
        api.patch_status(pod["metadata"]["name"], cluster.unschedulable(pod, "0/1 nodes are available"))
        cluster.kubelet_event(api, pod, "FailedScheduling", "0/1 nodes are available: 1 Insufficient "
                              "memory. preemption: 0/1 nodes are available", count=4)
    rc, doc, out = _run(tmp_path, _down_url())
    assert rc == 1 and doc["verdict"] == "down"
    assert top_cause(doc) == "unschedulable", doc["causes"]
    assert "Insufficient memory" in doc["state"]


def test_a_deployment_scaled_to_zero_is_a_stop_on_request(api, engine_cluster, tmp_path):
    path = f"/apis/apps/v1/namespaces/{cluster.NAMESPACE}/deployments/{cluster.DEPLOYMENT}"
    api.call("PATCH", path, {"spec": {"replicas": 0}},
             content_type="application/strategic-merge-patch+json")
    try:
        rc, doc, out = _run(tmp_path, _down_url())
        assert rc == 1 and doc["verdict"] == "down"
        assert top_cause(doc) == "stopped", doc["causes"]
        assert "scaled to 0" in doc["state"]
        errors = [c for c in doc["checks"] if c["outcome"] == "error"]
        assert not errors, errors  # nine checks erroring with one long message helped nobody
    finally:
        api.call("PATCH", path, {"spec": {"replicas": 3}},
                 content_type="application/strategic-merge-patch+json")


def test_remediate_is_a_rollout_restart(api, health_server, engine_cluster, tmp_path):
    for pod in cluster.create_pods(api, 3):
        api.patch_status(pod["metadata"]["name"], cluster.crash_loop(pod, "Error", 1))
    rc, doc, out = _run(tmp_path, health_server.url, "--remediate", "-k", "quick_fix")
    assert rc == 0, out[-3000:]
    assert "Remediation: rollout restart of deployment/qbitel-engine" in out, out[-3000:]
    dep = api.get(f"/apis/apps/v1/namespaces/{cluster.NAMESPACE}/deployments/{cluster.DEPLOYMENT}")
    stamp = dep["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    _no_secret(out, doc, engine_cluster)


def test_read_only_run_does_not_restart(api, engine_cluster, tmp_path):
    for pod in cluster.create_pods(api, 3):
        api.patch_status(pod["metadata"]["name"], cluster.crash_loop(pod, "Error", 1))
    path = f"/apis/apps/v1/namespaces/{cluster.NAMESPACE}/deployments/{cluster.DEPLOYMENT}"
    generation = api.get(path)["metadata"]["generation"]
    rc, _doc, out = _run(tmp_path, _down_url(), "-k", "quick_fix", "-rs")
    assert "read-only run" in out
    assert api.get(path)["metadata"]["generation"] == generation


def test_missing_namespace_is_one_clear_message(api, tmp_path):
    rc, doc, out = pytest_checks(tmp_path, "--target", "kubernetes", "--kubeconfig",
                                 str(cluster.KUBECONFIG), "--namespace", "qbitel-prod",
                                 "--base-url", _down_url(), timeout=120)
    assert rc == 1
    assert "namespace 'qbitel-prod' not found" in out
    assert _outcomes(doc)["running.state"] == "error"
    assert not _OWN_TRACEBACK.search(out), out[-3000:]


def test_unreachable_api_is_one_clear_message(k8s_api, tmp_path):
    doc_text = cluster.KUBECONFIG.read_text()
    server = doc_text.split('server: "')[1].split('"')[0]
    dead = tmp_path / "kubeconfig"
    dead.write_text(doc_text.replace(server, f"https://127.0.0.1:{free_port()}"))
    rc, doc, out = _run(tmp_path, _down_url(), kubeconfig=str(dead))
    assert rc == 1
    assert "cannot reach the Kubernetes API at https://127.0.0.1:" in out
    assert _outcomes(doc)["running.state"] == "error"
    assert not _OWN_TRACEBACK.search(out), out[-3000:]
