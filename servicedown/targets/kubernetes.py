"""Kubernetes target: the engine's pods (namespace + label selector) through the API server.

The runbook's `kubectl get pods -l app=qbitel-engine -n qbitel`, `kubectl logs` and
`kubectl rollout restart deployment/qbitel-engine -n qbitel`, asked of the API directly.
The `kubernetes` client supplies the configuration (--kubeconfig, in-cluster service account,
or the default kubeconfig); the requests themselves are plain REST calls returning JSON, each
with a connect and a read bound, and no retry (an unreachable API fails within its bound).

Secrets are never read: a Secret's existence comes from a server-side Table listing
(`includeObject=None`: names, type and key count, no data and no annotations, which can carry a
copy of the data in kubectl's last-applied configuration). Whether a referenced key exists is
the kubelet's verdict: a container waiting in CreateContainerConfigError names the missing
Secret or key. A variable set from a Secret maps to SECRET_REF in environment(), never to its
value.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from servicedown.config import Settings
from servicedown.secrets import REQUIRED, SECRET_REF, is_secret_ref  # noqa: F401 (re-exported)
from servicedown.targets.base import ExecResult, NotSupported, ServiceState, Target, TargetError

ENGINE_CONTAINER = "ai-engine"  # the real engine's container name; otherwise the first one
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # what `kubectl rollout restart` sets
# environment()'s value for a variable set from a Secret (secretKeyRef, or envFrom secretRef):
# present, value not read. Long enough and free of the engine's weak words so that a check
# that does not know it cannot fail on it; startup.secrets recognises it and skips the value.
# Waiting reasons that mean the container cannot run (not the normal ContainerCreating).
BAD_WAITING = ("CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError",
               "ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName",
               "RunContainerError", "PreCreateHookError", "PostStartHookError")
USER_AGENT = "servicedown/kubernetes-target"
MAX_LOG_PODS = 3  # pods whose logs are read (kubectl logs -l reads 5 at most)
MAX_EVENTS = 30
MAX_LISTED = 3  # not-ready pods named in the one-line status
# The kubelet's messages for a reference it cannot resolve (pkg/kubelet/kubelet_pods.go).
_SECRET_NOT_FOUND = re.compile(r'secret "([^"]+)" not found', re.IGNORECASE)
_KEY_NOT_FOUND = re.compile(r"couldn't find key (\S+) in Secret [^/\s]+/(\S+)")



class ApiError(TargetError):
    """The API answered with an error status; the message is the API's own."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --- pure reading of pod and event JSON ---------------------------------------------------
def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _clock(when: datetime | None) -> str:
    return when.strftime("%H:%M:%S") if when else "--:--:--"


def pod_ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def engine_container_name(spec: dict) -> str:
    names = [c.get("name", "") for c in spec.get("containers") or []]
    return ENGINE_CONTAINER if ENGINE_CONTAINER in names else (names[0] if names else ENGINE_CONTAINER)


def container_statuses(pod: dict) -> list[dict]:
    """Init containers' statuses too: a pod stuck in init waits there."""
    st = pod.get("status") or {}
    return list(st.get("initContainerStatuses") or []) + list(st.get("containerStatuses") or [])


def engine_status(pod: dict) -> dict | None:
    name = engine_container_name(pod.get("spec") or {})
    return next((c for c in (pod.get("status") or {}).get("containerStatuses") or []
                 if c.get("name") == name), None)


def latest_termination(cs: dict) -> dict | None:
    """The container's own terminated state, else the one before its current run."""
    return ((cs.get("state") or {}).get("terminated")
            or (cs.get("lastState") or {}).get("terminated"))


def waiting(cs: dict) -> dict | None:
    return (cs.get("state") or {}).get("waiting")


@dataclass
class PodView:
    """What one pod says, in the words `kubectl get pods` / `describe pod` use."""

    name: str
    uid: str
    phase: str
    ready: bool
    deleting: bool
    created: datetime | None
    restarts: int
    word: str  # Running, CrashLoopBackOff, ImagePullBackOff, Pending...
    waiting: list[str] = field(default_factory=list)  # "container: Reason: message"
    starting: bool = False  # containers running, startup probe not passed yet

    def line(self) -> str:
        ready = "ready" if self.ready else "not ready"
        return f"pod {self.name}: {self.word}, {ready}, {self.restarts} restart(s)"


