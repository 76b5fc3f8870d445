"""Fixtures: the private monitoring stack (up for the session, then taken down) and the listener."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.monitoring.stack import RECEIVER_PORT, SETTINGS, MonitoringStack, WebhookListener
from tests.support import ROOT, run


@pytest.fixture(scope="session")
def monitoring_stack() -> Iterator[MonitoringStack]:
    if shutil.which("docker") is None or shutil.which("docker-compose") is None:
        pytest.skip("no docker or docker-compose: run 'make test', which installs and starts Docker")
    env = {**os.environ, **SETTINGS}
    stack = ["bash", str(ROOT / "scripts" / "stack.sh")]
    try:
        up = run([*stack, "up"], timeout=300, env=env)
        yield MonitoringStack(env, up.stdout + up.stderr)
    finally:
        run([*stack, "down"], timeout=180, check=False, env=env)


@pytest.fixture(scope="session")
def webhook() -> Iterator[WebhookListener]:
    # Up for the whole session: a delivery that fails is retried with back-off, which would slow
    # the next test's alerts.
    listener = WebhookListener(RECEIVER_PORT)
    try:
        yield listener
    finally:
        listener.close()
