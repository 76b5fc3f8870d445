"""The parts of a cluster that are not the API server, played by the tests against the real
kube-apiserver of scripts/k8s-apiserver.sh: a Node as a kubelet registers it, pods made from
the Deployment's template as its ReplicaSet would make them, and the statuses and events a
kubelet writes (status subresource, core/v1 events). No kubelet runs, so nothing here pulls
an image or starts a process: a pod's status is what the test says it is.
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import secrets
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml

from servicedown.ports import free_port  # noqa: F401 (the tests reach it as cluster.free_port)
from tests.support import ROOT, run

NAMESPACE = "qbitel"
DEPLOYMENT = "qbitel-engine"
SECRET = "qbitel-secrets"
NODE = "servicedown-node-1"  # its kubelet stand-in serves logs
NODE_DOWN = "servicedown-node-2"  # nothing answers on its kubelet port
CONTAINER = "ai-engine"
MANIFESTS = ROOT / "k8s" / "manifests"
SCRIPT = ROOT / "scripts" / "k8s-apiserver.sh"
K8S_DIR = Path(os.environ.get("SERVICEDOWN_CACHE") or Path.home() / ".cache" / "servicedown") / "k8s"
KUBECONFIG = K8S_DIR / "kubeconfig"
NOACCESS_KUBECONFIG = K8S_DIR / "kubeconfig-noaccess"
AUDIT_LOG = K8S_DIR / "data" / "audit.log"
# `up` builds kube-apiserver when it is not cached (a cold build takes minutes on 2 cores;
# the script bounds it with K8S_BUILD_TIMEOUT); a warm start takes seconds.
UP_TIMEOUT_S = float(os.environ.get("K8S_BUILD_TIMEOUT", "3600")) + 300
# The first test of a session waits for that build in its fixture: pytest-timeout's per-test
# bound (600 s in pyproject.toml) would cut a cold build short.
SESSION_TIMEOUT = UP_TIMEOUT_S + 300


def stamp(seconds_ago: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Api:
    """A small REST client of our own (httpx, the admin certificate), so the tests do not
    check the target's code with the target's code."""

    def __init__(self) -> None:
        doc = yaml.safe_load(KUBECONFIG.read_text())
        self.server = doc["clusters"][0]["cluster"]["server"]
        pki = K8S_DIR / "pki"
        tls = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        tls.load_cert_chain(pki / "admin.crt", pki / "admin.key")
        self.http = httpx.Client(base_url=self.server, verify=tls, timeout=15)

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201),
             content_type: str = "application/json", **params: Any) -> dict:
        resp = self.http.request(method, path, params=params or None,
                                 content=None if body is None else json.dumps(body),
                                 headers={"Content-Type": content_type})
        if resp.status_code not in ok:
            raise AssertionError(f"{method} {path} -> {resp.status_code}: {resp.text[:500]}")
        return resp.json() if resp.content else {}

    def get(self, path: str, **params: Any) -> dict:
        return self.call("GET", path, **params)

    def exists(self, path: str) -> bool:
        return self.http.get(path).status_code == 200

    def patch_status(self, pod: str, status: dict) -> dict:
        # What the kubelet sends: a strategic merge patch of the status subresource.
        return self.call("PATCH", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}/status",
                         {"status": status}, content_type="application/strategic-merge-patch+json")

    def close(self) -> None:
        self.http.close()


def kubectl(*args: str, timeout: float = 60) -> str:
    return run(["kubectl", "--kubeconfig", str(KUBECONFIG), *args], timeout=timeout).stdout


def apply_manifests(api: Api) -> dict[str, str]:
    """`kubectl apply -k k8s/manifests` (the API server validates every object), then the
    Secret's placeholder values replaced by strong random ones, as an operator would.
    -> the secret values, so tests can prove none of them is ever shown."""
    kubectl("apply", "-k", str(MANIFESTS))
    values = {k: secrets.token_urlsafe(36) for k in ("database-password", "jwt-secret", "encryption-key")}
    put_secret(api, values)
    return values


def put_secret(api: Api, values: dict[str, str]) -> None:
    body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": SECRET, "namespace": NAMESPACE, "labels": {"app": "qbitel-engine"}},
            "stringData": values}
    path = f"/api/v1/namespaces/{NAMESPACE}/secrets"
    if api.exists(f"{path}/{SECRET}"):
        api.call("PUT", f"{path}/{SECRET}", body)
    else:
        api.call("POST", path, body)


def delete_secret(api: Api) -> None:
    api.call("DELETE", f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}", ok=(200, 202, 404))


def register_node(api: Api, node: str, kubelet_port: int) -> None:
    """The Node a kubelet would register: Ready, its kubelet on 127.0.0.1:kubelet_port (where
    the API server goes for logs and exec)."""
    if not api.exists(f"/api/v1/nodes/{node}"):
        labels = {"kubernetes.io/hostname": node}
        api.call("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                           "metadata": {"name": node, "labels": labels}})
    api.call("PATCH", f"/api/v1/nodes/{node}/status", {"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status", "lastHeartbeatTime": stamp(),
                        "lastTransitionTime": stamp(600)}],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": node}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
        "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
    }}, content_type="application/strategic-merge-patch+json")


def reset(api: Api) -> None:
    """No pods and no events: what each scenario starts from. Pods bound to a node wait for
    their kubelet to confirm a graceful delete, so they go with grace period 0 (as
    `kubectl delete --force` does)."""
    base = f"/api/v1/namespaces/{NAMESPACE}"
    api.call("DELETE", f"{base}/pods", ok=(200,), gracePeriodSeconds=0)
    api.call("DELETE", f"{base}/events", ok=(200,))
    deadline = time.monotonic() + 30
    while api.get(f"{base}/pods").get("items"):
        if time.monotonic() > deadline:
            raise AssertionError("pods still present 30 s after a forced delete")
        time.sleep(0.2)


def create_pods(api: Api, count: int = 3, image: str | None = None, node: str = NODE) -> list[dict]:
    """Pods from the Deployment's template, named and labelled as its ReplicaSet names them,
    already scheduled to a node."""
    dep = api.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{DEPLOYMENT}")
    tmpl = dep["spec"]["template"]
    out = []
    for _ in range(count):
        spec = copy.deepcopy(tmpl["spec"])
        spec["nodeName"] = node
        if image:
            spec["containers"][0]["image"] = image
        meta = copy.deepcopy(tmpl.get("metadata") or {})
        meta.update(generateName=f"{DEPLOYMENT}-7d4b9c6f5d-", namespace=NAMESPACE)
        meta["labels"] = {**meta.get("labels", {}), "pod-template-hash": "7d4b9c6f5d"}
        out.append(api.call("POST", f"/api/v1/namespaces/{NAMESPACE}/pods",
                            {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}))
    return out


def _conditions(ready: bool, reason: str = "ContainersNotReady", message: str = "") -> list[dict]:
    t = stamp(300)
    flag = "True" if ready else "False"
    message = message or f"containers with unready status: [{CONTAINER}]"
    extra = {} if ready else {"reason": reason, "message": message}
    return [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
        {"type": "Initialized", "status": "True", "lastTransitionTime": t},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": t, **extra},
        {"type": "Ready", "status": flag, "lastTransitionTime": t, **extra},
    ]


def _container(pod: dict, state: dict, ready: bool, restarts: int = 0, last: dict | None = None,
               started: bool | None = None) -> dict:
    uid = pod["metadata"]["uid"].replace("-", "")
    cs: dict[str, Any] = {"name": CONTAINER, "image": pod["spec"]["containers"][0]["image"],
                          "imageID": "", "ready": ready, "restartCount": restarts,
                          "state": state, "lastState": {"terminated": last} if last else {}}
    if "running" in state or "terminated" in state or last:
        cs["containerID"] = f"containerd://{uid}{restarts:04d}"
        cs["imageID"] = "docker.io/library/qbitel-engine@sha256:" + "0" * 64
    if started is not None:
        cs["started"] = started
    return cs


def _pod_status(pod: dict, phase: str, ready: bool, cs: dict, **conds: str) -> dict:
    return {"phase": phase, "conditions": _conditions(ready, **conds), "hostIP": "127.0.0.1",
            "podIP": "10.244.0.10", "startTime": stamp(300), "containerStatuses": [cs]}


def healthy(pod: dict) -> dict:
    cs = _container(pod, {"running": {"startedAt": stamp(290)}}, ready=True, started=True)
    return _pod_status(pod, "Running", True, cs)


def crash_loop(pod: dict, reason: str, exit_code: int, restarts: int = 4,
               finished_ago: float = 20) -> dict:
    """CrashLoopBackOff after an exit the kubelet recorded as lastState.terminated."""
    last = {"exitCode": exit_code, "reason": reason, "startedAt": stamp(finished_ago + 8),
            "finishedAt": stamp(finished_ago),
            "containerID": f"containerd://{pod['metadata']['uid'].replace('-', '')}{restarts - 1:04d}"}
    wait = {"waiting": {"reason": "CrashLoopBackOff",
                        "message": f"back-off 1m20s restarting failed container={CONTAINER} "
                                   f"pod={pod['metadata']['name']}_{NAMESPACE}({pod['metadata']['uid']})"}}
    cs = _container(pod, wait, ready=False, restarts=restarts, last=last, started=False)
    return _pod_status(pod, "Running", False, cs)


def config_error(pod: dict, message: str) -> dict:
    """CreateContainerConfigError: the kubelet cannot build the container's env."""
    cs = _container(pod, {"waiting": {"reason": "CreateContainerConfigError", "message": message}},
                    ready=False, started=False)
    return _pod_status(pod, "Pending", False, cs)