def view_pod(pod: dict) -> PodView:
    meta = pod.get("metadata") or {}
    st = pod.get("status") or {}
    statuses = container_statuses(pod)
    waits = []
    word = st.get("reason") or st.get("phase") or "Unknown"  # Evicted, or the phase
    for cs in statuses:
        w = waiting(cs)
        if w and w.get("reason"):
            msg = f": {w['message'][:200]}" if w.get("message") else ""
            waits.append(f"{cs.get('name')}: {w['reason']}{msg}")
            if w["reason"] in BAD_WAITING or word in ("Pending", "Running"):
                word = w["reason"]
    if not waits and st.get("phase") == "Running":
        term = next((latest_termination(cs) for cs in statuses
                     if (cs.get("state") or {}).get("terminated")), None)
        if term:
            word = term.get("reason") or "Terminated"
    regular = st.get("containerStatuses") or []
    starting = bool(regular) and all((cs.get("state") or {}).get("running") for cs in regular) \
        and not all(cs.get("started", True) for cs in regular)
    return PodView(
        name=meta.get("name", "?"), uid=meta.get("uid", ""), phase=st.get("phase", "Unknown"),
        ready=pod_ready(pod), deleting=bool(meta.get("deletionTimestamp")),
        created=parse_time(meta.get("creationTimestamp")),
        restarts=sum(int(cs.get("restartCount") or 0) for cs in regular),
        word=word, waiting=waits, starting=starting,
    )


def unresolved_refs(pods: list[dict]) -> tuple[set[str], set[tuple[str, str]]]:
    """Secrets and (secret, key) pairs the kubelet could not resolve (CreateContainerConfigError)."""
    secrets: set[str] = set()
    keys: set[tuple[str, str]] = set()
    for pod in pods:
        for cs in container_statuses(pod):
            w = waiting(cs) or {}
            if w.get("reason") != "CreateContainerConfigError":
                continue
            msg = w.get("message") or ""
            secrets.update(_SECRET_NOT_FOUND.findall(msg))
            keys.update((secret, key) for key, secret in _KEY_NOT_FOUND.findall(msg))
    return secrets, keys


def exits(pod: dict) -> list[tuple[dict, dict]]:
    """(container status, its latest termination) of each container that has one; an init
    container's clean exit is how it is meant to end, so only its failures count."""
    st = pod.get("status") or {}
    out = []
    for cs in st.get("initContainerStatuses") or []:
        term = latest_termination(cs)
        if term and (term.get("exitCode") or 0) != 0:
            out.append((cs, term))
    for cs in st.get("containerStatuses") or []:
        term = latest_termination(cs)
        if term:
            out.append((cs, term))
    return out


def termination_events(pods: list[dict], since: datetime) -> tuple[list[tuple[datetime, str]], int, int]:
    """The containers' recorded exits since `since`, in the Compose target's event words.

    -> ((time, line) list, oom count, die count). Each container keeps only its latest
    exit, so a crash loop counts once here; its BackOff events carry the rest."""
    out: list[tuple[datetime, str]] = []
    ooms = dies = 0
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "?")
        for cs, term in exits(pod):
            when = parse_time(term.get("finishedAt"))
            if when is None or when < since:
                continue
            where = f"pod/{name} container {cs.get('name')}"
            if term.get("reason") == "OOMKilled":
                ooms += 1
                out.append((when, f"{_clock(when)} oom {where}"))
            dies += 1
            out.append((when, f"{_clock(when)} die exitCode={term.get('exitCode', '?')} "
                              f"reason={term.get('reason') or '?'} {where}"))
    return out, ooms, dies


