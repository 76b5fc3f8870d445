"""Alertmanager's webhook notification (`"version": "4"`), read strictly: whatever cannot be used
is one BadPayload whose reason the receiver answers with 400.

    {"version": "4", "groupKey": "{}:{alertname=\"ServiceDown\", service=\"qbitel-engine\"}",
     "status": "firing", "receiver": "servicedown", "groupLabels": {...}, "commonLabels": {...},
     "alerts": [{"status": "firing", "labels": {"alertname": "ServiceDown", ...},
                 "annotations": {...}, "startsAt": "2026-12-01T22:19:08.12Z",
                 "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "a1b2..."}]}

Labels and annotations are plain data: nothing here is ever run, resolved or fetched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from servicedown.schema import epoch

STATUSES = ("firing", "resolved")
MAX_ALERTS = 1000  # Alertmanager's own max_alerts is unlimited by default; a group this big is not one
MAX_LABELS = 64
MAX_NAME = 256
MAX_VALUE = 4096
MAX_GROUP_KEY = 4096
ZERO_TIME = "0001-01-01T00:00:00"  # Alertmanager's time for "no end yet"


class BadPayload(ValueError):
    """The notification cannot be used; str() is the reason, for a 400 answer."""


@dataclass(frozen=True)
class Alert:
    status: str
    name: str
    labels: dict[str, str]
    starts_at: float | None
    ends_at: float | None  # None while it fires
    fingerprint: str


@dataclass(frozen=True)
class Notification:
    status: str
    group_key: str
    alerts: tuple[Alert, ...]
    common_labels: dict[str, str]
    truncated: int  # alerts Alertmanager left out (max_alerts)


def parse(body: bytes) -> Notification:
    try:
        doc = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadPayload("the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BadPayload(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BadPayload("malformed JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise BadPayload("the body is not a JSON object (Alertmanager's webhook sends one)")
    version = doc.get("version")
    if version is not None and str(version) != "4":
        raise BadPayload(f"webhook version {str(version)[:10]!r} is not 4 (Alertmanager 0.x sends \"4\")")
    status = doc.get("status")
    if status not in STATUSES:
        raise BadPayload(f"status must be 'firing' or 'resolved', got {_show(status)}")
    raw = doc.get("alerts")
    if not isinstance(raw, list):
        raise BadPayload("no 'alerts' list: is this Alertmanager's webhook?")
    if not raw:
        raise BadPayload("the notification has no alerts")
    if len(raw) > MAX_ALERTS:
        raise BadPayload(f"{len(raw)} alerts in one notification; at most {MAX_ALERTS}")
    alerts = tuple(_alert(a, n) for n, a in enumerate(raw, 1))
    common = _labels(doc.get("commonLabels") or {}, "commonLabels")
    group_key = doc.get("groupKey")
    if group_key is None:
        # Older senders: the group's labels stand for its key.
        labels = _labels(doc.get("groupLabels") or common, "groupLabels")
        group_key = json.dumps(labels, sort_keys=True)
    if not isinstance(group_key, str) or not group_key or len(group_key) > MAX_GROUP_KEY:
        raise BadPayload(f"groupKey must be a non-empty string of at most {MAX_GROUP_KEY} characters")
    truncated = doc.get("truncatedAlerts")
    return Notification(status, group_key, alerts, common,
                        truncated if isinstance(truncated, int) and truncated > 0 else 0)


def _alert(doc: Any, n: int) -> Alert:
    where = f"alerts[{n}]"
    if not isinstance(doc, dict):
        raise BadPayload(f"{where} is not an object")
    status = doc.get("status")
    if status not in STATUSES:
        raise BadPayload(f"{where}.status must be 'firing' or 'resolved', got {_show(status)}")
    labels = _labels(doc.get("labels"), f"{where}.labels")
    name = labels.get("alertname")
    if not name:
        raise BadPayload(f"{where} has no alertname label")
    starts = _time(doc.get("startsAt"), f"{where}.startsAt", required=True)
    ends = _time(doc.get("endsAt"), f"{where}.endsAt", required=False)
    if status == "resolved" and ends is None:
        raise BadPayload(f"{where} is resolved without an endsAt")
    fingerprint = doc.get("fingerprint")
    return Alert(status, name, labels, starts, ends if status == "resolved" else None,
                 fingerprint if isinstance(fingerprint, str) and len(fingerprint) <= 64 else "")


def _labels(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise BadPayload(f"{where} must be an object of label names to string values")
    if len(value) > MAX_LABELS:
        raise BadPayload(f"{where} has {len(value)} labels; at most {MAX_LABELS}")
    out = {}
    for k, v in value.items():
        if not isinstance(v, str) or len(k) > MAX_NAME or len(v) > MAX_VALUE:
            raise BadPayload(f"{where}.{str(k)[:60]} must be a string of at most {MAX_VALUE} characters")
        out[k] = v
    return out


def _time(value: Any, where: str, required: bool) -> float | None:
    if (value in (None, "") or isinstance(value, str) and value.startswith(ZERO_TIME)) and not required:
        return None
    t = epoch(value) if isinstance(value, str) else None
    if t is None:
        raise BadPayload(f"{where} is not an RFC 3339 time: {_show(value)}")
    return t


def _show(value: Any) -> str:
    text = json.dumps(value)[:60] if not isinstance(value, str) else repr(value[:60])
    return "".join(c if c.isprintable() else "?" for c in text)
