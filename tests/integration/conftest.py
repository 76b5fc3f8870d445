"""The reference Compose stack, up for the whole session (scripts/stack.sh, bounded)."""

from __future__ import annotations

import shutil

import pytest

from tests.support import ROOT, run


@pytest.fixture(scope="session")
def stack():
    if shutil.which("docker") is None:
        pytest.skip("no docker client: run 'make test', which installs and starts Docker")
    run(["bash", str(ROOT / "scripts" / "stack.sh"), "up"], timeout=240)
    yield
    # Leave the stack running for whoever runs next; scenarios restore what they broke.
