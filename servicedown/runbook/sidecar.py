"""What a runbook's owner pins: a small YAML file next to the runbook that says what an item
means when the matcher cannot tell, or tells it wrong. For `RUNBOOK.md` it is
`RUNBOOK.md.servicedown.yml` (or `.yaml`):

    # key: an item's title as written (any case) or its id (cause-3, qbitel-worker/cause-1)
    # value: a meaning id (servicedown/meanings.py), a list of them, `uncovered` or `informational`
    "Cache Outage": uncovered
    "Backend trouble": db-down
    cause-4.2: [db-down, db-network]

A pin is taken as written, with confidence 1. `uncovered` says no check covers the item (it
stays required, so --strict still fails on it); `informational` takes it out of the required
items, like escalation. A file that cannot be used is a SidecarError with one sentence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingType
from pathlib import Path
from typing import Any

import yaml

from servicedown import meanings as mn
from servicedown.runbook.matcher import INFO, PINNED, Mapping
from servicedown.runbook.reader import Runbook, RunbookError

SUFFIXES = (".servicedown.yml", ".servicedown.yaml")
MAX_BYTES = 256_000  # a list of pins, not a document


class SidecarError(RunbookError):
    """The sidecar file cannot be used; the message says why and what to do."""


def path_for(runbook: str | Path) -> Path | None:
    """The sidecar next to this runbook, if there is one."""
    p = Path(runbook)
    for suffix in SUFFIXES:
        candidate = p.with_name(p.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def read(path: str | Path) -> dict[str, tuple[str, ...]]:
    """key -> meaning ids (empty for `uncovered`, ('informational',) for informational)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise SidecarError(f"{p}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise SidecarError(f"{p}: {len(data):,} bytes is too large for a list of pins "
                           f"(at most {MAX_BYTES:,})")
    try:
        doc = yaml.safe_load(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise SidecarError(f"{p}: not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise SidecarError(f"{p}: not valid YAML{where}; write one `\"item title\": meaning` "
                           "per line") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise SidecarError(f"{p}: expected `\"item title\": meaning` lines, found a "
                           f"{type(doc).__name__}")
    return {str(k): _values(p, str(k), v) for k, v in doc.items()}


def _values(p: Path, key: str, value: Any) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise SidecarError(f"{p}: {key!r} must name a meaning, a list of meanings, "
                           f"'{mn.UNCOVERED}' or '{mn.INFORMATIONAL}'")
    out = tuple(v.strip() for v in values)
    special = {mn.UNCOVERED, mn.INFORMATIONAL}
    if len(out) > 1 and special & set(out):
        raise SidecarError(f"{p}: {key!r}: '{mn.UNCOVERED}' and '{mn.INFORMATIONAL}' stand alone, "
                           "not in a list")
    unknown = [v for v in out if v not in special and v not in mn.MEANINGS]
    if unknown:
        raise SidecarError(f"{p}: {key!r}: unknown meaning {', '.join(map(repr, unknown))}; known: "
                           f"{', '.join(mn.MEANINGS)}, {mn.UNCOVERED}, {mn.INFORMATIONAL}")
    return () if out == (mn.UNCOVERED,) else out


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def pins(runbook: Runbook, raw: MappingType[str, tuple[str, ...]],
         source: str = "the sidecar") -> tuple[dict[str, Mapping], list[str]]:
    """item id -> the pinned Mapping, and notes for keys that match no item."""
    by_title: dict[str, list[str]] = {}
    for it in runbook.items:
        by_title.setdefault(_norm(it.title), []).append(it.id)
    out: dict[str, Mapping] = {}
    notes = []
    for key, values in raw.items():
        ids = [key] if key in {it.id for it in runbook.items} else by_title.get(_norm(key), [])
        if not ids:
            notes.append(f"{source}: {key!r} matches no item of the runbook (an id or a title "
                         "as written); not used")
        for item_id in ids:
            if values == (mn.INFORMATIONAL,):
                out[item_id] = Mapping(item_id, INFO, (), 1.0, (f"pinned informational in {source}",))
            else:
                what = ", ".join(values) or mn.UNCOVERED
                out[item_id] = Mapping(item_id, PINNED, values, 1.0, (f"pinned {what} in {source}",))
    return out, notes


def load(runbook: Runbook) -> tuple[dict[str, Mapping], list[str]]:
    """The pins of the sidecar next to the runbook (none when there is no such file)."""
    path = path_for(runbook.source) if runbook.source else None
    if path is None:
        return {}, []
    found, notes = pins(runbook, read(path), path.name)
    return found, [f"{len(found)} item(s) pinned by {path}", *notes]
