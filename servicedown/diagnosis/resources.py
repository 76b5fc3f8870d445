"""Runbook Common Cause 2, "Resource Exhaustion", and Resolution's df -h / free -h.

Measured against the service's own limits (its cgroup, its process's open-files limit),
not only the host's, because a container is OOM-killed at its own limit.
"""

from __future__ import annotations

from servicedown.diagnosis.context import Context
from servicedown.diagnosis.registry import Finding, bad, check, not_applicable, ok, skip
from servicedown.probes.hostfacts import Facts


def _facts(ctx: Context) -> Facts | Finding:
    facts = ctx.host_facts()
    if facts is None:
        return not_applicable("the service is not running: there is no process to measure")
    if not facts.pid_alive:
        return not_applicable(f"the service's process (pid {ctx.target.service_pid()}) is gone")
    return facts


def _mib(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**20:.0f} MiB"


THROTTLED = 0.5  # of the quota's periods in the sample that ran out of CPU: saturated


@check("resources.cpu", "cpu", "CPU below saturation of the service's quota")
def cpu(ctx: Context) -> Finding:
    f = _facts(ctx)
    if isinstance(f, Finding):
        return f
    if f.cpu_ratio is None:
        return skip("CPU usage could not be sampled (no cpuacct/cpu.stat)")
    limit = f"{f.cpu_limit_cores:g} CPU quota" if f.cpu_limit_cores else f"{f.cores} host cores"
    ev = {"cpu_used_cores": round(f.cpu_used_cores or 0, 3), "capacity_cores": f.cpu_capacity,
          "sample_s": ctx.settings.cpu_sample_s}
    msg = f"CPU {f.cpu_ratio:.0%} of {limit} over {ctx.settings.cpu_sample_s:g}s"
    if f.cpu_throttled is not None:
        ev["throttled_periods"] = f"{f.cpu_throttled:.0%} of {f.cpu_periods}"
        msg += f", its quota ran out in {f.cpu_throttled:.0%} of {f.cpu_periods} scheduling periods"
    if f.cpu_ratio >= ctx.settings.cpu_threshold:
        return bad(msg + " (CPU at 100%: saturated)", **ev)
    if f.cpu_throttled is not None and f.cpu_throttled >= THROTTLED and (f.cpu_periods or 0) >= 3:
        # A short sample can fall between bursts; the quota running out period after period is
        # saturation whatever the average says.
        return bad(msg + " (CPU at 100% of its quota: throttled)", **ev)
    return ok(msg, **ev)


@check("resources.memory", "oom,step:memory", "memory below the service's own limit", "free -h")
def memory(ctx: Context) -> Finding:
    f = _facts(ctx)
    if isinstance(f, Finding):
        return f
    ev = {"working_set": f.mem_working_set, "limit": f.mem_limit, "usage": f.mem_usage,
          "failcnt": f.mem_failcnt}
    if f.mem_ratio is None:
        return ok(f"memory {_mib(f.mem_working_set)} with no memory limit set", **ev)
    msg = (f"memory {_mib(f.mem_working_set)} of its {_mib(f.mem_limit)} limit "
           f"({f.mem_ratio:.0%})")
    if f.mem_ratio >= ctx.settings.memory_threshold:
        return bad(msg + ": close to the OOM killer", **ev)
    return ok(msg, **ev)


@check("resources.disk", "disk-full,step:disk-space", "disk and inodes below full on data and root", "df -h")
def disk(ctx: Context) -> Finding:
    f = _facts(ctx)
    if isinstance(f, Finding):
        return f
    if not f.disks:
        return skip("df gave no answer where the service runs")
    limit = ctx.settings.disk_threshold
    problems, lines = [], []
    for d in f.disks:
        line = (f"{d.path} (on {d.mount}): {d.used_ratio:.0%} used, {d.avail_kb // 1024} MiB free, "
                f"inodes {d.inode_ratio:.0%}")
        lines.append(line)
        if d.used_ratio >= limit or d.avail_kb < 1024:
            problems.append(f"{d.path} is full: {line}")
        elif d.inode_ratio >= limit:
            problems.append(f"{d.path} is out of inodes: {line}")
    ev = {"filesystems": lines, "missing": f.missing_paths}
    if problems:
        return bad("; ".join(problems), **ev)
    return ok("; ".join(lines), **ev)


@check("resources.fds", "fd-limit", "open files below the process's limit")
def fds(ctx: Context) -> Finding:
    f = _facts(ctx)
    if isinstance(f, Finding):
        return f
    if f.fd_ratio is None:
        return skip("open files or their limit could not be read")
    msg = f"{f.fds} open files of a {f.nofile_soft} limit ({f.fd_ratio:.0%})"
    ev = {"open_fds": f.fds, "nofile_soft": f.nofile_soft}
    if f.fd_ratio >= ctx.settings.fd_threshold:
        return bad(msg + ": file descriptor limit reached", **ev)
    return ok(msg, **ev)
