"""The rules that have one home: what a health answer means, what a read-back answer means,
and the poll loop every wait uses."""

import itertools
import time

import pytest

from servicedown import polling
from servicedown.healthy import health_state, is_healthy, is_serving, status_word
from servicedown.records import ReadBack, read_back_outcome


@pytest.mark.parametrize(("status", "body", "state"), [
    (200, {"status": "healthy"}, "healthy"),
    (200, {"status": "PASS"}, "healthy"),
    (200, {"status": "ok"}, "healthy"),
    (200, {"status": "up"}, "healthy"),
    (200, {"status": "degraded"}, "degraded"),
    (200, {"status": "warn"}, "degraded"),
    (200, {"status": "fail"}, "unhealthy"),
    (200, {}, "unhealthy"),  # a proxy's default page answers 200 too
    (200, "healthy", "unhealthy"),  # not a JSON object
    (503, {"status": "healthy"}, "unhealthy"),
    (500, None, "unhealthy"),
    (None, None, "no-answer"),
])
def test_health_state(status, body, state):
    assert health_state(status, body) == state
    assert is_healthy(status, body) is (state == "healthy")
    assert is_serving(status, body) is (state in ("healthy", "degraded"))


def test_status_word_only_from_a_string_status():
    assert status_word({"status": " Healthy "}) == "healthy"
    assert status_word({"status": 1}) is None
    assert status_word(["status"]) is None


def _same(doc):
    return doc.get("value") == {"n": 1}


@pytest.mark.parametrize(("status", "body", "outcome"), [
    (200, b'{"value": {"n": 1}}', ReadBack.OK),
    (200, b'{"value": {"n": 2}}', ReadBack.MISMATCHED),
    (404, b"", ReadBack.LOST),
    (503, b'{"detail": "down"}', ReadBack.RETRY),
    (200, b"not json", ReadBack.RETRY),
    (200, b"[1, 2]", ReadBack.RETRY),
])
def test_read_back_outcome(status, body, outcome):
    assert read_back_outcome(status, body, _same) is outcome


def test_until_returns_the_first_accepted_value():
    counter = itertools.count()
    assert polling.until(lambda: next(counter), 5, 0.001, done=lambda n: n == 3) == 3


def test_until_returns_the_last_value_at_the_bound():
    start = time.monotonic()
    value = polling.until(lambda: "still no", 0.2, 0.05, done=lambda v: v == "yes")
    assert value == "still no" and time.monotonic() - start < 2


def test_until_gives_up_early():
    assert polling.until(lambda: 0, 30, 0.01, give_up=lambda: True) == 0