def event_line(ev: dict) -> tuple[datetime | None, str]:
    """One API event as a line; the kubelet's Killing reads as a requested kill, the way
    Docker's kill event does (the kubelet stops a container with SIGTERM, then SIGKILL
    after the grace period), so an exit code 137 after it is not blamed on memory."""
    when = (parse_time(ev.get("lastTimestamp")) or parse_time(ev.get("eventTime"))
            or parse_time(ev.get("firstTimestamp"))
            or parse_time((ev.get("metadata") or {}).get("creationTimestamp")))
    obj = ev.get("involvedObject") or {}
    count = ev.get("count") or ((ev.get("series") or {}).get("count")) or 1
    message = " ".join(str(ev.get("message") or "").split())[:240]
    times = f" (x{count})" if count and int(count) > 1 else ""
    if ev.get("reason") == "Killing":
        return when, f"{_clock(when)} kill signal=15 pod/{obj.get('name')}: {message}{times}"
    return when, (f"{_clock(when)} {ev.get('type', 'Normal')} {ev.get('reason', '?')} "
                  f"pod/{obj.get('name')}: {message}{times}")


def exit_status(error_channel: str) -> int | None:
    """The exec's exit code from the API's error channel: 0 on Success, the ExitCode cause
    otherwise; None when the exec itself was refused (no kubelet, no such container...)."""
    try:
        status = json.loads(error_channel or "{}")
    except ValueError:
        return None
    if status.get("status") == "Success":
        return 0
    causes = (status.get("details") or {}).get("causes") or []
    code = next((c.get("message") for c in causes if c.get("reason") == "ExitCode"), None)
    try:
        return int(code) if code is not None else None
    except ValueError:
        return None


def selector_text(selector: dict | None) -> str:
    labels = (selector or {}).get("matchLabels") or {}
    exprs = (selector or {}).get("matchExpressions") or []
    parts = [f"{k}={v}" for k, v in sorted(labels.items())]
    parts += [f"{e.get('key')} {e.get('operator')} {e.get('values') or ''}".strip() for e in exprs]
    return ",".join(parts) or "(none)"


_EPOCH = datetime.fromtimestamp(0, UTC)


