"""The systemd test host (scripts/systemd-host.sh), fresh for the session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.support import ROOT, run

HOST = "docker://" + os.environ.get("QBITEL_SYSTEMD_NAME", "qbitel-systemd")
SCRIPTS = ROOT / "scripts"


@pytest.fixture(scope="session")
def systemd_host() -> Iterator[str]:
    if shutil.which("docker") is None or run(["docker", "info"], timeout=20,
                                             check=False).returncode != 0:
        pytest.skip("Docker is unavailable: run 'scripts/bootstrap.sh docker' (make test does)")
    run(["bash", str(SCRIPTS / "bootstrap.sh"), "systemd-image"], timeout=1500)
    # A fresh host, so restart counters and the journal hold only what these tests do.
    run(["bash", str(SCRIPTS / "systemd-host.sh"), "down"], timeout=120)
    run(["bash", str(SCRIPTS / "systemd-host.sh"), "up"], timeout=240)
    yield HOST
    run(["bash", str(SCRIPTS / "systemd-host.sh"), "down"], timeout=120, check=False)
