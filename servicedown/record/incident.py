"""One recorded incident: what every platform answered, the settings of the run, the label an
engineer (or the scenario that set it up) gave, and the results pinned at recording time.

`record_run` records a live diagnosis through the backends; `replay` runs the unchanged
targets, checks and triage on a recording; `load` and `save` read and write the file.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from servicedown import config as cfg
from servicedown.backends.network import NetworkBackend
from servicedown.causes import CAUSES
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.runner import run_checks
from servicedown.model import CheckResult, Triage
from servicedown.record import masking
from servicedown.record.boundary import BOUNDARIES
from servicedown.record.recorder import Recorder
from servicedown.record.replayer import Replayer
from servicedown.targets.base import Target
from servicedown.triage import summary_text, triage

FORMAT = "servicedown-incident/1"
INCIDENTS = Path(__file__).resolve().parents[2] / "tests" / "data" / "incidents"
VERDICTS = ("healthy", "degraded", "down")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,80}$")
BACKEND_OF = {"compose": "docker", "systemd": "host", "kubernetes": "kube", "url": None}


class IncidentError(ValueError):
    """A recording that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Label:
    """The truth about an incident, from whoever set it up, never from the triage.

    `causes`: the causes behind it (causes.py ids: the runbook's, and the states it does not
    name, such as a stop on request), every one of them; empty with a verdict other than
    healthy means the evidence this target gives cannot name a cause."""

    verdict: str
    causes: tuple[str, ...] = ()
    source: str = ""  # who set it up: "scenario db-down", "on-call, incident 2026-12-04"
    note: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise IncidentError(f"label verdict {self.verdict!r}: use one of {', '.join(VERDICTS)}")
        known = {c.id for c in CAUSES}
        unknown = [c for c in self.causes if c not in known]
        if unknown:
            raise IncidentError(f"label cause(s) {', '.join(unknown)} unknown; causes.py has "
                                f"{', '.join(sorted(known))}")
        if self.verdict == "healthy" and self.causes:
            raise IncidentError("a healthy label names no cause")
        if not self.source.strip():
            raise IncidentError("a label says who set the incident up (source)")

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "causes": list(self.causes), "source": self.source,
                "note": self.note}


@dataclass
class Incident:
    name: str
    settings: dict[str, Any]
    target: dict[str, Any]  # {"kind": ..., "options": {...}} (the compose target's window)
    engine_profile: str
    label: Label
    backends: dict[str, dict[str, Any]]  # "target" and "network" snapshots
    masking: dict[str, Any] = field(default_factory=dict)
    pinned: dict[str, Any] = field(default_factory=dict)
    recorded_at: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.target.get("kind"))

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "name": self.name, "recorded_at": self.recorded_at,
                "target": self.target, "engine_profile": self.engine_profile,
                "label": self.label.to_json(), "settings": self.settings,
                "provenance": self.provenance, "masking": self.masking, "pinned": self.pinned,
                "backends": self.backends}


# --- building targets and backends -----------------------------------------------------------
def make_backend(kind: str, settings: cfg.Settings) -> Any:
    """The backend `pytest checks/` would make for this target kind (None for a URL)."""
    name = BACKEND_OF[kind]
    if name == "docker":
        from servicedown.backends.docker import DockerBackend

        return DockerBackend(settings.check_timeout_s + 5)
    if name == "host":
        from servicedown.backends.host import HostBackend

        return HostBackend(settings.host)
    if name == "kube":
        from servicedown.backends.kube import KubeBackend

        return KubeBackend(settings.kubeconfig, settings.check_timeout_s, settings.namespace)
    return None


def make_network(settings: cfg.Settings) -> NetworkBackend:
    return NetworkBackend(settings.http_timeout_s, settings.verify_tls)


def make_target(kind: str, settings: cfg.Settings, backend: Any,
                options: Mapping[str, Any] | None = None,
                network: NetworkBackend | None = None) -> Target:
    """The target `pytest checks/` would make, on this backend. A URL target has no platform: its
    clock is the checker's own, told by the network backend (so a recording keeps it too)."""
    options = dict(options or {})
    if kind == "compose":
        from servicedown.targets.compose import ComposeTarget

        return ComposeTarget(settings, backend, since=options.get("since"))
    if kind == "systemd":
        from servicedown.targets.systemd import SystemdTarget

        return SystemdTarget(settings, backend)
    if kind == "kubernetes":
        from servicedown.targets.kubernetes import KubernetesTarget

        return KubernetesTarget(settings, backend)
    from servicedown.targets.url import UrlTarget

    target = UrlTarget(settings)
    if network is not None:
        target.now = network.now  # type: ignore[method-assign]
    return target


