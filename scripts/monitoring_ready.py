"""Is the stack's monitoring ready? For scripts/stack.sh (system python3, standard library only).

    python3 scripts/monitoring_ready.py wait SECONDS   # until ready, or exit 1 saying what is not
    python3 scripts/monitoring_ready.py status         # one line per component

Ready means: Prometheus answers /-/ready and has scraped every target (the engine, the Postgres
exporter, Alertmanager over the path alerts take) successfully, and Alertmanager answers
/-/ready on 127.0.0.1. Ports come from QBITEL_PROMETHEUS_PORT and QBITEL_ALERTMANAGER_PORT.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

HTTP_TIMEOUT_S = 3.0


def urls() -> tuple[str, str]:
    return (f"http://127.0.0.1:{os.environ.get('QBITEL_PROMETHEUS_PORT') or 9090}",
            f"http://127.0.0.1:{os.environ.get('QBITEL_ALERTMANAGER_PORT') or 9093}")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (OSError, ValueError):
        return 0, b""


def _json(url: str) -> Any:
    status, body = _get(url)
    if status != 200:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def targets(prometheus: str) -> dict[str, str]:
    """job -> health ("up", "down", "unknown") of each active target; {} when unknown."""
    doc = _json(f"{prometheus}/api/v1/targets?state=active") or {}
    found = (doc.get("data") or {}).get("activeTargets") or []
    return {t.get("labels", {}).get("job", "?"): t.get("health", "unknown") for t in found}


def problems() -> list[str]:
    """What is not ready yet, one phrase each; [] when everything is."""
    prometheus, alertmanager = urls()
    found = []
    if _get(f"{prometheus}/-/ready")[0] != 200:
        found.append(f"Prometheus not ready on {prometheus}")
    else:
        health = targets(prometheus)
        if not health:
            found.append("Prometheus lists no targets yet")
        found += [f"target {job} {state}" for job, state in sorted(health.items()) if state != "up"]
    if _get(f"{alertmanager}/-/ready")[0] != 200:
        found.append(f"Alertmanager not ready on {alertmanager}")
    return found


def wait(seconds: float) -> int:
    start = time.monotonic()
    progress = False
    while True:
        left = problems()
        done = not left or time.monotonic() - start >= seconds
        if progress and done:
            print(" " * 100, end="\r", file=sys.stderr)  # clear the progress line
        if done:
            print("; ".join(left))
            return 1 if left else 0
        print(f"    waiting for monitoring: {left[0]} ({time.monotonic() - start:.0f} s)"[:100].ljust(100),
              end="\r", file=sys.stderr)
        progress = True
        time.sleep(1)


def status() -> int:
    prometheus, alertmanager = urls()
    if _get(f"{prometheus}/-/ready")[0] == 200:
        health = ", ".join(f"{job} {state}" for job, state in sorted(targets(prometheus).items()))
        print(f"prometheus    {prometheus}  ready; targets: {health or 'none'}")
    else:
        print(f"prometheus    {prometheus}  not answering")
    if _get(f"{alertmanager}/-/ready")[0] == 200:
        alerts = _json(f"{alertmanager}/api/v2/alerts?active=true&silenced=false&inhibited=false") or []
        names = sorted({a.get("labels", {}).get("alertname", "?") for a in alerts})
        print(f"alertmanager  {alertmanager}  ready; firing: {', '.join(names) or 'none'}")
    else:
        print(f"alertmanager  {alertmanager}  not answering")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["wait"] and len(argv) == 2 and argv[1].isdigit():
        return wait(float(argv[1]))
    if argv == ["status"]:
        return status()
    print("usage: monitoring_ready.py wait SECONDS | status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
