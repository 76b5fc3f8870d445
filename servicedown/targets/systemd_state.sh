# systemd_state.sh: one shell round trip answers SystemdTarget.state(): the unit's properties,
# the journal's systemd lines about the unit, the unit's memory cgroup counters, the cgroup
# prefix of PID 1 (a container's systemd sits below /docker/<id>) and the kernel's OOM kill lines.
# Arguments: unit, unit id (with .service), event window in seconds, systemctl show properties.
unit="$1"; uid="$2"; window="$3"; props="$4"
t() { if command -v timeout >/dev/null 2>&1; then timeout -k 1 "$@"; else shift; "$@"; fi; }
echo "@@show"; TZ=UTC LC_ALL=C t 5 systemctl show -p "$props" -- "$unit" 2>&1
now=$(date +%s); read -r up _ </proc/uptime
echo "@@clock"; echo "$now $up"
echo "@@journal"
t 5 journalctl --no-pager -q -o short-unix --since "@$((now - window))" -n 300 \
  UNIT="$uid" _PID=1 2>&1
echo "@@cgroup"
cg=$(t 5 systemctl show -p ControlGroup --value -- "$unit" 2>/dev/null)
if [ -z "$cg" ]; then  # between runs: on v1 the unit's memcg (and its counters) may remain
  root=$(sed -n 's/^[0-9]*:name=systemd://p; s/^0:://p' /proc/1/cgroup | head -n 1)
  sl=$(t 5 systemctl show -p Slice --value -- "$unit" 2>/dev/null)
  case "$sl" in *-*|"") ;; *) cg="${root%/init.scope}/$sl/$uid" ;; esac
fi
if [ -n "$cg" ]; then
  for f in /sys/fs/cgroup/memory$cg/memory.failcnt /sys/fs/cgroup/memory$cg/memory.oom_control \
           /sys/fs/cgroup$cg/memory.events; do
    [ -r "$f" ] && sed "s|^|$(basename "$f") |" "$f"
  done
fi
echo "@@pid1"; grep -E '^(0::|[0-9]+:name=systemd:)' /proc/1/cgroup 2>/dev/null
echo "@@kernel"
if out=$(t 5 dmesg 2>&1); then
  printf '%s\n' "$out" | grep -F 'oom-kill:' | tail -n 50
else
  echo "!$(printf '%s' "$out" | head -n 1)"
  t 5 journalctl -k --no-pager -q -o short-unix --since "@$((now - window))" 2>/dev/null \
    | grep -F 'oom-kill:' | tail -n 50
fi
