"""What the HighCPUUsage, HighMemoryUsage and DiskSpaceLow rules need, read at scrape time.

The real engine's rules read node_exporter's machine-wide figures. The limits that actually stop
this engine are its own: the CPU quota and memory limit of its cgroup (its container's; outside a
container, the machine's) and the space of its data directory. So it exports those, in the same
shape as node_exporter's (a CPU-seconds counter, a limit, size and available bytes), and the rules
keep the real thresholds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .memory import read_memory_usage


@dataclass(frozen=True)
class CpuUsage:
    used_seconds: float
    limit_cores: float
    source: str


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _machine_cores() -> float:
    # Affinity, not cpu_count: a cpuset limits the cores the engine can use.
    return float(len(os.sched_getaffinity(0)))


def _quota_cores(quota: int, period: int) -> float | None:
    return quota / period if quota > 0 and period > 0 else None


def _cgroup_v2(cg: Path) -> CpuUsage | None:
    stat = _read(cg / "cpu.stat")
    if stat is None:
        return None
    usage = next((int(v) for k, _, v in (line.partition(" ") for line in stat.splitlines())
                  if k == "usage_usec"), None)
    if usage is None:
        return None
    limit = None
    quota, _, period = (_read(cg / "cpu.max") or "max").partition(" ")
    if quota.isdigit() and period.isdigit():
        limit = _quota_cores(int(quota), int(period))
    return CpuUsage(usage / 1e6, limit or _machine_cores(), "cgroup v2")


def _cgroup_v1(cg: Path) -> CpuUsage | None:
    usage = _read(cg / "cpuacct/cpuacct.usage")
    if usage is None or not usage.isdigit():
        return None
    quota, period = _read(cg / "cpu/cpu.cfs_quota_us"), _read(cg / "cpu/cpu.cfs_period_us")
    limit = None
    if quota and period and quota.lstrip("-").isdigit() and period.isdigit():
        limit = _quota_cores(int(quota), int(period))  # -1: no quota
    return CpuUsage(int(usage) / 1e9, limit or _machine_cores(), "cgroup v1")


def read_cpu_usage(root: Path = Path("/")) -> CpuUsage:
    """CPU time of the engine's cgroup and its quota in cores (the machine's cores without one)."""
    cg = root / "sys/fs/cgroup"
    found = _cgroup_v2(cg) or _cgroup_v1(cg)
    if found is not None:
        return found
    # No cgroup files: the process's own time is the best that is left.
    times = os.times()
    return CpuUsage(times.user + times.system, _machine_cores(), "process")


class ResourceCollector(Collector):
    def __init__(self, data_dir: Path, root: Path = Path("/")) -> None:
        self.data_dir = data_dir
        self.root = root

    def collect(self) -> Iterator[Metric]:
        cpu = read_cpu_usage(self.root)
        yield CounterMetricFamily("qbitel_cpu_usage_seconds",
                                  f"CPU time used by the engine's cgroup ({cpu.source})",
                                  value=cpu.used_seconds)
        yield GaugeMetricFamily("qbitel_cpu_limit_cores",
                                "CPU the engine may use, in cores (its quota, else the machine's cores)",
                                value=cpu.limit_cores)
        memory = read_memory_usage(self.root)
        if memory is not None:
            yield GaugeMetricFamily("qbitel_memory_working_set_bytes",
                                    f"Memory in use without reclaimable page cache ({memory.source})",
                                    value=memory.used_bytes)
            yield GaugeMetricFamily("qbitel_memory_limit_bytes",
                                    f"Memory limit that can OOM-kill the engine ({memory.source})",
                                    value=memory.limit_bytes)
        try:
            st = os.statvfs(self.data_dir)
        except OSError:
            return  # no data dir yet: no figure rather than a false one
        yield GaugeMetricFamily("qbitel_data_dir_size_bytes", "Size of the data directory's filesystem",
                                value=st.f_blocks * st.f_frsize)
        yield GaugeMetricFamily("qbitel_data_dir_avail_bytes",
                                "Space of the data directory's filesystem the engine can still write",
                                value=st.f_bavail * st.f_frsize)
