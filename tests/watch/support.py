"""`servicedown watch` as the on-call engineer runs it: the console command in its own process,
plain output, its timeline read as it grows."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from servicedown import polling
from servicedown.schema import TimelineEntry
from servicedown.watch.record import read_timeline
from tests.support import ROOT


class FlipHealth:
    """The engine's HTTP side (its healthy answers, as tests/kubernetes/cluster.py has them), or
    503 on every endpoint while `healthy` is False: what port-forward or a load balancer gives."""

    def __init__(self) -> None:
        from tests.kubernetes.cluster import _healthy_bodies

        self.healthy = True
        flip = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                body = _healthy_bodies().get(self.path.split("?")[0])
                code = 200 if body and flip.healthy else 503 if body else 404
                if body and not flip.healthy:
                    body = {"status": "unhealthy"}
                data = json.dumps(body or {"detail": "Not Found"}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class WatchRun:
    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.timeline = tmp_path / "incident-timeline.jsonl"
        self.triage = tmp_path / "triage.json"
        argv = [sys.executable, "-m", "servicedown.cli", "watch", "--plain",
                "--timeline", str(self.timeline), "--triage-json", str(self.triage), *args]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def entries(self) -> list[TimelineEntry]:
        return read_timeline(self.timeline)[0] if self.timeline.exists() else []

    def wait_for(self, pred: Callable[[list[TimelineEntry]], Any], timeout: float, what: str) -> Any:
        """Until pred(entries) holds, bounded; the output tail says what was seen instead."""
        got = polling.until(lambda: pred(self.entries()), timeout, 0.2,
                            give_up=lambda: self.proc.poll() is not None)
        if not got:
            got = pred(self.entries())  # the process may have ended right after writing it
        if not got:
            raise AssertionError(f"watch: no {what} within {timeout:.0f} s "
                                 f"(exit {self.proc.poll()}):\n{self.output[-4000:]}")
        return got

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"watch did not end within {timeout:.0f} s:\n"
                                 f"{self.output[-4000:]}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def triage_doc(self) -> dict[str, Any]:
        return json.loads(self.triage.read_text())


def first(entries: list[TimelineEntry], pred: Callable[[TimelineEntry], bool]) -> int:
    """The index of the first entry that matches, -1 when none does."""
    return next((i for i, e in enumerate(entries) if pred(e)), -1)


def in_order(entries: list[TimelineEntry], *preds: Callable[[TimelineEntry], bool]) -> list[int]:
    """Each step's line index, each one found after the one before; AssertionError otherwise."""
    out, start = [], 0
    for n, pred in enumerate(preds):
        i = first(entries[start:], pred)
        if i < 0:
            kinds = [f"{e.kind}:{e.verdict}:{e.detail[:60]}" for e in entries]
            raise AssertionError(f"step {n + 1} not found after line {start}: {kinds}")
        out.append(start + i)
        start += i + 1
    return out


def kind(k: str, verdict: str | None = None, has: str = "") -> Callable[[TimelineEntry], bool]:
    return lambda e: e.kind == k and (verdict is None or e.verdict == verdict) and has in e.detail


def calm(entries: list[TimelineEntry]) -> bool:
    """Healthy with no incident open: the last state line healthy, and any earlier failure
    closed by a recovery (a fresh host may have had a blip of its own while starting)."""
    states = [e for e in entries if e.kind == "state" and e.verdict is not None]
    if not states or states[-1].verdict != "healthy":
        return False
    last_down = max((i for i, e in enumerate(entries) if down(e)), default=-1)
    return last_down < 0 or any(e.kind == "recovery" for e in entries[last_down:])


def down(e: TimelineEntry) -> bool:
    return e.kind == "state" and e.verdict in ("down", "degraded")
