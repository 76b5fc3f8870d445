"""A real kube-apiserver + etcd for the session (scripts/k8s-apiserver.sh: built from source on
first use, then cached), the reference manifests applied to it, and a simulated node."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from servicedown.ports import free_port
from tests.kubernetes import cluster
from tests.support import run


def _go_available() -> bool:
    return shutil.which("go") is not None or Path("/usr/local/go/bin/go").exists()


@pytest.fixture(scope="session")
def k8s_api() -> Iterator[cluster.Api]:
    """etcd and kube-apiserver on loopback, from clean data, for this session only."""
    script = str(cluster.SCRIPT)
    binary_cached = any((cluster.K8S_DIR / "bin").glob("kube-apiserver-v*"))
    if not binary_cached and not _go_available():
        pytest.skip("kube-apiserver is not built and Go is missing, so it cannot be built here: "
                    "install Go 1.26+ (or run 'scripts/k8s-apiserver.sh build' where Go exists)")
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is missing: the tests apply k8s/manifests with it (apt-get install kubectl)")
    run(["bash", script, "down"], timeout=120)
    run(["bash", script, "up"], timeout=cluster.UP_TIMEOUT_S)
    api = cluster.Api()
    try:
        yield api
    finally:
        api.close()
        run(["bash", script, "down"], timeout=120, check=False)


@pytest.fixture(scope="session")
def kubelet(k8s_api: cluster.Api) -> Iterator[cluster.KubeletStandIn]:
    stand_in = cluster.KubeletStandIn()
    yield stand_in
    stand_in.close()


@pytest.fixture(scope="session")
def engine_cluster(k8s_api: cluster.Api, kubelet: cluster.KubeletStandIn) -> dict[str, str]:
    """The reference manifests applied, strong secret values put in, two Ready nodes: one
    whose kubelet (stand-in) serves logs, one whose kubelet is down (nothing listens).
    -> the secret values (to prove they are never shown)."""
    values = cluster.apply_manifests(k8s_api)
    cluster.register_node(k8s_api, cluster.NODE, kubelet.port)
    cluster.register_node(k8s_api, cluster.NODE_DOWN, free_port())
    return values


@pytest.fixture(scope="session")
def health_server() -> Iterator[cluster.HealthServer]:
    server = cluster.HealthServer()
    yield server
    server.close()


@pytest.fixture
def api(k8s_api: cluster.Api, engine_cluster: dict[str, str],
        kubelet: cluster.KubeletStandIn) -> Iterator[cluster.Api]:
    """A clean namespace (no pods, no events, no logs, the Secret in place) for each test."""
    cluster.reset(k8s_api)
    cluster.put_secret(k8s_api, engine_cluster)
    kubelet.logs.clear()
    kubelet.requests.clear()
    yield k8s_api
