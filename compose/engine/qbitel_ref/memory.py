"""Memory use against the limit that can actually kill the engine.

Inside a container that is the cgroup limit (v2 `memory.max`, v1
`memory.limit_in_bytes`); without one it is the machine's memory. Page cache
that the kernel can drop (inactive_file) is not counted, as the kubelet does:
the journal's fsyncs fill the cache, and that alone must not fail liveness.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

UNLIMITED_FLOOR = 1 << 60  # cgroup v1 reports "no limit" as a value near 2**63


@dataclass(frozen=True)
class MemoryUsage:
    used_bytes: int
    limit_bytes: int
    source: str

    @property
    def percent(self) -> float:
        if self.limit_bytes <= 0:
            return 0.0
        return round(100.0 * self.used_bytes / self.limit_bytes, 2)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        return int(text)
    except ValueError:
        return None  # "max": no limit


def _stat_value(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _meminfo(root: Path) -> MemoryUsage | None:
    values: dict[str, int] = {}
    try:
        for line in (root / "proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                values[name] = int(parts[0]) * 1024
    except (OSError, ValueError):
        return None
    total = values.get("MemTotal")
    if not total:
        return None
    available = values.get("MemAvailable", values.get("MemFree", 0))
    return MemoryUsage(used_bytes=total - available, limit_bytes=total, source="meminfo")


def _cgroup(root: Path, machine_total: int | None) -> MemoryUsage | None:
    cg = root / "sys/fs/cgroup"
    candidates = (
        (
            "cgroup v2",
            cg / "memory.max",
            cg / "memory.current",
            cg / "memory.stat",
            "inactive_file",
        ),
        (
            "cgroup v1",
            cg / "memory/memory.limit_in_bytes",
            cg / "memory/memory.usage_in_bytes",
            cg / "memory/memory.stat",
            "total_inactive_file",
        ),
    )
    for source, limit_file, usage_file, stat_file, inactive_key in candidates:
        limit = _read_int(limit_file)
        usage = _read_int(usage_file)
        if limit is None or usage is None or limit <= 0 or limit >= UNLIMITED_FLOOR:
            continue
        if machine_total is not None and limit >= machine_total:
            continue  # a limit above the machine's memory never binds
        working_set = max(0, usage - _stat_value(stat_file, inactive_key))
        return MemoryUsage(used_bytes=working_set, limit_bytes=limit, source=source)
    return None


def read_memory_usage(root: Path = Path("/")) -> MemoryUsage | None:
    machine = _meminfo(root)
    limited = _cgroup(root, machine.limit_bytes if machine else None)
    return limited or machine
