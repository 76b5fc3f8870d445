"""The pure parsers on large and hostile input: the log scan over 100k lines, masking an
adversarial megabyte. In-process timings, best of a few runs (a guard against a busy machine)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from bench.common import record, section
from servicedown.probes.logscan import scan
from servicedown.redact import redact

TS = "2026-11-29 14:00:00,000 - qbitel_ref.app - "


def best_of(n: int, call: Callable[[], object]) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def mixed_log(n: int) -> list[str]:
    rng = random.Random(7)
    healthy = [TS + f"INFO - GET /health 200 OK in {i % 97} ms request_id={i}" for i in range(50)]
    bad = ["Traceback (most recent call last):", "MemoryError", "OSError: [Errno 28] No space left on device",
           "psycopg.OperationalError: connection to server at \"postgres\" failed: Connection refused"]
    return [rng.choice(bad) if i % 1000 == 0 else healthy[i % 50] for i in range(n)]


def main(ctx: Any = None) -> None:
    section("parsers (in process, best of 3)")
    lines = mixed_log(100_000)
    secs = best_of(3, lambda: scan(lines))
    record("parsers.logscan", "logscan: 100k log lines, 100 of them errors", f"{secs:.3f} s",
           "< 1 s", seconds=round(secs, 4))
    hostile = [("dots", "'a.b-' x 250k", "a.b-" * 250_000), ("key", "'key=' x 250k", "key=" * 250_000),
               ("json_key", "'\"key\":\"' x 150k", '"key":"' * 150_000),
               ("colon", "'a:' x 500k + '@'", "a:" * 500_000 + "@")]
    for key, name, garbage in hostile:
        secs = best_of(3, lambda g=garbage: redact(g))
        record(f"parsers.redact_{key}", f"redact: adversarial megabyte {name}", f"{secs:.3f} s",
               "linear: well under 1 s", seconds=round(secs, 4))
