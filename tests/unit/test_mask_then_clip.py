"""Text is masked before it is cut, everywhere: cut first, a secret's head survives, and no
pattern or known value recognises a head. Each case puts a secret across the cut of one place
that cuts text (a target, the check runner, a check) and looks for its head in what comes out."""

from __future__ import annotations

import pytest

from servicedown.backends.http import HttpAnswer
from servicedown.config import Settings
from servicedown.redact import DEFAULT, ELLIPSIS, MASK, Redactor, clip
from servicedown.targets.base import TargetError
from servicedown.targets.compose import _health_log
from servicedown.targets.systemd import SystemdTarget
from tests.fakes import FailingHost, FakeNetwork, FakeTarget, results

SECRET = "Zx9Q" + "k3Vt7pLm2" * 4  # its head, "Zx9Q", appears nowhere else
HEAD = SECRET[:4]
ENV = {"JWT_SECRET": SECRET}


def across(cut: int, before: str = "") -> str:
    """Filler, then `before` and SECRET placed so that the cut at `cut` falls inside SECRET."""
    start = cut - 10 - len(before)
    return "y" * (start - 1) + " " + before + SECRET + " tail of the text"


@pytest.mark.parametrize("shape", ["", "postgresql://user:", "password=", "token: "])
@pytest.mark.parametrize("redactor", [Redactor([SECRET]), DEFAULT], ids=["knows it", "generic"])
def test_clip_never_lets_a_head_through(shape, redactor):
    text = across(200, shape) + ("@db" if shape.endswith(":") and "//" in shape else "")
    out = redactor.clip(text, 200)
    assert HEAD not in out and len(out) <= 200 and out.endswith(ELLIPSIS)


def test_clip_keeps_short_text_and_whole_words():
    assert clip("short", 10) == "short"
    assert clip("one two three four", 12) == "one two" + ELLIPSIS
    assert clip("one two three", 8) == "one two" + ELLIPSIS  # the cut falls on a space
    assert clip(f"password={SECRET} x", 1000) == f"password={MASK} x"


def test_compose_health_log_is_masked_then_cut():
    log = [{"ExitCode": 1, "Output": across(200, "postgresql://u:") + "@db"}]
    out = _health_log({"Health": {"Log": log}})
    assert out and all(HEAD not in line for line in out)


def test_runner_masks_a_broken_checks_message_before_cutting_it():
    target = FakeTarget(ENV, RuntimeError(across(300 - len("RuntimeError: "))))
    result = results(target, ["running.state"])["running.state"]
    assert result.outcome == "error" and HEAD not in result.message


def test_health_check_masks_a_non_json_body_before_cutting_it():
    answer = HttpAnswer("http://svc/health", status=503, text=across(120))
    result = results(FakeTarget(ENV), ["health.endpoint"], FakeNetwork(answer))["health.endpoint"]
    assert result.outcome == "fail" and HEAD not in result.message


def test_health_check_masks_a_components_details_before_cutting_them():
    body = {"status": "unhealthy", "checks": [{"component": "database", "status": "failed",
                                               "details": across(200)}]}
    answer = HttpAnswer("http://svc/health", status=503, body=body)
    found = results(FakeTarget(ENV), ["health.endpoint", "health.database"], FakeNetwork(answer))
    for r in found.values():
        assert r.outcome == "fail" and HEAD not in r.message


@pytest.mark.parametrize("call", ["logs", "restart", "service_pid"])
def test_systemd_errors_quote_the_hosts_answer_masked_then_cut(call):
    target = SystemdTarget(Settings(target="systemd"), backend=FailingHost(across(200)))
    with pytest.raises(TargetError) as err:
        getattr(target, call)(*([100] if call == "logs" else []))
    assert HEAD not in str(err.value)
