"""The engine's resource gauges (the inputs of HighCPUUsage, HighMemoryUsage, DiskSpaceLow)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from qbitel_ref.metrics import EngineMetrics
from qbitel_ref.resource_metrics import ResourceCollector, read_cpu_usage

CORES = float(len(os.sched_getaffinity(0)))


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _samples(registry: CollectorRegistry) -> dict[str, float]:
    return {s.name: s.value for metric in registry.collect() for s in metric.samples}


def test_cpu_cgroup_v1_with_quota(tmp_path: Path) -> None:
    _write(tmp_path, "sys/fs/cgroup/cpuacct/cpuacct.usage", "2500000000\n")
    _write(tmp_path, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "50000\n")
    _write(tmp_path, "sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n")
    cpu = read_cpu_usage(tmp_path)
    assert (cpu.used_seconds, cpu.limit_cores, cpu.source) == (2.5, 0.5, "cgroup v1")


def test_cpu_cgroup_v1_without_quota_is_the_machine(tmp_path: Path) -> None:
    _write(tmp_path, "sys/fs/cgroup/cpuacct/cpuacct.usage", "1000000000")
    _write(tmp_path, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1")
    _write(tmp_path, "sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000")
    assert read_cpu_usage(tmp_path).limit_cores == CORES


@pytest.mark.parametrize(("cpu_max", "limit"), [("200000 100000\n", 2.0), ("max 100000\n", CORES)])
def test_cpu_cgroup_v2(tmp_path: Path, cpu_max: str, limit: float) -> None:
    _write(tmp_path, "sys/fs/cgroup/cpu.stat", "usage_usec 1500000\nuser_usec 1000000\n")
    _write(tmp_path, "sys/fs/cgroup/cpu.max", cpu_max)
    cpu = read_cpu_usage(tmp_path)
    assert (cpu.used_seconds, cpu.limit_cores, cpu.source) == (1.5, limit, "cgroup v2")


def test_cpu_without_cgroup_falls_back_to_the_process(tmp_path: Path) -> None:
    cpu = read_cpu_usage(tmp_path)
    assert cpu.source == "process" and cpu.used_seconds > 0 and cpu.limit_cores == CORES


def test_collector_exports_every_rule_input(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _write(root, "proc/meminfo", "MemTotal: 8000000 kB\nMemAvailable: 6000000 kB\n")
    _write(root, "sys/fs/cgroup/memory/memory.limit_in_bytes", "1000000")
    _write(root, "sys/fs/cgroup/memory/memory.usage_in_bytes", "900000")
    _write(root, "sys/fs/cgroup/memory/memory.stat", "total_inactive_file 0\n")
    _write(root, "sys/fs/cgroup/cpuacct/cpuacct.usage", "3000000000")
    registry = CollectorRegistry()
    registry.register(ResourceCollector(tmp_path, root))
    values = _samples(registry)
    st = os.statvfs(tmp_path)
    assert values["qbitel_cpu_usage_seconds_total"] == 3.0
    assert values["qbitel_cpu_limit_cores"] == CORES
    assert values["qbitel_memory_working_set_bytes"] == 900000
    assert values["qbitel_memory_limit_bytes"] == 1000000
    assert values["qbitel_data_dir_size_bytes"] == st.f_blocks * st.f_frsize
    assert 0 < values["qbitel_data_dir_avail_bytes"] <= values["qbitel_data_dir_size_bytes"]


def test_missing_data_dir_gives_no_disk_figure(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    registry.register(ResourceCollector(tmp_path / "absent"))
    values = _samples(registry)
    assert "qbitel_data_dir_size_bytes" not in values
    assert "qbitel_cpu_usage_seconds_total" in values


def test_engine_metrics_include_resources_only_with_a_data_dir(tmp_path: Path) -> None:
    assert b"qbitel_memory_limit_bytes" in EngineMetrics(tmp_path).render()
    assert b"qbitel_memory_limit_bytes" not in EngineMetrics().render()