def image_pull_backoff(pod: dict) -> dict:
    image = pod["spec"]["containers"][0]["image"]
    cs = _container(pod, {"waiting": {"reason": "ImagePullBackOff",
                                      "message": f'Back-off pulling image "{image}"'}},
                    ready=False, started=False)
    return _pod_status(pod, "Pending", False, cs)


def not_ready(pod: dict) -> dict:
    """Running, started, failing its readiness probe."""
    cs = _container(pod, {"running": {"startedAt": stamp(290)}}, ready=False, started=True)
    return _pod_status(pod, "Running", False, cs)


def evicted(pod: dict, message: str) -> dict:
    """What the kubelet writes when the node evicts a pod (status.reason Evicted)."""
    cs = _container(pod, {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                                         "finishedAt": stamp(30), "startedAt": stamp(290)}},
                    ready=False, started=False)
    status = _pod_status(pod, "Failed", False, cs)
    status.update(reason="Evicted", message=message)
    return status


def unschedulable(pod: dict, message: str) -> dict:
    """Pending, never placed: the scheduler's PodScheduled=False condition."""
    return {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
         "lastTransitionTime": stamp(60)}]}


def kubelet_event(api: Api, pod: dict, reason: str, message: str, kind: str = "Warning",
                  count: int = 1, seconds_ago: float = 10) -> None:
    name = pod["metadata"]["name"]
    api.call("POST", f"/api/v1/namespaces/{NAMESPACE}/events", {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{name}.{secrets.token_hex(8)}", "namespace": NAMESPACE},
        "involvedObject": {"kind": "Pod", "namespace": NAMESPACE, "name": name, "apiVersion": "v1",
                           "uid": pod["metadata"]["uid"], "fieldPath": f"spec.containers{{{CONTAINER}}}"},
        "reason": reason, "message": message, "type": kind, "count": count,
        "firstTimestamp": stamp(seconds_ago + 60), "lastTimestamp": stamp(seconds_ago),
        "source": {"component": "kubelet", "host": pod["spec"].get("nodeName", NODE)},
    })


