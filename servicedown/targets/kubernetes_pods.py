"""What the Kubernetes API's pod and event objects mean, in the words `kubectl get pods` and
`kubectl describe pod` use: pure functions over the API's JSON, so a recorded answer reads exactly
as a live one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from servicedown import states
from servicedown.redact import clip
from servicedown.states import Exit

STOP_TO_DIE_S = 40.0  # the kubelet's SIGTERM, the 30 s grace period, then the exit
ENGINE_CONTAINER = "ai-engine"  # the real engine's container name; otherwise the first one
# Waiting reasons that mean the container cannot run (not the normal ContainerCreating).
BAD_WAITING = ("CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError",
               "ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName",
               "RunContainerError", "PreCreateHookError", "PostStartHookError")
# The kubelet's messages for a reference it cannot resolve (pkg/kubelet/kubelet_pods.go).
_SECRET_NOT_FOUND = re.compile(r'secret "([^"]+)" not found', re.IGNORECASE)
_KEY_NOT_FOUND = re.compile(r"couldn't find key (\S+) in Secret [^/\s]+/(\S+)")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def clock(when: datetime | None) -> str:
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
            msg = f": {clip(w['message'], 200)}" if w.get("message") else ""
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
                out.append((when, f"{clock(when)} oom {where}"))
            dies += 1
            out.append((when, f"{clock(when)} die exitCode={term.get('exitCode', '?')} "
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
    message = clip(" ".join(str(ev.get("message") or "").split()), 240)
    times = f" (x{count})" if count and int(count) > 1 else ""
    if ev.get("reason") == "Killing":
        return when, f"{clock(when)} kill signal=15 pod/{obj.get('name')}: {message}{times}"
    return when, (f"{clock(when)} {ev.get('type', 'Normal')} {ev.get('reason', '?')} "
                  f"pod/{obj.get('name')}: {message}{times}")


def selector_text(selector: dict | None) -> str:
    labels = (selector or {}).get("matchLabels") or {}
    exprs = (selector or {}).get("matchExpressions") or []
    parts = [f"{k}={v}" for k, v in sorted(labels.items())]
    parts += [f"{e.get('key')} {e.get('operator')} {e.get('values') or ''}".strip() for e in exprs]
    return ",".join(parts) or "(none)"


EPOCH = datetime.fromtimestamp(0, UTC)


def running_since(cs: dict | None) -> datetime | None:
    return parse_time((((cs or {}).get("state") or {}).get("running") or {}).get("startedAt"))


def pod_exit(cs: dict, term: dict, killed_at: list[datetime]) -> Exit:
    """A container's latest termination as an Exit: a kubelet Killing event just before it is
    a kill on request (a deletion, a rollout, a failed liveness probe)."""
    when = parse_time(term.get("finishedAt"))
    begun = parse_time(term.get("startedAt"))
    code = term.get("exitCode")
    asked = next((k for k in killed_at if when is not None and timedelta(0) <= when - k
                  <= timedelta(seconds=STOP_TO_DIE_S)), None)
    return Exit(when.timestamp() if when else None, code if isinstance(code, int) else None,
                oom=term.get("reason") == "OOMKilled",
                requested=f"the kubelet killed it at {clock(asked)}" if asked else "",
                ran_s=(when - begun).total_seconds() if when and begun else None)


def pods_state(pods: list[dict], views: list[PodView], events: list[dict],
               deployment: dict | None) -> tuple[str, str, list[str]]:
    """How the engine's pods are (not) serving: -> (state word, the sentence, history)."""
    if not pods:
        replicas = ((deployment or {}).get("spec") or {}).get("replicas")
        if deployment is not None and replicas == 0:
            return states.SCALED_TO_ZERO, ("stopped on request: the deployment is scaled to 0 "
                                           "(spec.replicas=0)"), []
        return states.MISSING, "no pod matches the selector", []
    ready = [v for v in views if v.ready]
    failing = [v for v in views if not v.ready and not v.starting]
    if ready and failing:
        named = "; ".join(_why_not(v, pods, events) for v in failing[:3])
        return states.PARTIAL, (f"degraded: {len(ready)} of {len(views)} pods serve; failing: "
                                f"{named}"), []
    if ready:
        history = [f"pod {v.name}: {v.restarts} restart(s) before this run" for v in views if v.restarts]
        return states.RUNNING, f"{len(ready)} of {len(views)} pods serve", history[:3]
    if all(v.starting for v in views):
        return states.STARTING, "started, the startup probe has not passed yet", []
    worst = failing[0] if failing else views[0]
    word = _pod_state(worst, pods, events)
    return word, _why_not(worst, pods, events, full=True), []


def _pod_state(v: PodView, pods: list[dict], events: list[dict]) -> str:
    pod = next(p for p in pods if (p.get("metadata") or {}).get("name") == v.name)
    st = pod.get("status") or {}
    if st.get("reason") == "Evicted":
        return states.EVICTED
    reasons = {w.split(": ")[1] if ": " in w else w for w in v.waiting}
    if reasons & {"ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName"}:
        return states.IMAGE_PULL
    if v.phase == "Pending" and _events_of(v.name, events, "FailedScheduling"):
        return states.UNSCHEDULABLE
    if "CreateContainerConfigError" in reasons:
        return states.FAILED_AT_START
    if "CrashLoopBackOff" in reasons:
        return states.CRASH_LOOPING
    cs = engine_status(pod) or {}
    term = (cs.get("state") or {}).get("terminated")
    if term:
        return states.OOM_KILLED if term.get("reason") == "OOMKilled" else states.CRASHED
    if (cs.get("state") or {}).get("running"):
        return states.NOT_READY
    return states.STARTING if v.phase == "Pending" else states.CRASHED


def _why_not(v: PodView, pods: list[dict], events: list[dict], full: bool = False) -> str:
    """One pod's failure in the words of its own status and events, quoted."""
    pod = next(p for p in pods if (p.get("metadata") or {}).get("name") == v.name)
    st = pod.get("status") or {}
    word = _pod_state(v, pods, events)
    if word == states.EVICTED:
        return f"pod {v.name} evicted: {st.get('message') or 'no reason given'}"
    if word == states.UNSCHEDULABLE:
        msg = _events_of(v.name, events, "FailedScheduling")[-1]
        return f"pod {v.name} unschedulable, the scheduler says: {msg}"
    if word == states.NOT_READY:
        probe = _events_of(v.name, events, "Unhealthy")
        said = f": {probe[-1]}" if probe else ""
        return f"pod {v.name} running but not ready{said}"
    if word == states.IMAGE_PULL:
        return f"pod {v.name} cannot pull its image ({clip('; '.join(v.waiting), 300)})"
    cs = engine_status(pod) or {}
    term = latest_termination(cs) or {}
    last = ""
    if term:
        last = (f", last exit: {term.get('reason') or 'Error'} (exit code {term.get('exitCode')}) "
                f"at {clock(parse_time(term.get('finishedAt')))}")
    detail = f" ({clip('; '.join(v.waiting), 240)})" if v.waiting and full else ""
    return f"pod {v.name} {v.word}, {v.restarts} restart(s){last}{detail}"


def _events_of(pod: str, events: list[dict], reason: str) -> list[str]:
    return [clip(" ".join(str(e.get("message") or "").split()), 300) for e in events
            if (e.get("involvedObject") or {}).get("name") == pod and e.get("reason") == reason]
