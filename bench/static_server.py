"""A server that is never the bottleneck: nginx from Debian answering a fixed JSON body.

Load generators measured against it measure themselves. nginx is used from PATH when it is
installed; otherwise Debian's package is fetched once (`apt-get download`) and unpacked into
the cache, so nothing is installed system-wide and no nginx service is started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.common import BenchFailed
from servicedown.ports import free_port

BODY = '{"status": "alive"}'
CACHE = Path(os.environ.get("SERVICEDOWN_CACHE") or Path.home() / ".cache" / "servicedown")

CONF = """worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 200 '{body}'; }}
  }}
}}
"""


def _bounded(argv: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchFailed(f"'{' '.join(argv)}' did not end within {timeout:g} s") from None


def nginx_binary() -> str:
    if path := shutil.which("nginx"):
        return path
    unpacked = CACHE / "nginx" / "usr" / "sbin" / "nginx"
    if unpacked.exists():
        return str(unpacked)
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        got = _bounded(["apt-get", "download", "nginx"], Path(tmp))
        debs = list(Path(tmp).glob("nginx_*.deb"))
        if got.returncode != 0 or not debs:
            raise BenchFailed("nginx is needed as a static server and 'apt-get download nginx' "
                              f"failed: {got.stderr.strip()[-300:]}; install nginx, or run "
                              "'apt-get update' first")
        target = CACHE / "nginx.tmp"
        shutil.rmtree(target, ignore_errors=True)
        x = _bounded(["dpkg", "-x", str(debs[0]), str(target)], Path(tmp))
        if x.returncode != 0:
            raise BenchFailed(f"unpacking Debian's nginx failed: {x.stderr.strip()[-300:]}")
        shutil.rmtree(CACHE / "nginx", ignore_errors=True)
        target.rename(CACHE / "nginx")
    return str(unpacked)


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def static_server() -> Iterator[str]:
    """-> base URL of an nginx answering BODY on every path, stopped when the block ends."""
    binary = nginx_binary()
    with tempfile.TemporaryDirectory(prefix="bench-static-") as tmp:
        port = free_port()
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(CONF.format(dir=tmp, port=port, body=BODY))
        proc = subprocess.Popen([binary, "-p", tmp, "-c", str(conf), "-e", f"{tmp}/error.log"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while not _answers(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise BenchFailed(f"nginx did not start: {err.strip()[-300:] or 'no answer in 10 s'}")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
