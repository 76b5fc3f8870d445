"""The post-mortem page, opened for real: generated from a real `pytest checks/` run against the
stack, rendered by headless Chromium, screenshot taken and looked at (not blank, the verdict's
colours there), with no console error and no request leaving the machine.

Chromium is driven over the DevTools protocol (websocket-client, which the project's
environment has through the kubernetes client). Screenshots land in reports/screenshots/.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servicedown.ports import free_port
from tests.report_samples import write_all
from tests.support import ROOT, run

pytestmark = [pytest.mark.compose, pytest.mark.slow]

SHOTS = ROOT / "reports" / "screenshots"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
         "--window-size=1280,2000", "--enable-logging=stderr", "--v=0")
RED, GREEN = (0xCF, 0x22, 0x2E), (0x1A, 0x7F, 0x37)  # fail and pass, as the page draws them


# --- Chromium and the DevTools protocol -------------------------------------------------------

@pytest.fixture(scope="session")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get): "
                    "apt-get install -y chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env)
        except subprocess.TimeoutExpired:
            pytest.skip(f"{' '.join(argv)} did not finish in 900 s; install chromium by hand")
        if proc.returncode != 0 and argv[1] == "install":
            pytest.skip(f"apt-get install chromium failed ({proc.stderr.strip()[-300:]}); install it by hand")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("apt-get installed no chromium binary")
    return found


class DevTools:
    """One page over the DevTools websocket: calls, and every event kept for the assertions."""

    def __init__(self, url: str) -> None:
        import websocket

        # No Origin header: Chromium refuses websocket origins it was not told to allow.
        self.ws = websocket.create_connection(url, timeout=20, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event} within {timeout:.0f}s")
            self.ws.settimeout(max(deadline - time.monotonic(), 0.1))
            self.events.append(json.loads(self.ws.recv()))
        self.ws.settimeout(20)

    def settle(self, seconds: float) -> None:
        """Collect whatever arrives for a little while (late console messages, requests)."""
        import websocket

        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.ws.settimeout(left)
            try:
                self.events.append(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                break
        self.ws.settimeout(20)

    def evaluate(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return res.get("result", {}).get("value")

    def of(self, method: str) -> list[dict[str, Any]]:
        return [e.get("params", {}) for e in self.events if e.get("method") == method]


def _get_json(url: str) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    with opener.open(url, timeout=2) as resp:
        return json.loads(resp.read())


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[DevTools]:
    port = free_port()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    log = (tmp_path / "chromium.log").open("wb")
    proc = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}",
                             f"--remote-debugging-port={port}", "about:blank"],
                            stdout=log, stderr=subprocess.STDOUT)
    page: DevTools | None = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                targets = _get_json(f"http://127.0.0.1:{port}/json/list")
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("chromium's DevTools did not answer:\n"
                                     + (tmp_path / "chromium.log").read_text(errors="replace")[-2000:])
            time.sleep(0.2)
        page = DevTools(pages[0]["webSocketDebuggerUrl"])
        yield page
    finally:
        if page is not None:
            page.ws.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


# --- PNG, read without an imaging library ---------------------------------------------------------

def png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(width, height, RGB pixels) of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), f"unexpected PNG format depth={depth} colour={colour}"
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    pixels = []
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, cur = line[0], bytearray(line[1:])
        for i in range(stride):
            a = cur[i - bpp] if i >= bpp else 0
            b = prev[i]
            if kind == 1:
                cur[i] = (cur[i] + a) & 0xFF
            elif kind == 2:
                cur[i] = (cur[i] + b) & 0xFF
            elif kind == 3:
                cur[i] = (cur[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        pixels += [tuple(cur[i:i + 3]) for i in range(0, stride, bpp)]
        prev = cur
    return width, height, pixels


def near(pixel: tuple[int, int, int], colour: tuple[int, int, int], tolerance: int = 24) -> bool:
    return all(abs(p - c) <= tolerance for p, c in zip(pixel, colour, strict=True))


# --- the reports ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_reports(stack, tmp_path_factory) -> Path:
    """A real checks run against the stack with the HTTP checks pointed at a closed port, so the
    page has failures to show; then the post-mortem written from what it left."""
    reports = tmp_path_factory.mktemp("reports")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = run([sys.executable, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider",
                "--target", "compose", "--base-url", "http://127.0.0.1:9",
                f"--triage-json={reports / 'triage.json'}", f"--html={reports / 'checks.html'}",
                "--self-contained-html", f"--junitxml={reports / 'checks.junit.xml'}"],
               timeout=180, check=False, cwd=ROOT, env=env)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]  # the HTTP checks failed
    assert json.loads((reports / "triage.json").read_text())["verdict"] == "down"
    _report(reports)
    return reports


def _report(reports: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = run([sys.executable, "-m", "servicedown.report", "--reports-dir", str(reports)], timeout=60,
               cwd=ROOT, env=env)
    assert "post-mortem written" in proc.stdout


@pytest.fixture(scope="module")
def full_reports(real_reports, tmp_path_factory) -> Path:
    """The same real checks plus chaos, load and coverage results shaped as their writers make
    them, so the page's every chart is drawn."""
    reports = tmp_path_factory.mktemp("reports-full")
    for name in ("triage.json", "checks.junit.xml"):
        shutil.copy2(real_reports / name, reports / name)
    triage_time = (reports / "triage.json").stat().st_mtime
    write_all(reports, triage_time - 130)
    _report(reports)
    return reports