# The engine's own log lines (its format: asctime - name - level - message).
STARTED_LOG = """\
2026-11-29 14:00:01,002 - qbitel_ref.validation - INFO - [INFO] \u2713 PASS: Secret: JWT_SECRET
2026-11-29 14:00:01,004 - qbitel_ref.validation - INFO - \u2705 VALIDATION PASSED: All checks completed
2026-11-29 14:00:02,310 - qbitel_ref.server - INFO - QBITEL Engine listening on 0.0.0.0:8000
"""
CRASHED_LOG = """\
2026-11-29 14:00:01,004 - qbitel_ref.validation - INFO - \u2705 VALIDATION PASSED: All checks completed
2026-11-29 14:00:02,118 - qbitel_ref - ERROR - Failed to start QBITEL Engine: division by zero
Traceback (most recent call last):
  File "/opt/engine/app/qbitel_ref/__main__.py", line 31, in main
    engine.start()
  File "/opt/engine/app/qbitel_ref/engine.py", line 88, in start
    ratio = used / limit
ZeroDivisionError: division by zero
"""


# --- the node's kubelet, for the one thing the API server asks it here: logs ---------------------
class KubeletStandIn:
    """Answers the API server's `GET /containerLogs/{ns}/{pod}/{container}` (what `kubectl
    logs` becomes on the node) over HTTPS, as the kubelet does: the text the test put in
    `logs[(pod, previous)]`, tailLines honoured, and the kubelet's 400 for a container that
    has not run. Every other kubelet endpoint (exec included) is refused. The API server
    does not verify the kubelet's certificate when it is given no CA for it, as here."""

    def __init__(self) -> None:
        self.logs: dict[tuple[str, bool], str] = {}
        self.requests: list[str] = []
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                stand_in.requests.append(self.path)
                url = urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                query = parse_qs(url.query)
                if len(parts) != 4 or parts[0] != "containerLogs":
                    return self._answer(404, "404 page not found")
                _, _ns, pod, container = parts
                previous = query.get("previous", ["false"])[0] == "true"
                text = stand_in.logs.get((pod, previous))
                if text is None:
                    what = "previous terminated container" if previous else "container"
                    return self._answer(400, f'{what} "{container}" in pod "{pod}" not found')
                tail = int(query.get("tailLines", ["0"])[0] or 0)
                lines = text.splitlines(keepends=True)
                self._answer(200, "".join(lines[-tail:] if tail else lines))

            def _answer(self, code: int, text: str) -> None:
                data = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # The API server's own serving certificate (valid for 127.0.0.1) serves here too.
        ctx.load_cert_chain(K8S_DIR / "pki" / "server.crt", K8S_DIR / "pki" / "server.key")
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the engine's HTTP side, for the checks that curl it --------------------------------------
def _healthy_bodies() -> dict[str, dict]:
    db = {"status": "pass", "message": "Database connection healthy", "critical": True}
    return {
        "/health": {"status": "healthy", "timestamp": stamp(), "version": "1.0.0",
                    "environment": "production", "uptime_seconds": 300.0,
                    "checks": [{"component": "database", "status": "healthy",
                                "details": {"message": "Database connection healthy", "critical": True}}],
                    "services": {"database": "up", "circuit_breaker": "closed"}},
        "/health/live": {"status": "pass", "checks": {"event_loop": {"status": "pass"},
                                                      "memory": {"status": "pass"}}},
        "/health/ready": {"status": "pass", "checks": {"dependencies": {"database": db}}},
        "/health/startup": {"status": "pass", "checks": {}},
        "/health/dependencies": {"status": "pass", "checks": {"database": db}},
    }


class _HealthHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = _healthy_bodies().get(self.path.split("?")[0])
        data = json.dumps(body or {"detail": "Not Found"}).encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class HealthServer:
    """The engine's healthy answers on a loopback port: the URL `kubectl port-forward
    svc/qbitel-engine 8000` would give, for the checks that curl the service."""

    def __init__(self) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HealthHandler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