def _running_since(cs: dict | None) -> datetime | None:
    return parse_time((((cs or {}).get("state") or {}).get("running") or {}).get("startedAt"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:240]


# --- the target -----------------------------------------------------------------------------
class KubernetesTarget(Target):
    kind = "kubernetes"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        bound = max(float(settings.check_timeout_s), 1.0)
        self._timeout = (min(3.0, bound), bound)  # (connect, read) of every request
        self._lock = threading.Lock()
        self._api: Any = None
        self._config: Any = None
        self._error: TargetError | None = None
        self.server = ""
        self.source = ""

    # --- plumbing -------------------------------------------------------------------
    def describe(self) -> str:
        s = self.settings
        where = f" on {self.server}" if self.server else ""
        return (f"kubernetes deployment '{s.deployment}', pods -l {s.selector} "
                f"in namespace '{s.namespace}'{where}")

    def preflight(self) -> None:
        self._client()

    def _client(self) -> Any:
        """The API client, checked once (configuration, reachability, namespace); a failure
        is kept and raised again, so concurrent checks report one message, not one timeout each."""
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._api is None:
                try:
                    api = self._connect()
                    self._check_namespace(api)
                except TargetError as exc:
                    self._error = exc
                    raise
                self._api = api
            return self._api

    def _connect(self) -> Any:
        from kubernetes import client, config

        cfg = client.Configuration()
        path = self.settings.kubeconfig
        try:
            if path:
                if not os.path.isfile(path):
                    raise TargetError(f"kubeconfig '{path}' does not exist; give --kubeconfig the "
                                      "path of a readable kubeconfig (or SERVICEDOWN_KUBECONFIG)")
                config.load_kube_config(config_file=path, client_configuration=cfg,
                                        persist_config=False)
                self.source = f"kubeconfig {path}"
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=cfg)
                self.source = "in-cluster service account"
            else:
                config.load_kube_config(client_configuration=cfg, persist_config=False)
                self.source = "kubeconfig " + os.environ.get("KUBECONFIG", "~/.kube/config")
        except TargetError:
            raise
        except Exception as exc:  # ConfigException, a missing file, YAML errors
            raise TargetError(
                f"no usable Kubernetes configuration ({_first_line(exc)}); give --kubeconfig PATH "
                "(or SERVICEDOWN_KUBECONFIG, KUBECONFIG), or run inside the cluster") from None
        cfg.retries = 0  # one attempt: a dead API must fail within its bound, not four times
        self._config = cfg
        self.server = cfg.host
        api = client.ApiClient(cfg)
        api.user_agent = USER_AGENT  # names this tool in the API server's audit log
        return api

    def _request(self, api: Any, method: str, path: str, query: dict[str, Any] | None = None,
                 body: Any = None, accept: str = "application/json",
                 content_type: str | None = None) -> bytes:
        """One bounded REST call -> the body; ApiError for an error status, TargetError when
        the API cannot be reached."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            params = api.param_serialize(
                method=method, resource_path=path,
                query_params=[(k, v) for k, v in (query or {}).items() if v is not None],
                header_params=headers, body=body, auth_settings=["BearerToken"])
            resp = api.call_api(*params, _request_timeout=self._timeout)
            resp.read()
        except ApiException as exc:  # the client wraps TLS and transport failures this way
            raise self._unreachable(exc.reason or exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._unreachable(exc) from None
        if 200 <= resp.status < 300:
            return resp.data
        try:
            message = json.loads(resp.data).get("message") or resp.reason
        except (ValueError, AttributeError):
            message = (resp.data or b"").decode("utf-8", "replace")[:240] or resp.reason
        raise ApiError(resp.status, str(message)[:400])

    def _unreachable(self, exc: object) -> TargetError:
        why = _first_line(exc) if isinstance(exc, BaseException) else str(exc)[:240]
        return TargetError(
            f"cannot reach the Kubernetes API at {self.server or '?'} ({why}); check that the "
            f"cluster is up and that {self.source or 'the kubeconfig'} points at it "
            "(kubectl cluster-info)")

    def _forbidden(self, exc: ApiError) -> TargetError:
        if exc.status == 401:
            return TargetError(f"unauthorized: the API at {self.server} did not accept the "
                               f"credentials of {self.source or 'this kubeconfig'} ({exc}); "
                               "renew them (kubectl get pods -n NAMESPACE shows the same)")
        return TargetError(
            f"forbidden: {exc}; the credentials of {self.source or 'this kubeconfig'} need get/list "
            f"on pods, pods/log, events and deployments in namespace '{self.settings.namespace}' "
            "(and patch on deployments for --remediate)")

    def _check_namespace(self, api: Any) -> None:
        ns = self.settings.namespace
        try:
            self._request(api, "GET", f"/api/v1/namespaces/{quote(ns)}")
            return
        except ApiError as exc:
            if exc.status == 404:
                raise TargetError(f"namespace '{ns}' not found on {self.server}{self._namespaces(api)}"
                                  "; check --namespace (kubectl get namespaces)") from None
            if exc.status not in (401, 403):
                raise
        # Namespace-scoped credentials may not read the namespace object: listing pods there
        # tells both whether we may read it and (with a 403) what is missing.
        try:
            self._request(api, "GET", f"/api/v1/namespaces/{quote(ns)}/pods", {"limit": 1})
        except ApiError as exc:
            if exc.status in (401, 403):
                raise self._forbidden(exc) from None
            raise

    def _namespaces(self, api: Any) -> str:
        try:
            items = json.loads(self._request(api, "GET", "/api/v1/namespaces"))["items"]
        except (TargetError, ValueError, KeyError):
            return ""  # only enriches the message
        names = sorted(i["metadata"]["name"] for i in items)
        return f" (namespaces there: {', '.join(names[:15])})" if names else ""

    def _get(self, path: str, query: dict[str, Any] | None = None) -> dict:
        api = self._client()
        try:
            return json.loads(self._request(api, "GET", path, query))
        except ApiError as exc:
            if exc.status in (401, 403):
                raise self._forbidden(exc) from None
            raise

    @property
    def _ns_path(self) -> str:
        return f"/api/v1/namespaces/{quote(self.settings.namespace)}"

    @property
    def _deployment_path(self) -> str:
        return (f"/apis/apps/v1/namespaces/{quote(self.settings.namespace)}/deployments/"
                f"{quote(self.settings.deployment)}")

    def _pods(self) -> list[dict]:
        try:
            doc = self._get(f"{self._ns_path}/pods", {"labelSelector": self.settings.selector})
        except ApiError as exc:
            if exc.status == 400:
                raise TargetError(f"--selector '{self.settings.selector}' is not a valid label "
                                  f"selector: {exc}") from None
            raise
        return list(doc.get("items") or [])

    def _deployment(self) -> dict | None:
        try:
            return self._get(self._deployment_path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def _deployments_text(self) -> str:
        """The namespace's deployments and their selectors, for a message."""
        try:
            items = self._get("/apis/apps/v1/namespaces/"
                              f"{quote(self.settings.namespace)}/deployments").get("items") or []
        except TargetError:
            return ""
        return ", ".join(f"{(d.get('metadata') or {}).get('name')} "
                         f"[{selector_text((d.get('spec') or {}).get('selector'))}]"
                         for d in items[:10])

    def missing_message(self) -> str:
        s = self.settings
        text = f"no pod matches -l {s.selector} in namespace '{s.namespace}'"
        dep = self._deployment()
        if dep is not None:
            spec, st = dep.get("spec") or {}, dep.get("status") or {}
            text += (f"; deployment '{s.deployment}' wants {spec.get('replicas', 1)} replica(s), "
                     f"has {st.get('replicas', 0)} (selector "
                     f"{selector_text(spec.get('selector'))}; kubectl describe deployment/"
                     f"{s.deployment} -n {s.namespace} shows why)")
        others = self._deployments_text()
        text += f"; deployments there: {others}" if others else "; the namespace has no deployments"
        return text + "; check --selector / --namespace"

    @staticmethod
    def _live(pods: list[dict]) -> list[dict]:
        """Pods not being deleted (a rollout's old pods), unless nothing else is left."""
        live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
        return live or pods

    # --- the runbook's questions -----------------------------------------------------
    def state(self) -> ServiceState:
        pods = self._pods()
        if not pods:
            return ServiceState(exists=False, status="missing",
                                detail={"problem": self.missing_message()})
        live = self._live(pods)
        views = [view_pod(p) for p in live]
        now = datetime.now(UTC)
        since = datetime.fromtimestamp(now.timestamp() - self.settings.event_window_s, UTC)
        events, ooms, dies = self._events(live, since)
        statuses = [cs for p in live for cs in container_statuses(p)]
        # The last exit: the most recent termination any container of these pods recorded.
        terms = [term for p in live for _, term in exits(p)]
        last = max(terms, key=lambda t: parse_time(t.get("finishedAt")) or _EPOCH, default=None)
        oom = any(self._recent_oom(cs, since) for p in live for cs, _ in exits(p))
        exit_code = last.get("exitCode") if last else None
        reason = (last or {}).get("reason")
        result = None if reason in (None, "Completed") and exit_code in (None, 0) else reason
        started = [t for t in (_running_since(engine_status(p)) for p in live) if t]
        ready = [v for v in views if v.ready]
        not_ready = [v for v in views if not v.ready]
        return ServiceState(
            exists=True,
            running=any(v.ready and v.phase == "Running" for v in views),
            status=self._status_text(views, not_ready),
            health=self._health(views, not_ready),
            restart_count=sum(v.restarts for v in views),
            restarting=any((waiting(cs) or {}).get("reason") == "CrashLoopBackOff" for cs in statuses),
            exit_code=exit_code,
            oom_killed=oom,
            result=result,
            uptime_s=(now - max(started)).total_seconds() if started else None,
            events=events,
            oom_events=ooms,
            die_events=dies,
            detail={
                "namespace": self.settings.namespace,
                "selector": self.settings.selector,
                "pods": [v.line() for v in views],
                "ready_pods": f"{len(ready)}/{len(views)}",
                "max_restarts": max((v.restarts for v in views), default=0),
                "waiting": [f"pod {v.name} {w}" for v in views for w in v.waiting] or None,
                "last_termination": (f"{reason} (exit code {exit_code}) at "
                                     f"{last.get('finishedAt')}" if last else None),
            },
        )

    @staticmethod
    def _recent_oom(cs: dict, since: datetime) -> bool:
        """OOM-killed, and either recently or still not running since (lastState persists
        until the next exit, so an OOM of last week on a healthy pod is history)."""
        term = latest_termination(cs)
        if not term or term.get("reason") != "OOMKilled":
            return False
        when = parse_time(term.get("finishedAt"))
        running = bool((cs.get("state") or {}).get("running"))
        return not running or (when is not None and when >= since)

    def _status_text(self, views: list[PodView], not_ready: list[PodView]) -> str:
        text = f"{len(views) - len(not_ready)}/{len(views)} ready"
        if not_ready:
            named = [f"pod {v.name} {v.word}" for v in not_ready[:MAX_LISTED]]
            more = len(not_ready) - MAX_LISTED
            text += "; " + "; ".join(named) + (f"; {more} more not ready" if more > 0 else "")
        return text

    @staticmethod
    def _health(views: list[PodView], not_ready: list[PodView]) -> str:
        if not not_ready:
            return "healthy"
        if all(v.starting for v in not_ready):
            return "starting"  # running, startup probe not passed yet: not a failure (yet)
        return "unhealthy"

    def _events(self, pods: list[dict], since: datetime) -> tuple[list[str], int, int]:
        """Recorded exits plus the namespace's events about these pods, oldest first."""
        lines, ooms, dies = termination_events(pods, since)
        names = {(p.get("metadata") or {}).get("name") for p in pods}
        try:
            items = self._get(f"{self._ns_path}/events",
                              {"fieldSelector": "involvedObject.kind=Pod", "limit": 500}).get("items")
        except TargetError as exc:  # events enrich the state; their absence is not a failure
            return [f"events unavailable: {str(exc)[:200]}"] + [t for _, t in sorted(lines)], ooms, dies
        for ev in items or []:
            if (ev.get("involvedObject") or {}).get("name") not in names:
                continue
            if ev.get("type") != "Warning" and ev.get("reason") != "Killing":
                continue
            when, text = event_line(ev)
            if when is not None and when >= since:
                lines.append((when, text))
        lines.sort(key=lambda item: item[0])
        return [t for _, t in lines[-MAX_EVENTS:]], ooms, dies

    def logs(self, lines: int) -> list[str]:
        """`kubectl logs --prefix` of up to MAX_LOG_PODS pods (healthy ones first, so the
        troubled pod's lines come last), each pod's previous container before its current one."""
        pods = self._live(self._pods())
        if not pods:
            raise TargetError(self.missing_message())
        pods.sort(key=lambda p: (not pod_ready(p), (p.get("metadata") or {}).get("name", "")))
        pods = pods[-MAX_LOG_PODS:]
        out: list[str] = []
        refused: list[str] = []
        for pod in pods:
            name = (pod.get("metadata") or {}).get("name", "?")
            container = engine_container_name(pod.get("spec") or {})
            cs = engine_status(pod) or {}
            had_previous = bool((cs.get("lastState") or {}).get("terminated"))
            runs = [True] if had_previous else []
            # A waiting container's "current" logs are its previous run's (the kubelet serves
            # the last terminated instance), so they are read once.
            if not (had_previous and (cs.get("state") or {}).get("waiting")):
                runs.append(False)
            for previous in runs:
                try:
                    text = self._request(self._client(), "GET", f"{self._ns_path}/pods/{quote(name)}/log",
                                         {"container": container, "tailLines": lines,
                                          "previous": "true" if previous else None},
                                         accept="*/*").decode("utf-8", "replace")
                except ApiError as exc:
                    # No kubelet answering (or the container never ran): say so, carry on.
                    refused.append(f"pod/{name}{' (previous)' if previous else ''}: {exc}")
                    continue
                prefix = f"[pod/{name}/{container}] "
                out.extend(prefix + line for line in text.splitlines())
        if not out and refused:
            raise NotSupported("the cluster did not serve the pods' logs: " + "; ".join(refused)[:600])
        return out

    def environment(self) -> dict[str, str] | None:
        """The engine container's env as its pod spec declares it (the newest pod's, else the
        deployment's template). Plain values as given; a Secret-backed variable maps to
        SECRET_REF when its Secret exists and the kubelet did not report it (or its key)
        missing, else to "" (missing). Keys under envFrom cannot be listed without reading
        the Secret, so the required names not set otherwise map to SECRET_REF when such a
        Secret exists."""
        pods = self._live(self._pods())
        newest: dict = {}
        if pods:
            newest = max(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp", ""))
            spec = newest.get("spec") or {}
        else:
            dep = self._deployment()
            if dep is None:
                return None
            spec = ((dep.get("spec") or {}).get("template") or {}).get("spec") or {}
        name = engine_container_name(spec)
        container = next((c for c in spec.get("containers") or [] if c.get("name") == name), None)
        if container is None:
            return None
        gone_secrets, gone_keys = unresolved_refs(pods)
        existing = self._secret_names()

        def secret_ok(secret: str, key: str | None = None) -> bool:
            if secret in gone_secrets or (key is not None and (secret, key) in gone_keys):
                return False
            return existing is None or secret in existing

        env: dict[str, str] = {}
        for src in container.get("envFrom") or []:
            prefix = src.get("prefix") or ""
            if src.get("configMapRef"):
                for k, v in self._configmap(src["configMapRef"].get("name", "")).items():
                    env[prefix + k] = v
            elif src.get("secretRef") and secret_ok(src["secretRef"].get("name", "")):
                for k in REQUIRED:
                    if k.startswith(prefix):
                        env.setdefault(k, SECRET_REF)
        for item in container.get("env") or []:
            env[item.get("name", "")] = self._env_value(item, newest, secret_ok)
        return env

    def _env_value(self, item: dict, pod: dict, secret_ok: Any) -> str:
        if "valueFrom" not in item:
            return str(item.get("value") or "")
        src = item.get("valueFrom") or {}
        if src.get("secretKeyRef"):
            ref = src["secretKeyRef"]
            return SECRET_REF if secret_ok(ref.get("name", ""), ref.get("key")) else ""
        if src.get("configMapKeyRef"):
            ref = src["configMapKeyRef"]
            return self._configmap(ref.get("name", "")).get(ref.get("key", ""), "")
        if src.get("fieldRef"):
            value: Any = pod
            for part in str(src["fieldRef"].get("fieldPath", "")).split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return "" if value is None or isinstance(value, dict | list) else str(value)
        return ""

    def _secret_names(self) -> set[str] | None:
        """Names of the namespace's Secrets, from a server-side Table without the objects:
        no data, no annotations cross the wire. None when we may not list them."""
        try:
            doc = json.loads(self._request(
                self._client(), "GET", f"{self._ns_path}/secrets", {"includeObject": "None"},
                accept="application/json;as=Table;v=v1;g=meta.k8s.io"))
        except (ApiError, ValueError):
            return None
        names = set()
        for row in doc.get("rows") or []:
            cells = row.get("cells") or []
            if cells:
                names.add(str(cells[0]))
        return names

    def _configmap(self, name: str) -> dict[str, str]:
        try:
            return dict(self._get(f"{self._ns_path}/configmaps/{quote(name)}").get("data") or {})
        except TargetError:
            return {}

    def run_in_service(self, argv: list[str], timeout: float) -> ExecResult | None:
        """`kubectl exec` through the API's exec stream, bounded; None when the API refuses
        (no kubelet behind it, RBAC without pods/exec, no running container)."""
        pods = [p for p in self._live(self._pods())
                if ((engine_status(p) or {}).get("state") or {}).get("running")]
        if not pods:
            return None
        pods.sort(key=lambda p: not pod_ready(p))
        pod = pods[0]
        name = (pod.get("metadata") or {}).get("name", "")
        container = engine_container_name(pod.get("spec") or {})
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box["res"] = self._exec(name, container, argv, timeout)
            except Exception as exc:  # refused upgrade, 403, transport failure
                box["exc"] = exc

        worker = threading.Thread(target=call, daemon=True, name="k8s-exec")
        worker.start()
        worker.join(timeout + self._timeout[0] + 5)
        if worker.is_alive():
            return ExecResult(124, "", f"exec in pod {name} did not finish within {timeout:g} s")
        return box.get("res")

    def _exec(self, pod: str, container: str, argv: list[str], timeout: float) -> ExecResult | None:
        """One exec over the API's websocket (what `kubectl exec` does); None when refused.

        The websocket is opened directly rather than through CoreV1Api and `stream()`:
        that one swaps the shared client's transport while it runs (the concurrent checks'
        REST calls would go over the websocket), and building CoreV1Api costs a second."""
        from kubernetes.stream import ws_client

        api = self._client()
        query = [("command", a) for a in argv] + [
            ("container", container), ("stdout", "true"), ("stderr", "true"), ("stdin", "false"),
            ("tty", "false")]
        _, url, headers, _, _ = api.param_serialize(
            method="GET", resource_path=f"{self._ns_path}/pods/{quote(pod)}/exec",
            query_params=query, header_params={}, auth_settings=["BearerToken"])
        ws = ws_client.websocket_call(self._config, "GET", url, headers=headers,
                                      _preload_content=False, _request_timeout=self._timeout)
        try:
            ws.run_forever(timeout=timeout)
            if ws.is_open():
                return ExecResult(124, ws.read_stdout(), f"did not finish within {timeout:g} s")
            out, err = ws.read_stdout() or "", ws.read_stderr() or ""
            rc = exit_status(ws.read_channel(ws_client.ERROR_CHANNEL))
            return None if rc is None else ExecResult(rc, out, err)
        finally:
            ws.close()

    def restart_command(self) -> str:
        return f"kubectl rollout restart deployment/{self.settings.deployment} -n {self.settings.namespace}"

    def restart(self) -> str:
        """What `kubectl rollout restart` does: stamp the pod template, so the Deployment
        controller replaces every pod (maxSurge/maxUnavailable apply)."""
        s = self.settings
        dep = self._deployment()
        if dep is None:
            others = self._deployments_text()
            raise TargetError(f"deployment '{s.deployment}' not found in namespace '{s.namespace}'"
                              + (f" (deployments there: {others})" if others else "")
                              + "; check --deployment")
        if (dep.get("spec") or {}).get("paused"):
            raise TargetError(f"deployment '{s.deployment}' is paused, so a restart would not roll; "
                              f"resume it first: kubectl rollout resume deployment/{s.deployment} "
                              f"-n {s.namespace}")
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        try:
            self._request(self._client(), "PATCH", self._deployment_path, body=patch,
                          content_type="application/strategic-merge-patch+json")
        except ApiError as exc:
            if exc.status in (401, 403):
                raise self._forbidden(exc) from None
            raise
        return (f"rollout restart of deployment/{s.deployment} in namespace {s.namespace} "
                f"({RESTARTED_AT}={stamp}; same as: {self.restart_command()})")

    def fingerprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for pod in self._pods():
            meta = pod.get("metadata") or {}
            out[f"pod/{meta.get('name')}"] = {
                "uid": meta.get("uid"),
                "restarts": {cs.get("name"): cs.get("restartCount") for cs in container_statuses(pod)},
            }
        dep = self._deployment()
        if dep is not None:
            meta = dep.get("metadata") or {}
            tmpl = ((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}
            out[f"deployment/{self.settings.deployment}"] = {
                "generation": meta.get("generation"), "template_annotations": tmpl.get("annotations") or {}}
        return out

    def close(self) -> None:
        with self._lock:
            if self._api is not None:
                with contextlib.suppress(Exception):
                    self._api.close()
                self._api = None
