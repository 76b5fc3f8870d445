"""Resource facts of the service's process, gathered by one small POSIX shell script.

The script runs wherever the service runs (inside its container, or on its host through a
testinfra backend), so one exec answers CPU, memory against the service's own cgroup
limit, open files against the process's limit, and disk and inode use. Parsing is pure.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

# Arguments: PID, CPU sample seconds, then the paths whose filesystems to measure.
# cgroup v1 and v2 both; a cgroup path from /proc/PID/cgroup is shortened from the left
# until it exists, because inside a container the hierarchy is mounted at its own root.
SCRIPT = r"""
pid="$1"; sample="$2"; shift 2
cgdir() {
  base=/sys/fs/cgroup/$1; [ -d "$base" ] || base=/sys/fs/cgroup
  rel=$(awk -F: -v c="$1" '{n=split($2,a,","); for(i=1;i<=n;i++) if(a[i]==c){print $3; exit}}' /proc/$pid/cgroup 2>/dev/null)
  [ -n "$rel" ] || rel=$(awk -F: '$1=="0"{print $3; exit}' /proc/$pid/cgroup 2>/dev/null)
  while [ -n "$rel" ] && [ "$rel" != / ]; do
    [ -d "$base$rel" ] && { echo "$base$rel"; return; }
    case "$rel" in /*/*) rel="/${rel#/*/}" ;; *) rel="" ;; esac
  done
  echo "$base"
}
rd() { [ -r "$1" ] && head -c 200 "$1" | tr '\n' ' '; }
mem=$(cgdir memory); cpu=$(cgdir cpu); acct=$(cgdir cpuacct)
echo "pid_alive=$( [ -d /proc/$pid ] && echo 1 || echo 0)"
echo "nofile_soft=$(awk '/^Max open files/{print $4}' /proc/$pid/limits 2>/dev/null)"
echo "fds=$(ls /proc/$pid/fd 2>/dev/null | wc -l)"
echo "cores=$(nproc 2>/dev/null || echo 1)"
echo "mem_usage=$(rd $mem/memory.usage_in_bytes)$(rd $mem/memory.current)"
echo "mem_limit=$(rd $mem/memory.limit_in_bytes)$(rd $mem/memory.max)"
echo "mem_inactive_file=$(awk '$1=="total_inactive_file"||$1=="inactive_file"{print $2; exit}' $mem/memory.stat 2>/dev/null)"
echo "mem_failcnt=$(rd $mem/memory.failcnt)"
echo "cpu_quota=$(rd $cpu/cpu.cfs_quota_us)$(rd $cpu/cpu.max)"
echo "cpu_period=$(rd $cpu/cpu.cfs_period_us)"
u() { if [ -r $acct/cpuacct.usage ]; then cat $acct/cpuacct.usage; else awk '$1=="usage_usec"{print $2*1000}' $cpu/cpu.stat 2>/dev/null; fi; }
th() { awk '$1=="nr_periods"{p=$2} $1=="nr_throttled"{t=$2} END{print p+0, t+0}' $cpu/cpu.stat 2>/dev/null; }
t0=$(date +%s%N); c0=$(u); h0=$(th); sleep "$sample"; t1=$(date +%s%N); c1=$(u); h1=$(th)
echo "cpu_used_ns=$((c1 - c0))"
echo "cpu_wall_ns=$((t1 - t0))"
echo "cpu_throttle=$h0 $h1"
for p in "$@"; do
  [ -e "$p" ] || { echo "disk=$p missing"; continue; }
  df -Pk -- "$p" 2>/dev/null | awk -v p="$p" 'NR==2{print "disk=" p " " $2 " " $3 " " $4 " " $6}'
  df -Pi -- "$p" 2>/dev/null | awk -v p="$p" 'NR==2{print "inodes=" p " " $2 " " $3 " " $4}'
