"""Fixtures: the private stack (up for the session, then taken down), the chat listener and the
receiver that the stack's Alertmanager delivers to."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.receiver.harness import RECEIVER_PORT, Listener, Receiver, Stack, engine_target
from tests.support import ROOT, run


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if shutil.which("docker") is None or shutil.which("docker-compose") is None:
        pytest.skip("no docker or docker-compose: run 'make test', which installs and starts Docker")
    s = Stack()
    script = ["bash", str(ROOT / "scripts" / "stack.sh")]
    try:
        run([*script, "up"], timeout=300, env=s.env)
        yield s
    finally:
        run([*script, "down"], timeout=180, check=False, env=s.env)


@pytest.fixture(scope="session")
def chat() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture(scope="session")
def receiver(stack: Stack, chat: Listener, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    """Up for the session: Alertmanager backs off from a receiver that does not answer."""
    r = Receiver(tmp_path_factory.mktemp("receiver"), RECEIVER_PORT, {
        "targets": {"engine": engine_target()},
        "routes": [{"match": {"service": "qbitel-engine"}, "target": "engine"},
                   {"match": {"service": "postgres"}, "target": "engine"}],
        "summary": {"webhook_url": f"{chat.url}/hooks/T000/B000/chat-secret-path"},
    })
    try:
        r.wait_up()
        yield r
    finally:
        r.stop()
