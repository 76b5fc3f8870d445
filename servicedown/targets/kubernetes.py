"""Kubernetes target: the engine's pods (namespace + label selector) through the API server.

The runbook's `kubectl get pods -l app=qbitel-engine -n qbitel`, `kubectl logs` and
`kubectl rollout restart deployment/qbitel-engine -n qbitel`, asked of the API directly
(backends/kube.py); what the pod and event objects mean is kubernetes_pods.py.

Secrets are never read: a Secret's existence comes from a server-side Table listing
(`includeObject=None`: names, type and key count, no data and no annotations, which can carry a
copy of the data in kubectl's last-applied configuration). Whether a referenced key exists is
the kubelet's verdict: a container waiting in CreateContainerConfigError names the missing
Secret or key. A variable set from a Secret maps to SECRET_REF in environment(), never to its
value.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from servicedown import states
from servicedown.backends.command import BackendError, CommandResult
from servicedown.backends.kube import ApiError, KubeBackend
from servicedown.config import Settings
from servicedown.redact import clip, redact
from servicedown.secrets import REQUIRED, SECRET_REF
from servicedown.targets.base import (
    ABSENT,
    CURRENT,
    EARLIER,
    LogLine,
    NotPresent,
    NotSupported,
    ServiceState,
    Target,
    TargetError,
)
from servicedown.targets.kubernetes_pods import (
    EPOCH,
    PodView,
    container_statuses,
    engine_container_name,
    engine_status,
    event_line,
    exits,
    latest_termination,
    parse_time,
    pod_exit,
    pod_ready,
    pods_state,
    running_since,
    selector_text,
    termination_events,
    unresolved_refs,
    view_pod,
    waiting,
)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # what `kubectl rollout restart` sets
MAX_LOG_PODS = 3  # pods whose logs are read (kubectl logs -l reads 5 at most)
MAX_EVENTS = 30
MAX_LISTED = 3  # not-ready pods named in the one-line status
STARTUP_LOG_BYTES = 256 * 1024  # the start of a run, where the engine validates its settings



def _segment(value: str) -> str:
    """One segment of an API path: a "/" in a name never makes it another path."""
    return quote(value, safe="")

class KubernetesTarget(Target):
    kind = "kubernetes"

    def __init__(self, settings: Settings, backend: KubeBackend | None = None) -> None:
        super().__init__(settings)
        self.backend = backend or KubeBackend(settings.kubeconfig, settings.check_timeout_s,
                                              settings.namespace)
        self._lock = threading.Lock()
        self._checked = False
        self._error: BackendError | None = None

    # --- plumbing -------------------------------------------------------------------
    def describe(self) -> str:
        s = self.settings
        where = f" on {redact(self.backend.server)}" if self.backend.server else ""
        return (f"kubernetes deployment '{s.deployment}', pods -l {s.selector} "
                f"in namespace '{s.namespace}'{where}")

    def preflight(self) -> None:
        self._client()

    def _client(self) -> None:
        """Checked once (configuration, reachability, namespace); a failure is kept and raised
        again, so concurrent checks report one message, not one timeout each."""
        with self._lock:
            if self._error is not None:
                raise self._error
            if not self._checked:
                try:
                    self._check_namespace()
                except BackendError as exc:
                    self._error = exc if isinstance(exc, TargetError) else TargetError(str(exc))
                    raise self._error from None
                self._checked = True

    def _get(self, path: str, query: dict[str, Any] | None = None) -> dict:
        self._client()
        return self.backend.get(path, query)

    def _request(self, method: str, path: str, query: dict[str, Any] | None = None,
                 **kwargs: Any) -> bytes:
        self._client()
        return self.backend.request(method, path, query, **kwargs)

    def _check_namespace(self) -> None:
        ns = self.settings.namespace
        try:
            self.backend.request("GET", f"/api/v1/namespaces/{_segment(ns)}")
            return
        except ApiError as exc:
            if exc.status == 404:
                raise TargetError(f"namespace '{ns}' not found on {self.backend.server}{self._namespaces()}"
                                  "; check --namespace (kubectl get namespaces)") from None
            if exc.status not in (401, 403):
                raise
        # Namespace-scoped credentials may not read the namespace object: listing pods there
        # tells both whether we may read it and (with a 403) what is missing.
        try:
            self.backend.request("GET", f"/api/v1/namespaces/{_segment(ns)}/pods", {"limit": 1})
        except ApiError as exc:
            if exc.status in (401, 403):
                raise self.backend.forbidden(exc) from None
            raise

    def _namespaces(self) -> str:
        try:
            items = json.loads(self.backend.request("GET", "/api/v1/namespaces"))["items"]
        except (BackendError, ValueError, KeyError):
            return ""  # only enriches the message
        names = sorted(i["metadata"]["name"] for i in items)
        return f" (namespaces there: {', '.join(names[:15])})" if names else ""

    @property
    def _ns_path(self) -> str:
        return f"/api/v1/namespaces/{_segment(self.settings.namespace)}"

    @property
    def _deployment_path(self) -> str:
        return (f"/apis/apps/v1/namespaces/{_segment(self.settings.namespace)}/deployments/"
                f"{_segment(self.settings.deployment)}")

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
                              f"{_segment(self.settings.namespace)}/deployments").get("items") or []
        except BackendError:
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
        live = self._live(pods)
        now = datetime.fromtimestamp(self.now(), UTC)
        since = datetime.fromtimestamp(now.timestamp() - self.settings.event_window_s, UTC)
        raw_events = self._pod_events(live) if live else []
        if not pods:
            dep = self._deployment()
            how, detail_text, _ = pods_state([], [], raw_events, dep)
            return ServiceState(exists=False, status="missing", how=how, how_detail=detail_text,
                                serving=0, replicas=((dep or {}).get("spec") or {}).get("replicas"),
                                detail={"problem": detail_text if how == states.SCALED_TO_ZERO
                                        else self.missing_message()})
        views = [view_pod(p) for p in live]
        events, ooms, dies = self._event_lines(live, raw_events, since)
        statuses = [cs for p in live for cs in container_statuses(p)]
        # The last exit: the most recent termination any container of these pods recorded.
        terms = [term for p in live for _, term in exits(p)]
        last = max(terms, key=lambda t: parse_time(t.get("finishedAt")) or EPOCH, default=None)
        oom = any(self._recent_oom(cs, since) for p in live for cs, _ in exits(p))
        exit_code = last.get("exitCode") if last else None
        reason = (last or {}).get("reason")
        result = None if reason in (None, "Completed") and exit_code in (None, 0) else reason
        started = [t for t in (running_since(engine_status(p)) for p in live) if t]
        ready = [v for v in views if v.ready]
        not_ready = [v for v in views if not v.ready]
        killed_at = [t for t in (parse_time(e.get("lastTimestamp") or e.get("eventTime"))
                                 for e in raw_events if e.get("reason") == "Killing") if t]
        pod_exits = sorted((pod_exit(cs, term, killed_at) for p in live for cs, term in exits(p)
                            if (parse_time(term.get("finishedAt")) or EPOCH) >= since),
                           key=lambda e: e.at or 0.0)
        how, how_detail, history = pods_state(live, views, raw_events, self._deployment_if_down(ready))
        return ServiceState(
            exists=True,
            running=bool(ready) and any(v.phase == "Running" for v in ready),
            status=self._status_text(views, not_ready),
            health=self._health(views, not_ready),
            restart_count=sum(v.restarts for v in views),
            restarting=not ready and any((waiting(cs) or {}).get("reason") == "CrashLoopBackOff"
                                         for cs in statuses),
            exit_code=exit_code,
            oom_killed=oom,
            result=result,
            uptime_s=(now - max(started)).total_seconds() if started else None,
            events=events,
            oom_events=ooms,
            die_events=dies,
            how=how, how_detail=how_detail, history=history,
            started_at=max(started).timestamp() if started else None,
            last_exit=pod_exits[-1] if pod_exits else None, exits=pod_exits,
            serving=len(ready), replicas=len(views),
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

    def _deployment_if_down(self, ready: list[PodView]) -> dict | None:
        return None if ready else self._deployment()

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

    def _pod_events(self, pods: list[dict]) -> list[dict]:
        """The namespace's events about these pods (Warnings, and the kubelet's Killing)."""
        names = {(p.get("metadata") or {}).get("name") for p in pods}
        try:
            items = self._get(f"{self._ns_path}/events",
                              {"fieldSelector": "involvedObject.kind=Pod", "limit": 500}).get("items")
        except BackendError as exc:  # events enrich the state; their absence is not a failure
            return [{"reason": "Unavailable", "message": clip(exc, 200)}]
        return [ev for ev in items or [] if (ev.get("involvedObject") or {}).get("name") in names
                and (ev.get("type") == "Warning" or ev.get("reason") == "Killing")]

    def _event_lines(self, pods: list[dict], raw: list[dict], since: datetime
                     ) -> tuple[list[str], int, int]:
        """Recorded exits plus the events about these pods, as lines, oldest first."""
        lines, ooms, dies = termination_events(pods, since)
        for ev in raw:
            if ev.get("reason") == "Unavailable":
                lines.append((since, f"events unavailable: {ev.get('message')}"))
                continue
            when, text = event_line(ev)
            if when is not None and when >= since:
                lines.append((when, text))
        lines.sort(key=lambda item: item[0])
        return [t for _, t in lines[-MAX_EVENTS:]], ooms, dies

    def logs(self, lines: int) -> list[LogLine]:
        """`kubectl logs --prefix --timestamps` of up to MAX_LOG_PODS pods (healthy ones first,
        so the troubled pod's lines come last), each pod's previous container (an earlier run)
        before its current one."""
        return self._pod_logs({"tailLines": lines})

    def startup_logs(self, lines: int) -> list[LogLine]:
        """The first bytes of each pod's current run: `limitBytes` reads from the start."""
        return [line for line in self._pod_logs({"limitBytes": STARTUP_LOG_BYTES}, previous=False)
                if line.run != EARLIER][:lines]

    def _pod_logs(self, query: dict[str, Any], previous: bool = True) -> list[LogLine]:
        pods = self._live(self._pods())
        if not pods:
            raise NotPresent(ABSENT)
        pods.sort(key=lambda p: (not pod_ready(p), (p.get("metadata") or {}).get("name", "")))
        pods = pods[-MAX_LOG_PODS:]
        out: list[LogLine] = []
        refused: list[str] = []
        for pod in pods:
            name = (pod.get("metadata") or {}).get("name", "?")
            container = engine_container_name(pod.get("spec") or {})
            cs = engine_status(pod) or {}
            had_previous = bool((cs.get("lastState") or {}).get("terminated"))
            # A waiting container's "current" logs are its previous run's (the kubelet serves
            # the last terminated instance): read once, as the run that just ended.
            waiting_now = bool((cs.get("state") or {}).get("waiting"))
            runs = [(True, EARLIER)] if had_previous and previous and not waiting_now else []
            runs.append((False, CURRENT))
            for prev, run in runs:
                previous_run = prev or (had_previous and waiting_now)
                try:
                    text = self._request("GET", f"{self._ns_path}/pods/{_segment(name)}/log",
                                         {"container": container, "timestamps": "true",
                                          "previous": "true" if previous_run else None, **query},
                                         accept="*/*").decode("utf-8", "replace")
                except ApiError as exc:
                    # No kubelet answering (or the container never ran): say so, carry on.
                    refused.append(f"pod/{name}{' (previous)' if previous_run else ''}: {exc}")
                    continue
                prefix = f"[pod/{name}/{container}] "
                for raw in text.removesuffix("\n").split("\n") if text else []:
                    stamp, sep, rest = raw.partition(" ")
                    when = parse_time(stamp) if sep and "T" in stamp and stamp[:1].isdigit() else None
                    body = rest if when is not None else raw
                    out.append(LogLine(prefix + body, when.timestamp() if when else None, run))
        if not out and refused:
            raise NotSupported("the cluster did not serve the pods' logs: " + clip("; ".join(refused), 600))
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
                "GET", f"{self._ns_path}/secrets", {"includeObject": "None"},
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
            return dict(self._get(f"{self._ns_path}/configmaps/{_segment(name)}").get("data") or {})
        except BackendError:
            return {}

    def run_in_service(self, argv: list[str], timeout: float) -> CommandResult | None:
        """`kubectl exec` in the engine container of a running pod (a ready one first)."""
        pods = [p for p in self._live(self._pods())
                if ((engine_status(p) or {}).get("state") or {}).get("running")]
        if not pods:
            return None
        pods.sort(key=lambda p: not pod_ready(p))
        pod = pods[0]
        name = (pod.get("metadata") or {}).get("name", "")
        res = self.backend.exec(self.settings.namespace, name,
                                engine_container_name(pod.get("spec") or {}), argv, timeout)
        if res is None:
            raise NotSupported(f"the cluster did not allow an exec into pod {name} (no kubelet "
                               "answering, or no pods/exec permission): commands on the engine's "
                               "side cannot run")
        return res

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
            self._request("PATCH", self._deployment_path, body=patch,
                          content_type="application/strategic-merge-patch+json")
        except ApiError as exc:
            if exc.status in (401, 403):
                raise self.backend.forbidden(exc) from None
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
        self.backend.close()
