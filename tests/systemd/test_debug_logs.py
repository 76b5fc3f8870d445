"""With logging at DEBUG, testinfra logs every command it runs and its whole output. The outputs
that hold secrets (the process's environment, `systemctl show -p Environment`, the env files,
the TLS key read with `head -c`, the service's own journal lines) must reach no log.

Against the real systemd test host: its env file holds random secrets, and the test adds what a
real host may have: a TLS key, and a journal line of the unit that quotes a secret."""

from __future__ import annotations

import logging
import os
import shlex

import pytest

from servicedown.chaos.certs import make_pair
from servicedown.config import Settings
from servicedown.diagnosis.runner import run_checks
from servicedown.targets.systemd import SystemdTarget
from tests.support import run, wait_for

pytestmark = [pytest.mark.systemd, pytest.mark.slow]

HTTP_PORT = int(os.environ.get("QBITEL_SYSTEMD_HTTP_PORT", "18000"))
KEY = "/etc/qbitel/tls/key.pem"


def in_host(name: str, script: str, stdin: bytes | None = None) -> str:
    return run(["docker", "exec", "-i", name, "sh", "-c", script], timeout=60,
               input=stdin.decode() if stdin else None).stdout


@pytest.fixture
def host_secrets(systemd_host):
    """The host's secret values (its env file), a TLS key on disk and a journal line of the
    unit quoting the database password, as an engine that logs its settings would."""
    name = systemd_host.removeprefix("docker://")
    env = dict(line.split("=", 1) for line in in_host(name, "cat /etc/qbitel/qbitel.env").split())
    pair = make_pair()
    in_host(name, f"mkdir -p /etc/qbitel/tls && cat > {KEY} && chmod 600 {KEY}", pair.key_pem)
    line = f"MESSAGE=connecting with password: {env['DATABASE_PASSWORD']}\n" \
           "OBJECT_SYSTEMD_UNIT=qbitel.service\n"
    in_host(name, "logger --journald", line.encode())
    body = [ln for ln in pair.key_pem.decode().splitlines() if ln and not ln.startswith("-----")]
    yield name, [*env.values(), *body]
    in_host(name, f"rm -f {KEY}; systemctl start qbitel")


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)


def test_no_secret_reaches_a_debug_log(systemd_host, host_secrets, caplog):
    name, values = host_secrets
    caplog.set_level(logging.DEBUG)
    settings = Settings(target="systemd", host=systemd_host, base_url=f"http://127.0.0.1:{HTTP_PORT}",
                        tls_key_file=KEY, tls_cert_file=KEY)
    target = SystemdTarget(settings)
    # Each path that reads a secret, proved to have read it:
    env = target.environment()  # the running process's environment
    assert env and all(v in env.values() for v in values[:3])
    assert target.read_file(KEY, 65536).startswith(b"-----BEGIN")
    assert any("connecting with password" in line.text for line in target.logs(100))
    run_checks(settings, target)  # every check, every command
    run(["docker", "exec", name, "systemctl", "stop", "qbitel"], timeout=60)
    stopped = target.environment()  # systemd's Environment= and the env file, read with cat
    assert stopped and all(v in stopped.values() for v in values[:3])
    run(["docker", "exec", name, "systemctl", "start", "qbitel"], timeout=60)
    wait_for(lambda: target.state().running, 60, what="qbitel running again")

    logged = _logged(caplog)
    caplog.clear()  # a failure must not print what it found
    assert "testinfra" in logged and "RUN CommandResult" in logged  # DEBUG logging was on
    leaked = [v[:6] + "..." for v in values if shlex.quote(v) in logged or v in logged]
    assert leaked == [], f"secret values in the DEBUG log: {leaked}"