def settings_doc(settings: cfg.Settings) -> dict[str, Any]:
    return dataclasses.asdict(settings)


def settings_of(doc: Mapping[str, Any]) -> cfg.Settings:
    names = {n for n, _k, _d in cfg.option_names()}
    unknown = sorted(set(doc) - names)
    if unknown:
        raise IncidentError(f"settings {', '.join(unknown)} are not settings of this version")
    return cfg.Settings(**doc)


# --- a live run, recorded ---------------------------------------------------------------------
@dataclass
class Run:
    results: list[CheckResult]
    triage: Triage


def record_run(settings: cfg.Settings, target_options: Mapping[str, Any] | None = None,
               backend: Any = None) -> tuple[dict[str, Any], Run, dict[str, str]]:
    """One read-only diagnosis through recorded backends.

    -> (backend snapshots, unmasked; the live run; the secret values of the service's
    environment, value -> name). `backend`: a fresh backend of the target's kind to record
    through (e.g. bound to a chaos stack's Docker client); it is changed in place, so it must
    not be shared with anything else."""
    kind = settings.target
    backend = backend if backend is not None else make_backend(kind, settings)
    recorders = {}
    if backend is not None:
        recorders["target"] = Recorder(backend)
    network = make_network(settings)
    recorders["network"] = Recorder(network)
    target = make_target(kind, settings, backend, target_options, network)
    ctx = Context(settings, target, network=network)
    try:
        results = run_checks(settings, target, ctx=ctx)
        try:
            env = ctx.environment()
        except Exception:  # the environment could not be read: its secrets were not either
            env = None
    finally:
        ctx.close()
        target.close()
    snapshots = {role: r.snapshot() for role, r in recorders.items()}
    return snapshots, Run(results, triage(results)), masking.env_secrets(env)


# --- replay -------------------------------------------------------------------------------------
def replay(incident: Incident) -> Run:
    """The unchanged targets, checks and triage on the recorded answers."""
    settings = settings_of(incident.settings)

    def construct(cls: type) -> Any:
        if cls is NetworkBackend:
            return make_network(settings)
        return make_backend(incident.kind, settings)

    backend = None
    snap = incident.backends.get("target")
    if BACKEND_OF.get(incident.kind) is not None:
        if not snap:
            raise IncidentError(f"{incident.name}: a {incident.kind} recording without the "
                                "target's backend calls")
        backend = Replayer(snap, construct).backend
    net_snap = incident.backends.get("network")
    if not net_snap:
        raise IncidentError(f"{incident.name}: no recorded network calls")
    network = Replayer(net_snap, construct).backend
    target = make_target(incident.kind, settings, backend, incident.target.get("options"), network)
    ctx = Context(settings, target, network=network)
    try:
        results = run_checks(settings, target, ctx=ctx)
    finally:
        ctx.close()
        target.close()
    return Run(results, triage(results))


# --- comparing and pinning ----------------------------------------------------------------------
def comparable(run: Run) -> dict[str, Any]:
    checks = {}
    for r in run.results:
        d = r.to_json()
        d.pop("duration_s", None)
        checks[r.id] = d
    tri = run.triage.to_json()
    tri.pop("checks", None)
    return {"checks": checks, "triage": tri}


def differences(a: Run, b: Run) -> list[str]:
    """What differs between two runs of the checks (durations aside), one line each."""
    ca, cb = comparable(a), comparable(b)
    out = []
    for cid in sorted(set(ca["checks"]) | set(cb["checks"])):
        x, y = ca["checks"].get(cid), cb["checks"].get(cid)
        if x != y:
            out.append(f"{cid}: {_brief(x)}  !=  {_brief(y)}")
    if ca["triage"] != cb["triage"]:
        out.append(f"triage: {_brief(ca['triage'])}  !=  {_brief(cb['triage'])}")
    return out


def _brief(d: Any) -> str:
    if not isinstance(d, dict):
        return repr(d)
    if "outcome" in d:
        rest = {k: v for k, v in d.items() if k not in ("id", "runbook", "outcome", "message", "evidence")}
        return (f"{d['outcome']}: {str(d.get('message'))[:160]!r} {json.dumps(d.get('evidence'))[:200]}"
                + (f" {json.dumps(rest)[:120]}" if rest else ""))
    return json.dumps(d)[:400]


def pin(run: Run) -> dict[str, Any]:
    """The results a replay must keep giving: each check's outcome, message and evidence, the
    triage's JSON (verdict, state, ranked causes with their evidence, what would decide,
    history, coverage) and its summary text. Regenerated by `python -m servicedown.record
    --repin`, so that a change of a rule or of its wording shows as a diff of the corpus."""
    tri = run.triage.to_json()
    tri.pop("checks", None)
    checks = {r.id: {"outcome": r.outcome.value, "message": r.message, "evidence": r.evidence}
              for r in run.results}
    return json.loads(json.dumps({"triage": tri, "summary": summary_text(run.triage).splitlines(),
                                  "checks": checks}, default=str))


