"""Kubernetes scenarios on a private kube-apiserver (scripts/k8s-apiserver.sh with its own
cache folder and ports, its binary and etcd linked from the shared cache, never the shared
server): the reference manifests applied, and each scenario's pods written with the statuses,
events and logs a kubelet would give them (tests/kubernetes/cluster.py plays the kubelet)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from servicedown.config import Settings
from servicedown.corpus import common
from servicedown.corpus.scenarios import Scenario
from servicedown.ports import free_port

SCRIPT = common.ROOT / "scripts" / "k8s-apiserver.sh"


class ClusterError(RuntimeError):
    pass


def _shared_cache() -> Path:
    return Path(os.environ.get("SERVICEDOWN_CACHE") or Path.home() / ".cache" / "servicedown")


@contextmanager
def private_apiserver() -> Iterator[Any]:
    """A kube-apiserver + etcd of our own; yields tests.kubernetes.cluster bound to it."""
    shared = _shared_cache() / "k8s"
    cache = _shared_cache() / f"corpus-k8s-{os.getpid()}"
    k8s = cache / "k8s"
    (k8s / "bin").mkdir(parents=True, exist_ok=True)
    built = sorted((shared / "bin").glob("kube-apiserver-v*"))
    if not built:
        raise ClusterError("kube-apiserver is not built yet: run 'scripts/k8s-apiserver.sh build' "
                           "(make k8s-up) once; the corpus reuses that build")
    for b in built:
        link = k8s / "bin" / b.name
        if not link.exists():
            link.symlink_to(b)
    for etcd in shared.glob("etcd-*"):
        if not (k8s / etcd.name).exists():
            (k8s / etcd.name).symlink_to(etcd)
    env = {**os.environ, "SERVICEDOWN_CACHE": str(cache), "K8S_APISERVER_PORT": str(free_port()),
           "K8S_ETCD_PORT": str(_two_free_ports())}
    try:
        up = subprocess.run(["bash", str(SCRIPT), "up"], capture_output=True, text=True, timeout=300,
                            env=env)
        if up.returncode != 0:
            raise ClusterError(f"private kube-apiserver did not start: {(up.stderr or up.stdout)[-600:]}")
        old = os.environ.get("SERVICEDOWN_CACHE")
        os.environ["SERVICEDOWN_CACHE"] = str(cache)  # cluster.py reads it when imported
        try:
            import importlib

            import tests.kubernetes.cluster as cluster

            cluster = importlib.reload(cluster)
        finally:
            if old is None:
                os.environ.pop("SERVICEDOWN_CACHE", None)
            else:
                os.environ["SERVICEDOWN_CACHE"] = old
        yield cluster
    finally:
        subprocess.run(["bash", str(SCRIPT), "down"], capture_output=True, timeout=120, env=env)


def _two_free_ports() -> int:
    """etcd takes PORT and PORT+1."""
    for _ in range(50):
        p = free_port()
        try:
            import socket

            with socket.socket() as s:
                s.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
    raise ClusterError("no two free consecutive ports for etcd")


# Each scenario: the pods' statuses, events and logs, as a kubelet would write them.
def _setup(cluster: Any, api: Any, kubelet: Any, sc: Scenario) -> None:
    pods = cluster.create_pods(api, 2)
    for pod in pods:
        name = pod["metadata"]["name"]
        if sc.id == "k8s-healthy":
            api.patch_status(name, cluster.healthy(pod))
            kubelet.logs[(name, False)] = cluster.STARTED_LOG
        elif sc.id == "k8s-oom-loop":
            api.patch_status(name, cluster.crash_loop(pod, "OOMKilled", 137))
            cluster.kubelet_event(api, pod, "BackOff", "Back-off restarting failed container "
                                  f"{cluster.CONTAINER} in pod {name}", count=5)
        elif sc.id == "k8s-crash-loop":
            api.patch_status(name, cluster.crash_loop(pod, "Error", 1))
            kubelet.logs[(name, True)] = cluster.CRASHED_LOG
        elif sc.id == "k8s-missing-secret":
            api.patch_status(name, cluster.config_error(
                pod, f"couldn't find key jwt-secret in Secret {cluster.NAMESPACE}/{cluster.SECRET}"))
            cluster.kubelet_event(api, pod, "Failed", "Error: couldn't find key jwt-secret in Secret "
                                  f"{cluster.NAMESPACE}/{cluster.SECRET}", count=3)
        elif sc.id == "k8s-image-pull":
            api.patch_status(name, cluster.image_pull_backoff(pod))
            cluster.kubelet_event(api, pod, "Failed", "Error: ImagePullBackOff", count=3)
        else:
            raise ClusterError(f"no Kubernetes setup for scenario {sc.id}")


def build(batch: list[Scenario], out_dir: Path, progress: Callable[[str], None],
          failures: list[str]) -> int:
    done = 0
    try:
        with private_apiserver() as cluster:
            api = cluster.Api()
            kubelet = cluster.KubeletStandIn()
            health = cluster.HealthServer()
            try:
                values = cluster.apply_manifests(api)
                cluster.register_node(api, cluster.NODE, kubelet.port)
                known = {v: k.upper().replace("-", "_") for k, v in values.items()}
                for n, sc in enumerate(batch, 1):
                    progress(f"[kubernetes {n}/{len(batch)}] {sc.id}: {sc.title}")
                    with common.attempt(sc.id, failures, progress):
                        cluster.reset(api)
                        kubelet.logs.clear()
                        start = time.time()
                        _setup(cluster, api, kubelet, sc)
                        url = health.url if sc.verdict == "healthy" else f"http://127.0.0.1:{free_port()}"
                        settings = Settings(target="kubernetes", kubeconfig=str(cluster.KUBECONFIG),
                                            namespace=cluster.NAMESPACE, selector="app=qbitel-engine",
                                            base_url=url, cpu_sample_s=0.5,
                                            event_window_s=max(600, int(time.time() - start) + 1))
                        common.record(sc, "reference", settings, out_dir, progress, known_secrets=known,
                                      provenance={"cluster": "private kube-apiserver; pods written "
                                                             "as a kubelet would (cluster.py)"})
                        done += 1
            finally:
                health.close()
                kubelet.close()
                api.close()
    except ClusterError as exc:
        failures.append(f"kubernetes: {exc}")
        progress(f"skipped the Kubernetes scenarios: {exc}")
    return done
