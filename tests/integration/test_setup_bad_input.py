"""The set-up scripts' bad input: one message saying what failed and what to do, nothing
half-started."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from tests.support import ROOT, run

SCRIPTS = ROOT / "scripts"


def sh(*argv: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return run(["bash", *argv], check=False, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


def one_clear_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert out.count("ERROR:") == 1, out
    assert "What to do:" in out, out
    for n in needles:
        assert n in out, out
    assert "line " not in out.split("ERROR:")[1].split("\n")[0]  # no shell trace


def test_unreachable_docker_host():
    proc = sh(str(SCRIPTS / "bootstrap.sh"), "docker", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
              timeout=60)
    one_clear_error(proc, "does not answer", "unset DOCKER_HOST")


def test_unknown_bootstrap_step():
    one_clear_error(sh(str(SCRIPTS / "bootstrap.sh"), "frobnicate"), "unknown bootstrap step")


def test_go_module_proxy_refusing_toxiproxy(tmp_path):
    env = {"SERVICEDOWN_CACHE": str(tmp_path / "cache"), "GOPROXY": "off",
           "GOMODCACHE": str(tmp_path / "gomod"), "GOFLAGS": "-mod=mod"}
    proc = sh(str(SCRIPTS / "bootstrap.sh"), "toxiproxy", env=env, timeout=300)
    one_clear_error(proc, "building toxiproxy failed", "Go module proxy")
    assert not (tmp_path / "cache" / "toxiproxy-v2.12.0").exists()  # nothing half-built kept


def test_failed_image_build(tmp_path):
    ctx = tmp_path / "broken"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM qbitel-base:bookworm\nRUN exit 3\n")
    proc = sh("-c", f'. "{SCRIPTS}/bootstrap.sh"; build_image servicedown-broken:test "{ctx}"', timeout=300)
    one_clear_error(proc, "building image servicedown-broken:test failed")
    images = run(["docker", "images", "-q", "servicedown-broken:test"], timeout=30).stdout.strip()
    assert images == ""


@pytest.mark.compose
def test_port_already_taken_leaves_the_stack_alone(stack):
    before = run(["docker", "inspect", "-f", "{{.Id}}", "qbitel-engine"], timeout=30).stdout
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        port = str(listener.getsockname()[1])
        proc = sh(str(SCRIPTS / "stack.sh"), "up", env={"QBITEL_HTTP_PORT": port})
        one_clear_error(proc, f"port {port}", "already taken")
    finally:
        listener.close()
    after = run(["docker", "inspect", "-f", "{{.Id}}", "qbitel-engine"], timeout=30).stdout
    assert before == after
