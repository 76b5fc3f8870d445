"""KubernetesTarget against the real API server: what it reads from pods, events and the pod
spec, what it cannot read without a kubelet, and what it never reads (a Secret's data)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from servicedown.backends.kube import USER_AGENT
from servicedown.config import Settings
from servicedown.ports import free_port
from servicedown.secrets import SECRET_REF, is_secret_ref
from servicedown.targets.base import NotPresent, NotSupported, TargetError
from servicedown.targets.kubernetes import RESTARTED_AT, KubernetesTarget
from tests.kubernetes import cluster

pytestmark = [pytest.mark.kubernetes, pytest.mark.slow, pytest.mark.timeout(cluster.SESSION_TIMEOUT)]


def _settings(**kw: str) -> Settings:
    return Settings(target="kubernetes", kubeconfig=str(cluster.KUBECONFIG), **kw)


@pytest.fixture
def target(api: cluster.Api) -> Iterator[KubernetesTarget]:
    t = KubernetesTarget(_settings())
    yield t
    t.close()


def test_healthy_pods(api: cluster.Api, target: KubernetesTarget) -> None:
    for pod in cluster.create_pods(api, 3):
        api.patch_status(pod["metadata"]["name"], cluster.healthy(pod))
    target.preflight()
    st = target.state()
    assert st.exists and st.running and not st.restarting, st
    assert st.status == "3/3 ready" and st.health == "healthy"
    assert st.restart_count == 0 and st.die_events == 0 and st.oom_killed is False
    assert st.exit_code is None and st.result is None
    assert st.uptime_s is not None and 250 < st.uptime_s < 400
    assert target.restart_command() == "kubectl rollout restart deployment/qbitel-engine -n qbitel"
    assert "127.0.0.1" in target.describe()


def test_crash_loop_after_oom(api: cluster.Api, target: KubernetesTarget) -> None:
    pods = cluster.create_pods(api, 3)
    api.patch_status(pods[0]["metadata"]["name"], cluster.crash_loop(pods[0], "OOMKilled", 137))
    for pod in pods[1:]:
        api.patch_status(pod["metadata"]["name"], cluster.healthy(pod))
    cluster.kubelet_event(api, pods[0], "BackOff", "Back-off restarting failed container ai-engine",
                          count=4)
    st = target.state()
    bad = pods[0]["metadata"]["name"]
    assert st.running  # two replicas still serve
    # One pod loops while the others serve: partly serving, the failing pod named; the service
    # as a whole is not restarting.
    assert not st.restarting and st.health == "unhealthy"
    assert st.how == "partial" and bad in st.how_detail and (st.serving, st.replicas) == (2, 3)
    assert st.status == f"2/3 ready; pod {bad} CrashLoopBackOff", st.status
    assert st.oom_killed is True and st.oom_events == 1 and st.die_events == 1
    assert st.exit_code == 137 and st.result == "OOMKilled"
    assert st.restart_count == 4 and st.detail["max_restarts"] == 4
    assert any(e.endswith(f"oom pod/{bad} container ai-engine") for e in st.events), st.events
    assert any("die exitCode=137 reason=OOMKilled" in e for e in st.events), st.events
    assert any(f"Warning BackOff pod/{bad}: Back-off restarting" in e and "(x4)" in e
               for e in st.events), st.events


def test_old_oom_on_a_running_pod_is_history(api: cluster.Api, target: KubernetesTarget) -> None:
    """lastState keeps an OOM kill until the next exit; a week-old one is not this incident."""
    pod = cluster.create_pods(api, 1)[0]
    status = cluster.healthy(pod)
    cs = status["containerStatuses"][0]
    cs["restartCount"] = 1
    cs["lastState"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                      "startedAt": cluster.stamp(7 * 86400 + 60),
                                      "finishedAt": cluster.stamp(7 * 86400)}}
    api.patch_status(pod["metadata"]["name"], status)
    st = target.state()
    assert st.running and st.oom_killed is False and st.die_events == 0
    assert st.exit_code == 137  # still the last recorded exit, shown as such


def test_missing_secret_is_create_container_config_error(api: cluster.Api,
                                                         target: KubernetesTarget) -> None:
    cluster.delete_secret(api)
    for pod in cluster.create_pods(api, 2):
        api.patch_status(pod["metadata"]["name"],
                         cluster.config_error(pod, f'secret "{cluster.SECRET}" not found'))
    st = target.state()
    assert not st.running and not st.restarting
    assert "CreateContainerConfigError" in st.status
    assert any('secret "qbitel-secrets" not found' in w for w in st.detail["waiting"])
    env = target.environment()
    assert env is not None
    for name in ("DATABASE_PASSWORD", "JWT_SECRET", "ENCRYPTION_KEY"):
        assert env[name] == "", name
    assert env["DATABASE_USER"] == "qbitel_user"  # plain values as the spec gives them


def test_missing_key_marks_only_that_variable(api: cluster.Api, target: KubernetesTarget) -> None:
    pod = cluster.create_pods(api, 1)[0]
    api.patch_status(pod["metadata"]["name"], cluster.config_error(
        pod, f"couldn't find key jwt-secret in Secret {cluster.NAMESPACE}/{cluster.SECRET}"))
    env = target.environment()
    assert env is not None
    assert env["JWT_SECRET"] == ""
    assert env["DATABASE_PASSWORD"] == SECRET_REF and is_secret_ref(env["ENCRYPTION_KEY"])


def test_environment_never_reads_a_secret(api: cluster.Api, target: KubernetesTarget,
                                          engine_cluster: dict[str, str]) -> None:
    for pod in cluster.create_pods(api, 1):
        api.patch_status(pod["metadata"]["name"], cluster.healthy(pod))
    env = target.environment()
    assert env is not None
    assert {env[n] for n in ("DATABASE_PASSWORD", "JWT_SECRET", "ENCRYPTION_KEY")} == {SECRET_REF}
    text = json.dumps(env)
    assert not any(v in text for v in engine_cluster.values())
    # The API server's audit log: this tool asked for Secrets only as a Table without objects
    # (names and key counts), never for a Secret object or a list of them.
    requests = [json.loads(line) for line in cluster.AUDIT_LOG.read_text().splitlines()]
    ours = [r for r in requests if r.get("userAgent") == USER_AGENT
            and (r.get("objectRef") or {}).get("resource") == "secrets"]
    assert ours, "no Secret request recorded: the presence check did not run"
    for r in ours:
        assert r["verb"] == "list" and "includeObject=None" in r["requestURI"], r["requestURI"]


def test_no_matching_pod_names_the_deployments(api: cluster.Api) -> None:
    t = KubernetesTarget(_settings(selector="app=qbitel-engin"))
    st = t.state()
    assert not st.exists
    problem = st.detail["problem"]
    assert "no pod matches -l app=qbitel-engin in namespace 'qbitel'" in problem
    assert "qbitel-engine [app=qbitel-engine]" in problem, problem
    with pytest.raises(NotPresent, match="does not exist"):
        t.logs(10)
    t.close()


def test_logs_previous_run_then_current(api: cluster.Api, target: KubernetesTarget,
                                       kubelet: cluster.KubeletStandIn) -> None:
    """A container that restarted: its previous run's lines (the crash), then the current."""
    pod = cluster.create_pods(api, 1)[0]
    name = pod["metadata"]["name"]
    status = cluster.healthy(pod)
    status["containerStatuses"][0]["restartCount"] = 1
    status["containerStatuses"][0]["lastState"] = {"terminated": {
        "exitCode": 1, "reason": "Error", "startedAt": cluster.stamp(400), "finishedAt": cluster.stamp(380)}}
    api.patch_status(name, status)
    kubelet.logs[(name, True)] = cluster.CRASHED_LOG
    kubelet.logs[(name, False)] = cluster.STARTED_LOG
    lines = target.logs(5)
    prefix = f"[pod/{name}/ai-engine] "
    assert all(line.text.startswith(prefix) for line in lines), lines
    assert [line.text.removeprefix(prefix) for line in lines] == \
        cluster.CRASHED_LOG.splitlines()[-5:] + cluster.STARTED_LOG.splitlines()
    # The previous container's lines are an earlier run; the current one's are this run.
    current = len(cluster.STARTED_LOG.splitlines())
    assert [line.run for line in lines] == ["earlier"] * 5 + ["current"] * current
    asked = sorted(kubelet.requests)
    assert any("previous=true" in r and "tailLines=5" in r for r in asked), asked
    assert any("previous" not in r for r in asked), asked


