"""A live run recorded on a throwaway stack (TLS on, so a private key is read), replayed: the
replay gives exactly the live results, and the recording holds none of the stack's secrets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from servicedown.backends.docker import DockerBackend
from servicedown.record import incident as inc
from servicedown.record import masking

pytestmark = [pytest.mark.compose, pytest.mark.slow]


@pytest.fixture(scope="module")
def tls_stack():
    if shutil.which("docker") is None:
        pytest.skip("no docker client: run 'make test', which installs and starts Docker")
    from servicedown.chaos.stack import ChaosStack

    with ChaosStack() as stack:
        stack.recreate_engine(stack.baselines["tls"], wait=True)
        yield stack


def test_record_then_replay_gives_the_live_results_and_no_secret(tls_stack, tmp_path: Path):
    stack = tls_stack
    stack.container("postgres").stop(timeout=5)  # something to diagnose
    try:
        settings = stack.settings()
        label = inc.Label("down", ("db-down",), "tests/integration/test_recording_live.py")
        incident, path, live = inc.record(
            "live", settings, label, "reference", out=tmp_path / "live.json",
            target_options={"since": stack.window_start},
            backend=DockerBackend(settings.check_timeout_s + 5, client=stack.client))
    finally:
        stack.container("postgres").start()
    again = inc.replay(inc.load(path))
    assert inc.differences(live, again) == []
    assert [r.outcome for r in again.results] == [r.outcome for r in live.results]
    assert again.triage.to_json() | {"checks": None} == live.triage.to_json() | {"checks": None}
    doc = json.loads(path.read_text())
    secrets = [v for k, v in stack.engine_spec.env.items() if k in ("DATABASE_PASSWORD", "JWT_SECRET",
                                                                    "ENCRYPTION_KEY")]
    key_pem = dict(stack.engine_spec.files)[stack.engine_spec.env["TLS_KEY_FILE"]].decode()
    assert masking.leaks(doc, [*secrets, stack.db_password]) == []
    key_body = "".join(key_pem.strip().splitlines()[1:-1])
    assert masking.leaks(doc, [key_body[:64]]) == [], "the stack's private key is in the recording"
    assert doc["masking"]["standin_keys"], "the key read by the TLS check was swapped"
