"""`servicedown watch --target kubernetes` against the real API server: the pod and event
watches as the event stream. The tests play the kubelet (pod statuses, events) and, for the
quick fix, the Deployment controller: when `kubectl rollout restart`'s annotation appears,
the old pods go and healthy new ones come, as they would in a cluster. The escalation clock
is tested with a crash loop whose first exit the platform recorded 31 minutes ago."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from servicedown.schema import epoch
from servicedown.targets.kubernetes import RESTARTED_AT
from tests.kubernetes import cluster
from tests.watch.support import FlipHealth, WatchRun, calm, down, first, in_order, kind

pytestmark = [pytest.mark.kubernetes, pytest.mark.slow, pytest.mark.timeout(cluster.SESSION_TIMEOUT)]
QUICK = ("--settle-s", "3", "--interval-s", "30", "--max-s", "180")


@pytest.fixture
def health() -> Iterator[FlipHealth]:
    h = FlipHealth()
    yield h
    h.close()


def healthy_pods(api: cluster.Api, kubelet: cluster.KubeletStandIn, count: int = 2) -> list[dict]:
    pods = cluster.create_pods(api, count)
    for pod in pods:
        api.patch_status(pod["metadata"]["name"], cluster.healthy(pod))
        kubelet.logs[(pod["metadata"]["name"], False)] = cluster.STARTED_LOG
    return pods


class ControllerStandIn:
    """When the Deployment's pod template gets a new restartedAt (the quick fix), replace the
    pods with healthy ones and let the service answer again."""

    def __init__(self, api: cluster.Api, kubelet: cluster.KubeletStandIn, health: FlipHealth) -> None:
        self.api, self.kubelet, self.health = api, kubelet, health
        self.rollouts = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _stamp(self) -> str | None:
        dep = self.api.get(f"/apis/apps/v1/namespaces/{cluster.NAMESPACE}/deployments/{cluster.DEPLOYMENT}")
        return ((dep["spec"]["template"].get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)

    def _run(self) -> None:
        seen = self._stamp()
        while not self.stop.wait(0.3):
            stamp = self._stamp()
            if stamp == seen:
                continue
            seen = stamp
            self.rollouts += 1
            cluster.reset(self.api)
            healthy_pods(self.api, self.kubelet)
            self.health.healthy = True

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def args(health: FlipHealth, *extra: str) -> list[str]:
    return ["--target", "kubernetes", "--kubeconfig", str(cluster.KUBECONFIG), "--namespace",
            cluster.NAMESPACE, "--selector", "app=qbitel-engine", "--base-url", health.url, *extra]


def test_a_crash_loop_is_seen_from_the_pod_watch_and_healed_by_a_rollout_restart(
        api, kubelet, engine_cluster, health, tmp_path):
    pods = healthy_pods(api, kubelet)
    controller = ControllerStandIn(api, kubelet, health)
    w = WatchRun(tmp_path, *args(health, "--remediate", "--until-healthy", "--max-restarts", "2",
                                 "--backoff-s", "3", *QUICK))
    try:
        w.wait_for(calm, 120, "healthy state with no incident open")
        health.healthy = False
        for pod in pods:
            name = pod["metadata"]["name"]
            kubelet.logs[(name, True)] = cluster.CRASHED_LOG
            api.patch_status(name, cluster.crash_loop(pod, "Error", 1, restarts=1, finished_ago=1))
        assert w.wait_exit(150) == 0, w.output[-3000:]
    finally:
        controller.close()
        w.stop()
    es = w.entries()
    in_order(es, kind("start", has="events from kubernetes watch"), kind("state", "healthy"), down,
             kind("remediation", has="kubectl rollout restart deployment/qbitel-engine"),
             lambda e: e.kind == "restart" and e.data.get("by") == "remediate", kind("recovery"),
             kind("end", has="recovered"))
    assert controller.rollouts >= 1
    restarts = [e for e in es if e.kind == "restart" and e.data.get("by") == "platform"]
    assert restarts and "restarts 1" in restarts[0].detail, [e.detail for e in es]
    assert any(down(e) and e.top_cause == "crash" for e in es), [(e.verdict, e.top_cause) for e in es]
    for value in engine_cluster.values():
        assert value not in w.output + w.timeline.read_text()


def test_the_escalation_clock_counts_from_the_platforms_first_exit(api, kubelet, engine_cluster,
                                                                     health, tmp_path):
    """The loop began 31 minutes ago on the platform's clock: both thresholds of the runbook
    (15 and 30 minutes) are crossed at once, recorded, and the hook pages for each."""
    health.healthy = False
    for pod in cluster.create_pods(api, 2):
        api.patch_status(pod["metadata"]["name"],
                         cluster.crash_loop(pod, "OOMKilled", 137, restarts=9, finished_ago=31 * 60))
        cluster.kubelet_event(api, pod, "BackOff", "Back-off restarting failed container ai-engine",
                              count=9)
    pages = tmp_path / "pages.txt"
    hook = f'echo "$SERVICEDOWN_ESCALATE_TO|$SERVICEDOWN_DOWNTIME_S|$SERVICEDOWN_TOP_CAUSE" >> {pages}'
    w = WatchRun(tmp_path, *args(health, "--event-window-s", "7200", "--escalation-hook", hook,
                                 "--max-s", "120"))
    try:
        w.wait_for(lambda es: sum(e.kind == "escalation" for e in es) >= 2, 90, "two escalations")
    finally:
        w.stop()
    es = w.entries()
    now = time.time()
    steps = [e for e in es if e.kind == "escalation"]
    assert [e.data["who"] for e in steps] == ["platform lead", "CTO"]
    down_since = epoch(next(e for e in es if down(e)).data["down_since"])
    assert down_since is not None and abs((now - down_since) - 31 * 60) < 180, now - down_since
    for e, after in zip(steps, (900, 1800), strict=True):
        crossed = epoch(e.data["crossed_at"])
        assert crossed is not None and abs(crossed - (down_since + after)) < 1
        assert e.data["downtime_s"] >= 1800 and e.data["hook"]["rc"] == 0
    lines = pages.read_text().splitlines()
    assert [line.split("|")[0] for line in lines] == ["platform lead", "CTO"]
    assert all(int(line.split("|")[1]) >= 1800 and line.split("|")[2] == "oom" for line in lines)
    assert first(es, kind("end", has="interrupted")) >= 0
