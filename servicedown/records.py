"""The engine's records API as the write checks see it, and the one rule for reading a write back.

Chaos experiments and load runs both write records and read every acknowledged one back after
the fault: they judge each answer with `read_back_outcome`, so "lost" means the same in both.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from typing import Any

PATH = "/api/v1/records"


class ReadBack(enum.StrEnum):
    OK = "ok"
    LOST = "lost"  # the engine says the record does not exist
    MISMATCHED = "mismatched"  # it exists with another value
    RETRY = "retry"  # no definite answer (5xx while the database recovers, garbage): ask again


def read_back_outcome(status: int, body: bytes | str | None,
                      matches: Callable[[dict[str, Any]], bool]) -> ReadBack:
    """Judge one answer of GET /api/v1/records/{id}; `matches` says whether the record read
    is the one that was written."""
    if status == 404:
        return ReadBack.LOST
    if status != 200:
        return ReadBack.RETRY
    try:
        doc = json.loads(body or b"")
    except ValueError:
        return ReadBack.RETRY
    if not isinstance(doc, dict):
        return ReadBack.RETRY
    return ReadBack.OK if matches(doc) else ReadBack.MISMATCHED
