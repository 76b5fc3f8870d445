"""Read-back of acknowledged writes: every record the engine answered 201 for must be there.

Runs inside a Locust process after its users stopped (gevent is already in charge there), with
its own HTTP client so these reads never enter the run's statistics. Bounded three ways: at most
`max_records`, at most `timeout_s` in all, a few tries per record. A record not read within the
bound is "not verified", never silently counted as fine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from loadtests import credentials
from loadtests.gates import WriteCheck
from servicedown.records import PATH, read_back_outcome

TRIES = 3


@dataclass(frozen=True)
class Ack:
    id: int
    key: str
    token: str  # unique per write; the read must return it in the value


def check_record(ack: Ack, status: int, body: bytes) -> str:
    """-> 'ok', 'lost', 'mismatched' or 'retry' for one answer of GET /api/v1/records/{id}."""
    return read_back_outcome(status, body, lambda doc: _same(ack, doc)).value


def _same(ack: Ack, doc: dict[str, Any]) -> bool:
    value = doc.get("value")
    return doc.get("key") == ack.key and isinstance(value, dict) and value.get("token") == ack.token


def read_back(base_url: str, acks: list[Ack], max_records: int, timeout_s: float,
              concurrency: int = 16) -> tuple[WriteCheck, list[dict[str, Any]]]:
    """-> (counts, up to 10 examples of bad records). Needs gevent (a Locust process)."""
    import gevent
    from gevent.pool import Pool
    from geventhttpclient import HTTPClient

    todo = acks[:max_records]
    outcome: dict[int, str] = {}
    client = HTTPClient.from_url(base_url, concurrency=concurrency, connection_timeout=5,
                                 network_timeout=5, headers={"User-Agent": "servicedown-load/readback",
                                                             **credentials.headers()})

    def one(ack: Ack) -> None:
        for attempt in range(TRIES):
            try:
                resp = client.get(f"{PATH}/{ack.id}")
                verdict = check_record(ack, resp.status_code, resp.read())
            except Exception:  # any transport error is worth another try
                verdict = "retry"
            if verdict != "retry":
                outcome[ack.id] = verdict
                return
            gevent.sleep(0.2 * (attempt + 1))

    start = time.monotonic()
    pool = Pool(concurrency)
    try:
        with gevent.Timeout(timeout_s, False):  # False: on timeout, just stop waiting
            pool.map(one, todo)
    finally:
        pool.kill(block=False)
        client.close()
    counts = {v: sum(1 for x in outcome.values() if x == v) for v in ("ok", "lost", "mismatched")}
    checked = len(outcome)
    check = WriteCheck(acknowledged=len(acks), checked=checked, lost=counts["lost"],
                       mismatched=counts["mismatched"], unverified=len(acks) - checked)
    examples = [{"id": a.id, "key": a.key, "outcome": outcome.get(a.id, "not verified")}
                for a in acks if outcome.get(a.id) != "ok"][:10]
    if examples or time.monotonic() - start > timeout_s:
        examples.append({"note": f"read-back bound: {max_records} records, {timeout_s:.0f} s"})
    return check, examples