def test_crash_looping_container_logs_are_read_once(api: cluster.Api, target: KubernetesTarget,
                                                    kubelet: cluster.KubeletStandIn) -> None:
    pod = cluster.create_pods(api, 1)[0]
    name = pod["metadata"]["name"]
    api.patch_status(name, cluster.crash_loop(pod, "Error", 1))
    kubelet.logs[(name, True)] = cluster.CRASHED_LOG
    kubelet.logs[(name, False)] = cluster.CRASHED_LOG  # what a kubelet answers for a waiting one
    assert len(target.logs(100)) == len(cluster.CRASHED_LOG.splitlines())


def test_logs_without_a_kubelet_are_not_served(api: cluster.Api, target: KubernetesTarget) -> None:
    pod = cluster.create_pods(api, 1, node=cluster.NODE_DOWN)[0]
    api.patch_status(pod["metadata"]["name"], cluster.crash_loop(pod, "Error", 1))
    with pytest.raises(NotSupported, match="did not serve the pods' logs") as info:
        target.logs(50)
    assert "(previous)" in str(info.value)  # it asked for the crashed container's logs
    assert target.run_in_service(["true"], timeout=3) is None  # nothing is running


def test_exec_refused_is_a_question_this_target_cannot_answer(api: cluster.Api,
                                                               target: KubernetesTarget) -> None:
    """A running container, but the kubelet refuses exec (the stand-in serves only logs): not
    "the engine is not running", which would be a false reason."""
    for pod in cluster.create_pods(api, 1):
        api.patch_status(pod["metadata"]["name"], cluster.healthy(pod))
    with pytest.raises(NotSupported, match="did not allow an exec"):
        target.run_in_service(["true"], timeout=3)


