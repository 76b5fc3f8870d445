"""A value that would reach systemctl, ssh, docker or the Kubernetes API as something else
(`--unit=--host=x`) ends `pytest checks/` as a usage error: one message, nothing run."""

from __future__ import annotations

import sys

import pytest

from tests.support import ROOT, run


@pytest.mark.parametrize(("args", "message"), [
    (["--target", "systemd", "--unit=--host=x"], "--unit '--host=x' is not a systemd unit name"),
    (["--target", "systemd", "--host", "ssh://-oProxyCommand=id"], "is not a host name"),
    (["--target", "systemd", "--host", "docker://-it"], "is not a container name"),
    (["--target", "kubernetes", "--namespace", "../../api"], "is not a Kubernetes namespace"),
    (["--target", "kubernetes", "--selector", "app=x&watch=true"], "is not a label value"),
    (["--target", "compose", "--compose-project", "Prod Stack"], "is not a Compose project name"),
])
def test_injected_options_are_usage_errors(args, message):
    proc = run([sys.executable, "-m", "pytest", "checks/", "-p", "no:cacheprovider", *args],
               timeout=60, check=False, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out[-2000:]
    assert message in out and "Traceback" not in out
