"""Incidents: one per alert group and target, from the first firing notification to the resolved
one, kept under reports/incidents/<id>/ (schema.py names the files).

The id is derived from the group (Alertmanager's groupKey), the target and when the alert fired:
Alertmanager's repeats of a group that still fires carry the same groupKey, so they land on the
open incident, which they re-triage; after the group resolves, the next firing is a new incident.
Open incidents are read back from disk at start, so a restarted receiver keeps them.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from servicedown.files import write_atomic
from servicedown.receiver.payload import Alert, Notification
from servicedown.schema import INCIDENT_FILE, Incident, IncidentEvent, iso

MAX_LOG = 200  # entries of one incident's log; the first (firing) and the latest are kept
MAX_RECENT = 256  # incidents kept in memory after they closed, for runs that finish late
MAX_OPEN = 256  # open incidents at once: alert groups beyond it are refused until some close


class TooManyOpen(RuntimeError):
    """MAX_OPEN incidents are open: a new alert group is refused (503, Alertmanager retries)."""
MAX_READ = 4 << 20  # an incident.json larger than this is not read back


def incident_id(alertname: str, key: str, started_at: float) -> str:
    """`20261201T221908Z-ServiceDown-1a2b3c4d`: when it fired, what, and which group and target.
    Only [A-Za-z0-9-], so it is a safe folder name whatever the labels hold."""
    when = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started_at))
    slug = re.sub(r"[^A-Za-z0-9]+", "-", alertname).strip("-")[:40] or "alert"
    return f"{when}-{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def group_key(notification: Notification, target: str) -> str:
    return f"{notification.group_key}\n{target}"


def common_labels(alerts: Sequence[Alert]) -> dict[str, str]:
    """The labels every one of these alerts has, with the same value."""
    first, *rest = alerts
    return {k: v for k, v in first.labels.items() if all(a.labels.get(k) == v for a in rest)}


class IncidentStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.RLock()
        self._open: dict[str, Incident] = {}  # key -> the open incident of that group and target
        self._recent: OrderedDict[str, Incident] = OrderedDict()  # id -> incident
        self.root.mkdir(parents=True, exist_ok=True)
        for inc in self._read_all():
            if inc.status == "open":
                self._open[inc.key] = inc
                self._remember(inc)

    # --- notifications ------------------------------------------------------------------------
    def notify(self, n: Notification, alerts: Sequence[Alert], target: str,
               now: float | None = None) -> tuple[Incident | None, str]:
        """Record a notification's alerts for one target -> (incident, event): firing (a new
        incident), repeat, resolved (closed now), or (None, "unknown") for a resolution of a
        group with no open incident here."""
        now = time.time() if now is None else now
        key = group_key(n, target)
        firing = [a for a in alerts if a.status == "firing"]
        names = sorted({a.name for a in alerts})
        with self._lock:
            inc = self._open.get(key)
            if not firing:
                if inc is None:
                    return None, "unknown"
                ends = [a.ends_at for a in alerts if a.ends_at is not None]
                inc.resolved_at = max(ends) if ends else now
                inc.closed_at, inc.status = now, "closed"
                self._log(inc, IncidentEvent(now, "resolved", {
                    "alerts": names, "ends_at": iso(inc.resolved_at), "recovery_s": inc.recovery_s}))
                del self._open[key]
                self._save(inc)
                return inc, "resolved"
            starts = [a.starts_at for a in firing if a.starts_at is not None]
            detail = {"alerts": names, "firing": len(firing),
                      "starts_at": iso(min(starts) if starts else now)}
            if inc is None:
                if len(self._open) >= MAX_OPEN:
                    raise TooManyOpen(f"{MAX_OPEN} incidents are open; a new alert group waits until "
                                      "some resolve")
                started = min(starts) if starts else now
                inc = Incident(self._new_id(firing[0].name, key, started), key, firing[0].name, target,
                               labels=common_labels(alerts), started_at=started, opened_at=now)
                self._open[key] = inc
                self._log(inc, IncidentEvent(now, "firing", detail))
                event = "firing"
            else:
                inc.repeats += 1
                self._log(inc, IncidentEvent(now, "repeat", detail))
                event = "repeat"
            self._remember(inc)
            self._save(inc)
            return inc, event

    # --- what a run adds ----------------------------------------------------------------------
    def get(self, incident_id: str) -> Incident | None:
        with self._lock:
            return self._recent.get(incident_id)

    def snapshot(self, incident_id: str) -> Incident | None:
        """A copy to read outside the lock (the page is drawn from it while notifications arrive)."""
        with self._lock:
            inc = self._recent.get(incident_id)
            return None if inc is None else Incident.from_json(inc.to_json())

    def add_event(self, incident_id: str, event: str, detail: dict[str, Any],
                  now: float | None = None) -> Incident | None:
        with self._lock:
            inc = self._recent.get(incident_id)
            if inc is None:
                return None
            if event == "remediation":
                inc.remediated = True
            self._log(inc, IncidentEvent(time.time() if now is None else now, event, detail))
            self._save(inc)
            return inc

    def claim_remediation(self, incident_ids: Sequence[str], allowed: Sequence[str]) -> str | None:
        """The first open incident of these whose alert the config allows to restart the service
        and that has not been remediated: marked as remediated now, so it happens once."""
        with self._lock:
            for iid in incident_ids:
                inc = self._recent.get(iid)
                if inc is not None and inc.status == "open" and not inc.remediated \
                        and inc.alertname in allowed:
                    inc.remediated = True
                    self._save(inc)
                    return iid
        return None

    def folder(self, incident_id: str) -> Path:
        return self.root / incident_id

    def open_incidents(self) -> list[Incident]:
        with self._lock:
            return list(self._open.values())

    # --- inside --------------------------------------------------------------------------------
    def _new_id(self, alertname: str, key: str, started: float) -> str:
        base = incident_id(alertname, key, started)
        iid, n = base, 1
        while (self.root / iid).exists() or iid in self._recent:  # fired again within the second
            n += 1
            iid = f"{base}-{n}"
        return iid

    def _log(self, inc: Incident, event: IncidentEvent) -> None:
        inc.log.append(event)
        if len(inc.log) > MAX_LOG:
            inc.log = inc.log[:1] + inc.log[-(MAX_LOG - 1):]

    def _remember(self, inc: Incident) -> None:
        """Keep it at hand; the oldest closed incidents are forgotten first (open ones never:
        MAX_OPEN bounds them)."""
        self._recent[inc.id] = inc
        self._recent.move_to_end(inc.id)
        closed = [iid for iid, i in self._recent.items() if i.status == "closed"]
        for iid in closed[:max(len(self._recent) - MAX_RECENT - MAX_OPEN, 0)]:
            del self._recent[iid]

    def _save(self, inc: Incident) -> None:
        write_atomic(self.folder(inc.id) / INCIDENT_FILE, json.dumps(inc.to_json(), indent=2))

    def _read_all(self) -> list[Incident]:
        out = []
        for path in sorted(self.root.glob(f"*/{INCIDENT_FILE}")):
            try:
                if path.stat().st_size > MAX_READ:
                    continue
                inc = Incident.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # a damaged file is left where it is, and not reopened
            if inc is not None and inc.id == path.parent.name:
                out.append(inc)
        return out
