"""Bad input ends in one clear message that says what to do, never a traceback."""

from __future__ import annotations

import http.server
import re
import socket
import threading

import pytest

from tests.support import pytest_checks, run

pytestmark = pytest.mark.compose


# A traceback of our own starts a line; quoted log lines are indented and numbered.
_OWN_TRACEBACK = re.compile(r'^(Traceback \(most recent call last\)|\s*File ".*\.py", line \d+)',
                            re.MULTILINE)


def no_traceback(out: str) -> None:
    assert not _OWN_TRACEBACK.search(out), out[-3000:]


def test_invalid_url_is_a_usage_error(tmp_path):
    rc, _doc, out = pytest_checks(tmp_path, "--base-url", "htp:/nowhere")
    assert rc == 4
    assert "is not an http(s) URL" in out
    no_traceback(out)


def test_unknown_target_kind(tmp_path):
    rc, _doc, out = pytest_checks(tmp_path, "--target", "mainframe")
    assert rc == 4
    assert "unknown target 'mainframe'" in out
    no_traceback(out)


def test_docker_socket_unreachable(tmp_path):
    rc, doc, out = pytest_checks(tmp_path, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert rc == 1
    assert "cannot reach the Docker engine" in out
    states = {c["id"]: c for c in doc["checks"]}
    assert states["running.state"]["outcome"] == "error"
    no_traceback(out)


def test_unknown_project_and_service(stack, tmp_path):
    rc, doc, out = pytest_checks(tmp_path, "--compose-project", "no-such-project")
    assert rc == 1
    assert "has no containers" in out
    rc, doc, out = pytest_checks(tmp_path, "--service", "no-such-service")
    assert "no container for service 'no-such-service'" in out
    assert "qbitel-engine" in out  # the message lists the services that do exist
    no_traceback(out)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b"OK but not json"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_non_json_health_body(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        rc, doc, out = pytest_checks(tmp_path, "--target", "url", "--base-url", url)
        health = {c["id"]: c for c in doc["checks"]}["health.endpoint"]
        assert health["outcome"] == "fail"
        assert "not JSON" in health["message"]
        no_traceback(out)
    finally:
        server.shutdown()


def test_black_holed_http_is_bounded(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # accepts (the kernel completes the handshake) and never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        rc, doc, out = pytest_checks(tmp_path, "--target", "url", "--base-url", url,
                                     "--http-timeout-s", "2", timeout=60)
        health = {c["id"]: c for c in doc["checks"]}["health.endpoint"]
        assert health["outcome"] == "fail"
        assert "timed out" in health["message"]
        assert doc["verdict"] == "down"
        no_traceback(out)
    finally:
        listener.close()


def test_garbage_in_logs(stack, tmp_path):
    """Binary garbage, NULs, escapes and a 1 MB line in a service's logs."""
    script = ("import sys,os; w=sys.stdout.buffer.write; "
              "w(bytes(range(256))*4+b'\\n'); "
              "w(b'\\x00\\x1b[31mTraceback (most recent call last)\\n'); "
              "w(b'OSError: [Errno 28] No space left on device '+b'A'*1048576+b'\\n'); "
              "w(os.urandom(4096)+b'\\n'); "
              "sys.stdout.flush(); import time; time.sleep(300)")
    name = "servicedown-garbage-test"
    run(["docker", "rm", "-f", name], check=False, timeout=30)
    run(["docker", "run", "-d", "--name", name,
         "--label", "com.docker.compose.project=servicedown-garbage",
         "--label", "com.docker.compose.service=qbitel-engine",
         "qbitel-engine:local", "python3", "-c", script], timeout=60)
    try:
        rc, doc, out = pytest_checks(tmp_path, "--compose-project", "servicedown-garbage",
                                     "--base-url", "http://127.0.0.1:9")
        checks = {c["id"]: c for c in doc["checks"]}
        assert checks["logs.stack_trace"]["outcome"] == "fail"
        assert checks["logs.disk_full"]["outcome"] == "fail"
        assert len(checks["logs.disk_full"]["message"]) < 5000  # the 1 MB line is cut
        no_traceback(out)
    finally:
        run(["docker", "rm", "-f", name], check=False, timeout=30)