def _open(browser: DevTools, page: Path) -> None:
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable")
    browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=2000, deviceScaleFactor=1,
                 mobile=False)
    browser.call("Page.navigate", url=page.as_uri())
    browser.wait_for("Page.loadEventFired", timeout=30)
    browser.settle(1.0)


def _console_errors(browser: DevTools) -> list[str]:
    errors = [str(p.get("args")) for p in browser.of("Runtime.consoleAPICalled")
              if p.get("type") in ("error", "assert")]
    errors += [str(p.get("exceptionDetails")) for p in browser.of("Runtime.exceptionThrown")]
    errors += [p["entry"].get("text", "") for p in browser.of("Log.entryAdded")
               if p.get("entry", {}).get("level") == "error"]
    return errors


def _requests(browser: DevTools) -> list[str]:
    return [p["request"]["url"] for p in browser.of("Network.requestWillBeSent")]


@pytest.mark.parametrize("which", ["real", "full"])
def test_report_renders_in_chromium(which, request, browser):
    reports: Path = request.getfixturevalue(f"{which}_reports")
    page = reports / "postmortem.html"
    _open(browser, page)

    # What the reader sees first, and the charts.
    assert browser.evaluate("document.querySelector('.banner .v').textContent") == "down"
    csp = browser.evaluate("document.querySelector('meta[http-equiv]').content")
    assert csp.startswith("default-src 'none'")
    svgs = browser.evaluate("document.querySelectorAll('svg').length")
    assert svgs >= (5 if which == "full" else 1)
    assert browser.evaluate("document.body.innerText.includes('health.endpoint')")

    # Nothing but the page itself was requested; nothing was loaded beside it.
    assert _console_errors(browser) == []
    requests = _requests(browser)
    assert requests and all(u == page.as_uri() or u.startswith("data:") for u in requests), requests
    assert browser.evaluate("performance.getEntriesByType('resource').length") == 0

    # The screenshot: saved for people, and checked to be a rendered page, not a blank one.
    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / f"postmortem-{which}.png").write_bytes(shot)
    assert len(shot) > 50_000
    small = base64.b64decode(browser.call("Page.captureScreenshot", format="png", clip={
        "x": 0, "y": 0, "width": 1280, "height": 2000, "scale": 0.25})["data"])
    width, height, pixels = png_pixels(small)
    assert (width, height) == (320, 500)
    assert len(set(pixels)) >= 50, "the screenshot is nearly uniform: the page did not render"
    assert sum(near(p, RED) for p in pixels) > 200, "no failure red (verdict banner, failed checks)"
    assert sum(near(p, GREEN) for p in pixels) > 20, "no pass green (passed checks)"

    # The page's own policy stops anything that would try to load from the network.
    browser.evaluate("document.addEventListener('securitypolicyviolation', "
                     "e => window.__blocked = e.blockedURI);"
                     "var i = new Image(); i.src = 'http://127.0.0.1:9/beacon.png'; document.body.append(i);")
    browser.settle(1.0)
    assert browser.evaluate("window.__blocked") == "http://127.0.0.1:9/beacon.png"
    # Chromium reports the attempt, then fails it for the policy before any byte is sent.
    attempts = {p["requestId"] for p in browser.of("Network.requestWillBeSent")
                if p["request"]["url"].startswith("http")}
    blocked = {p["requestId"] for p in browser.of("Network.loadingFailed") if p.get("blockedReason") == "csp"}
    answered = {p["requestId"] for p in browser.of("Network.responseReceived")}
    assert attempts and attempts <= blocked and not attempts & answered
