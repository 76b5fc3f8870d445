"""OOM kills from the kernel's own log, the one sign that survives a restart by policy.

Docker forgets `OOMKilled` at the next start and its event buffer is short on a busy
daemon; the kernel's line names the victim's memory cgroup (which holds the container id).
Read only where the checker runs on the Docker host itself.
"""

from __future__ import annotations

import re
import subprocess
import time

_OOM = re.compile(r"^\[\s*(\d+(?:\.\d+)?)\]\s+oom-kill:.*\b(?:task_memcg|oom_memcg)=(\S+)")


def parse(text: str, needle: str, boot_epoch: float) -> list[float]:
    """Epoch times of the OOM kills whose memory cgroup path contains `needle`."""
    times = []
    for line in text.splitlines():
        m = _OOM.match(line)
        if m and needle in line:
            times.append(boot_epoch + float(m.group(1)))
    return times


def oom_kills(needle: str, since_epoch: float, timeout_s: float = 3.0) -> list[float] | None:
    """OOM kill times (epoch) for cgroups matching `needle` since `since_epoch`; None when the
    kernel log cannot be read here (not root, no dmesg, restricted)."""
    try:
        proc = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=timeout_s,
                              errors="replace")
        with open("/proc/uptime") as fh:
            boot = time.time() - float(fh.read().split()[0])
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    if proc.returncode != 0:
        return None
    return [t for t in parse(proc.stdout, needle, boot) if t >= since_epoch]