def test_restart_stamps_the_template(api: cluster.Api, target: KubernetesTarget) -> None:
    before = target.fingerprint()
    done = target.restart()
    assert "rollout restart of deployment/qbitel-engine" in done
    dep = api.get(f"/apis/apps/v1/namespaces/{cluster.NAMESPACE}/deployments/{cluster.DEPLOYMENT}")
    assert RESTARTED_AT in dep["spec"]["template"]["metadata"]["annotations"]
    assert target.fingerprint() != before


def test_missing_namespace_is_one_message(api: cluster.Api) -> None:
    t = KubernetesTarget(_settings(namespace="qbitel-prod"))
    with pytest.raises(TargetError, match="namespace 'qbitel-prod' not found") as info:
        t.state()
    assert "qbitel" in str(info.value) and "--namespace" in str(info.value)
    with pytest.raises(TargetError, match="namespace 'qbitel-prod' not found"):
        t.logs(10)  # the same message again, without asking the API again
    t.close()


def test_forbidden_credentials(api: cluster.Api) -> None:
    t = KubernetesTarget(Settings(target="kubernetes", kubeconfig=str(cluster.NOACCESS_KUBECONFIG)))
    with pytest.raises(TargetError, match="forbidden: .*cannot list resource \"pods\""):
        t.preflight()
    t.close()


def test_unreachable_api_and_missing_kubeconfig(k8s_api: cluster.Api, tmp_path) -> None:
    doc = cluster.KUBECONFIG.read_text()
    dead = tmp_path / "kubeconfig"
    port = free_port()
    dead.write_text(doc.replace(doc.split('server: "')[1].split('"')[0], f"https://127.0.0.1:{port}"))
    t = KubernetesTarget(Settings(target="kubernetes", kubeconfig=str(dead)))
    with pytest.raises(TargetError, match=f"cannot reach the Kubernetes API at https://127.0.0.1:{port}"):
        t.preflight()
    with pytest.raises(TargetError, match="does not exist"):
        KubernetesTarget(Settings(target="kubernetes", kubeconfig=str(tmp_path / "nope"))).preflight()