# --- files ---------------------------------------------------------------------------------------
def path_for(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".json" or "/" in name_or_path:
        return p
    if not NAME.match(name_or_path):
        raise IncidentError(f"incident name {name_or_path!r}: use lower-case letters, digits, '.', "
                            "'-' and '_' (it becomes the file name)")
    return INCIDENTS / f"{name_or_path}.json"


def save(incident: Incident, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(incident.to_json(), indent=1, ensure_ascii=False) + "\n")
    tmp.replace(path)


def load(path: Path | str) -> Incident:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise IncidentError(f"{path}: no such recording (record one with "
                            "'python -m servicedown.record NAME ...')") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IncidentError(f"{path}: not a readable JSON recording ({str(exc)[:160]})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise IncidentError(f"{path}: not a {FORMAT} recording (format "
                            f"{doc.get('format') if isinstance(doc, dict) else None!r})")
    try:
        inc = _from_doc(doc)
    except IncidentError as exc:
        raise IncidentError(f"{path}: {exc}") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise IncidentError(f"{path}: a recording without {exc} (re-record it)") from None
    if inc.kind not in BACKEND_OF:
        raise IncidentError(f"{path}: unknown target kind {inc.kind!r}")
    for role, snap in inc.backends.items():
        if not isinstance(snap, dict) or snap.get("backend") not in BOUNDARIES:
            raise IncidentError(f"{path}: backend {role!r} is not a recorded backend")
    return inc


def corpus(folder: Path = INCIDENTS) -> list[Path]:
    return sorted(folder.glob("*.json"))


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Mismatch(IncidentError):
    """The written recording, replayed, does not give the live results."""


def roundtrip(incident: Incident) -> Incident:
    """The incident as a reader of its file will see it (JSON and back)."""
    return _from_doc(json.loads(json.dumps(incident.to_json(), ensure_ascii=False)))


def _from_doc(doc: dict[str, Any]) -> Incident:
    label = Label(str(doc["label"]["verdict"]), tuple(doc["label"].get("causes") or ()),
                  str(doc["label"].get("source", "")), str(doc["label"].get("note", "")))
    return Incident(name=doc["name"], settings=doc["settings"], target=doc["target"],
                    engine_profile=doc["engine_profile"], label=label, backends=doc["backends"],
                    masking=doc.get("masking") or {}, pinned=doc.get("pinned") or {},
                    recorded_at=doc.get("recorded_at", ""), provenance=doc.get("provenance") or {})


def record(name: str, settings: cfg.Settings, label: Label, engine_profile: str,
           out: Path | None = None, target_options: Mapping[str, Any] | None = None,
           backend: Any = None, known_secrets: Mapping[str, str] | None = None,
           provenance: Mapping[str, Any] | None = None) -> tuple[Incident, Path, Run]:
    """Record a live run, check that its replay gives exactly the live results, then write it.
    Raises Mismatch (and writes nothing) when the replay differs."""
    path = out or path_for(name)
    recorded_at = now_text()
    snaps, live, env_secrets = record_run(settings, target_options, backend)
    # Everything written goes through the masking: the answers, the settings, the provenance.
    masked = masking.mask({"backends": snaps, "settings": settings_doc(settings),
                           "provenance": dict(provenance or {})},
                          {**env_secrets, **dict(known_secrets or {})})
    summary = {"secret_names": masked.secret_names, "standin_keys": masked.standin_keys,
               "redactor": "servicedown.redact.Redactor, with the run's known secret values"}
    incident = Incident(name=name, settings=masked.doc["settings"],
                        target={"kind": settings.target, "options": dict(target_options or {})},
                        engine_profile=engine_profile, label=label, backends=masked.doc["backends"],
                        masking=summary, pinned=pin(live), recorded_at=recorded_at,
                        provenance=masked.doc["provenance"])
    again = replay(roundtrip(incident))
    diffs = differences(live, again)
    if diffs:
        raise Mismatch(f"{name}: the recording, replayed, does not give the live results; not "
                       "written:\n  " + "\n  ".join(diffs[:20]))
    save(incident, path)
    return incident, path, live


def repin(path: Path) -> tuple[Incident, bool]:
    """Re-derive the pinned results of a recording from its replay (after a deliberate change
    of a rule). -> (incident, whether the pinned block changed)."""
    incident = load(path)
    pinned = pin(replay(incident))
    changed = pinned != incident.pinned
    if changed:
        incident.pinned = pinned
        save(incident, path)
    return incident, changed