done
"""

UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a huge page-rounded number


def command(pid: str | int, sample_s: float, paths: list[str]) -> list[str]:
    """argv that runs the facts script through `sh -c`."""
    return ["sh", "-c", SCRIPT, "facts", str(pid), f"{sample_s:g}", *paths]


def shell_line(pid: str | int, sample_s: float, paths: list[str]) -> str:
    return shlex.join(command(pid, sample_s, paths))


@dataclass
class Disk:
    path: str
    total_kb: int
    used_kb: int
    avail_kb: int
    mount: str
    inodes_total: int = 0
    inodes_used: int = 0

    @property
    def used_ratio(self) -> float:
        # df's own "Use%": used / (used + available), the root-reserved blocks excluded.
        denom = self.used_kb + self.avail_kb
        return self.used_kb / denom if denom else 0.0

    @property
    def inode_ratio(self) -> float:
        return self.inodes_used / self.inodes_total if self.inodes_total else 0.0


@dataclass
class Facts:
    pid_alive: bool
    fds: int | None
    nofile_soft: int | None
    cores: int
    mem_usage: int | None
    mem_limit: int | None  # None = unlimited
    mem_working_set: int | None
    mem_failcnt: int | None
    cpu_limit_cores: float | None  # None = no quota
    cpu_used_cores: float | None
    disks: list[Disk]
    missing_paths: list[str]
    # Of the quota's scheduling periods in the sample, the share in which the quota ran out
    # (cpu.stat nr_throttled / nr_periods): CPU at 100 % of its quota, however short the sample.
    cpu_throttled: float | None = None
    cpu_periods: int | None = None

    @property
    def cpu_capacity(self) -> float:
        return self.cpu_limit_cores or float(self.cores)

    @property
    def cpu_ratio(self) -> float | None:
        if self.cpu_used_cores is None:
            return None
        return self.cpu_used_cores / self.cpu_capacity

    @property
    def mem_ratio(self) -> float | None:
        if self.mem_working_set is None or not self.mem_limit:
            return None
        return self.mem_working_set / self.mem_limit

    @property
    def fd_ratio(self) -> float | None:
        if self.fds is None or not self.nofile_soft:
            return None
        return self.fds / self.nofile_soft


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return None


def parse(output: str) -> Facts:
    """Parse the script's `key=value` lines. Unknown or garbled lines are ignored."""
    kv: dict[str, str] = {}
    disks: dict[str, Disk] = {}
    missing: list[str] = []
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "disk":
            parts = value.split()
            if len(parts) == 2 and parts[1] == "missing":
                missing.append(parts[0])
            elif len(parts) >= 5 and all(p.isdigit() for p in parts[1:4]):
                disks[parts[0]] = Disk(parts[0], int(parts[1]), int(parts[2]), int(parts[3]), parts[4])
        elif key == "inodes":
            parts = value.split()
            if len(parts) >= 4 and parts[0] in disks and all(p.isdigit() for p in parts[1:4]):
                disks[parts[0]].inodes_total = int(parts[1])
                disks[parts[0]].inodes_used = int(parts[2])
        else:
            kv[key] = value.strip()

    limit = _int(kv.get("mem_limit", "").split()[0] if kv.get("mem_limit") else None)
    if limit is not None and limit >= UNLIMITED:
        limit = None
    usage = _int(kv.get("mem_usage"))
    inactive = _int(kv.get("mem_inactive_file")) or 0
    working_set = max(usage - inactive, 0) if usage is not None else None

    quota_field = kv.get("cpu_quota", "").split()
    period = _int(kv.get("cpu_period"))
    cpu_limit: float | None = None
    if len(quota_field) == 2:  # cgroup v2 "cpu.max": "<quota|max> <period>"
        if quota_field[0] != "max":
            q, p = _int(quota_field[0]), _int(quota_field[1])
            cpu_limit = q / p if q and p else None
    elif len(quota_field) == 1:
        q = _int(quota_field[0])
        if q is not None and q > 0 and period:
            cpu_limit = q / period

    used_ns, wall_ns = _int(kv.get("cpu_used_ns")), _int(kv.get("cpu_wall_ns"))
    cpu_used = used_ns / wall_ns if used_ns is not None and wall_ns and used_ns >= 0 else None
    throttle = [_int(x) for x in kv.get("cpu_throttle", "").split()]
    periods = throttled = None
    if len(throttle) == 4 and None not in throttle:
        p0, n0, p1, n1 = throttle
        periods, throttled = p1 - p0, n1 - n0

    return Facts(
        pid_alive=kv.get("pid_alive") == "1",
        fds=_int(kv.get("fds")),
        nofile_soft=None if kv.get("nofile_soft") == "unlimited" else _int(kv.get("nofile_soft")),
        cores=_int(kv.get("cores")) or 1,
        mem_usage=usage,
        mem_limit=limit,
        mem_working_set=working_set,
        mem_failcnt=_int(kv.get("mem_failcnt")),
        cpu_limit_cores=cpu_limit,
        cpu_used_cores=cpu_used,
        cpu_throttled=throttled / periods if periods and throttled is not None and throttled >= 0 else None,
        cpu_periods=periods,
        disks=list(disks.values()),
        missing_paths=missing,
    )
