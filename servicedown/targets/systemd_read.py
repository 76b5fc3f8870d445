"""What a systemd host's answers mean: the state script's output read as the unit's state,
its journal lines as events and exits, its environment files as variables. Pure functions over
text, so a recorded answer reads exactly as a live one.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from servicedown import states
from servicedown.redact import clip
from servicedown.states import Exit
from servicedown.targets.base import CURRENT, EARLIER, UNKNOWN, LogLine, ServiceState

STATE_SCRIPT = (Path(__file__).with_name("systemd_state.sh")).read_text()
SHOW_PROPS = (
    "Id", "LoadState", "LoadError", "ActiveState", "SubState", "NRestarts", "Result",
    "ExecMainStatus", "ExecMainCode", "MainPID", "UnitFileState", "ActiveEnterTimestamp",
    "ControlGroup", "Slice", "FragmentPath",
)
# siginfo codes systemd reports as ExecMainCode: exited, killed, dumped core.
CLD_EXITED, CLD_KILLED, CLD_DUMPED = 1, 2, 3
SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
           "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15}
# A kernel OOM kill and systemd's "Main process exited" line are milliseconds apart (80 ms
# seen); the slack absorbs converting the kernel's seconds-since-boot to wall time. Wider
# would blame a `kill -9` seconds after an OOM on memory.
OOM_MATCH_BEFORE_S, OOM_MATCH_AFTER_S = 3.0, 1.0
EVENT_WORDS = ("Main process exited", "Failed with result", "Scheduled restart job",
               "OOM killer", "Start request repeated", "Failed to ", "Killing process",
               "Stopping", "Stopped", "Deactivated successfully", "Started")
STOP_TO_EXIT_S = 120.0  # systemd's default TimeoutStopSec is 90 s
EXIT_RE = re.compile(r"Main process exited, code=(\w+), status=(\d+)(?:/(\w+))?")
OOM_RE = re.compile(
    r"oom-kill:.*?task_memcg=(?P<memcg>[^,\s]+).*?task=(?P<task>[^,\s]+),pid=(?P<pid>\d+)")
DMESG_TS_RE = re.compile(r"^\[\s*(\d+\.\d+)\]")


def unit_id(unit: str) -> str:
    """`qbitel` is `qbitel.service` to systemctl; journal fields need the full name."""
    return unit if re.search(r"\.[a-z]+$", unit) else unit + ".service"


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("@@"):
            current = line[2:].strip()
            out[current] = []
        elif current:
            out[current].append(line)
    return out


def props(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            out[key] = value
    return out


def to_int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def _parse_ts(text: str | None) -> datetime | None:
    """systemctl's 'Sun 2026-11-29 14:00:10 UTC' (asked with TZ=UTC)."""
    m = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", text or "")
    return datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC) if m else None


def _journal_entry(line: str) -> tuple[float, str] | None:
    """'1795960809.172366 host systemd[1]: qbitel.service: Main process exited...'."""
    stamp, _, rest = line.partition(" ")
    try:
        when = float(stamp)
    except ValueError:
        return None
    _, _, message = rest.partition(": ")
    return when, message


def _slice_path(slice_name: str) -> str:
    """a-b.slice lives at /a.slice/a-b.slice; -.slice is the root."""
    if not slice_name or slice_name == "-.slice":
        return ""
    parts = slice_name.removesuffix(".slice").split("-")
    return "".join("/" + "-".join(parts[: i + 1]) + ".slice" for i in range(len(parts)))


def _clock_line(line: str) -> tuple[float, float] | None:
    parts = line.split()
    if len(parts) == 2:
        try:
            return float(parts[0]), float(parts[1])
        except ValueError:
            return None
    return None


def _enabled(unit_file_state: str) -> bool | None:
    """Starts at boot? static/generated units start when something pulls them in."""
    if not unit_file_state:
        return None
    return unit_file_state.startswith("enabled") or unit_file_state in (
        "static", "alias", "generated")


def _hhmmss(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")



@dataclass
class UnitAnswer:
    """The state script's output split into its parts."""

    props: dict[str, str]
    clock: tuple[float, float] | None  # (host epoch, host uptime), when the host said
    journal: list[str]
    kernel: list[str]
    cgroup: list[str]
    pid1: list[str]
    raw_show: list[str]

    @classmethod
    def parse(cls, text: str) -> UnitAnswer:
        sec = _sections(text)
        return cls(props(sec.get("show", [])), _clock_line((sec.get("clock") or [""])[0]),
                   sec.get("journal", []), sec.get("kernel", []), sec.get("cgroup", []),
                   sec.get("pid1", []), sec.get("show", []))

    @property
    def loaded(self) -> bool:
        return "LoadState" in self.props

    @property
    def exists(self) -> bool:
        return self.props.get("LoadState") != "not-found"


def unit_state(a: UnitAnswer, unit_id: str, window_s: int, now: float) -> ServiceState:
    """The unit's state, from a state-script answer of a unit that exists; `now` is this side's
    clock, used when the host did not tell its own."""
    p = a.props
    now = a.clock[0] if a.clock else now
    events, exits, journal_ooms = journal_events(a.journal, unit_id)
    kernel_ooms, kernel_note = kernel_oom_kills(a.kernel, a.clock, p, a.pid1, unit_id, window_s)
    counters = cgroup_counters(a.cgroup)
    for when, task, pid in kernel_ooms:
        events.append((when, f"kernel OOM killer killed {task} (host pid {pid})"))
    events.sort()
    exit_code, last_exit, sigkill = _last_exit(p, exits)
    signs = _oom_signs(last_exit[0] if last_exit else now, kernel_ooms, journal_ooms, counters,
                       kernel_note)
    result = p.get("Result") or None
    started = _parse_ts(p.get("ActiveEnterTimestamp"))
    running = p.get("ActiveState") == "active" and p.get("SubState") == "running"
    detail: dict[str, Any] = {
        "unit": p.get("Id", unit_id),
        "sub_state": p.get("SubState"),
        "unit_file_state": p.get("UnitFileState") or None,
        "last_exit": f"{last_exit[2]} at {_hhmmss(last_exit[0])}" if last_exit else None,
        "oom_signs": signs or None,
        "memcg_oom_kill": counters.get("oom_kill"),
        "memcg_failcnt": counters.get("failcnt"),
        "kernel_log": kernel_note,
    }
    oom_killed = result == "oom-kill" or (sigkill and bool(signs))
    uptime = now - started.timestamp() if started and running else None
    timeline = _unit_timeline(a.journal, unit_id, kernel_ooms, journal_ooms)
    state_exits = _unit_exits(timeline, p, oom_killed, running)
    how, how_detail, history = _unit_how(p, running, uptime, state_exits,
                                         started.timestamp() if started else None)
    return ServiceState(
        exists=True,
        running=running,
        status=p.get("ActiveState", "unknown"),
        health=None,
        restart_count=to_int(p.get("NRestarts")),
        restarting=p.get("SubState") == "auto-restart",
        exit_code=exit_code,
        # On cgroup v2 systemd says Result=oom-kill itself; on v1 only 'signal', so a SIGKILL
        # needs a second sign (see _oom_signs).
        oom_killed=oom_killed,
        result=result,
        enabled=_enabled(p.get("UnitFileState", "")),
        uptime_s=uptime,
        events=[f"{_hhmmss(w)} {m}" for w, m in events],
        oom_events=max(len(kernel_ooms), len(journal_ooms),
                       counters.get("oom_kill", 0) if kernel_note else 0),
        die_events=len(exits),
        pid=to_int(p.get("MainPID")) or None,
        detail={k: v for k, v in detail.items() if v is not None},
        how=how, how_detail=how_detail, started_at=started.timestamp() if started else None,
        last_exit=state_exits[-1] if state_exits else None, exits=state_exits, history=history,
    )


def _unit_messages(lines: list[str], unit_id: str) -> Iterator[tuple[float, str]]:
    """(time, message) of each journal line about the unit, its name prefix dropped."""
    for line in lines:
        entry = _journal_entry(line)
        if entry is not None:
            yield entry[0], entry[1].removeprefix(unit_id + ": ")


def _exit_code(m: re.Match[str]) -> int:
    """'Main process exited, code=killed, status=9/KILL' -> 137, as a shell reports it."""
    how, status, name = m.group(1), int(m.group(2)), m.group(3) or ""
    signo = SIGNALS.get(name, status) if how in ("killed", "dumped") else None
    return 128 + signo if signo is not None else status


def _unit_timeline(lines: list[str], unit_id: str, kernel_ooms: list[tuple[float, str, str]],
                   journal_ooms: list[float]) -> list[tuple[float, str, str]]:
    """systemd's lines about the unit as (time, kind, text): start, stopping, stopped, exit."""
    out: list[tuple[float, str, str]] = []
    for when, message in _unit_messages(lines, unit_id):
        if message.startswith("Started"):
            out.append((when, "start", message))
        elif message.startswith("Stopping"):
            out.append((when, "stopping", message))
        elif message.startswith(("Stopped", "Deactivated successfully")):
            out.append((when, "stopped", message))
        elif EXIT_RE.search(message):
            out.append((when, "exit", message))
    for when in [k[0] for k in kernel_ooms] + journal_ooms:
        out.append((when, "oom", "OOM kill"))
    return sorted(out)


def _unit_exits(timeline: list[tuple[float, str, str]], p: dict[str, str], oom_killed: bool,
                running: bool) -> list[Exit]:
    """The unit's runs that ended in the window: an exit line, or a stop that ended one."""
    out: list[Exit] = []
    started: float | None = None
    stopping: float | None = None
    ooms = [w for w, kind, _ in timeline if kind == "oom"]
    for when, kind, text in timeline:
        if kind == "start":
            started, stopping = when, None
        elif kind == "stopping":
            stopping = when
        elif kind in ("exit", "stopped"):
            if kind == "stopped" and out and out[-1].at is not None and when - out[-1].at < 5:
                continue  # the exit line of this same stop is already counted
            asked = stopping is not None and when - stopping <= STOP_TO_EXIT_S
            code = 0
            m = EXIT_RE.search(text)
            if m:
                code = _exit_code(m)
            near_oom = any(when - OOM_MATCH_BEFORE_S <= w <= when + OOM_MATCH_AFTER_S for w in ooms)
            out.append(Exit(when, code, oom=near_oom and not asked,
                            requested=f"systemctl stop at {_hhmmss(stopping)}" if asked and stopping
                            else "", ran_s=None if started is None else when - started))
            if kind == "stopped":
                started = None
    if not running and not out and p.get("ActiveState") in ("inactive", "failed"):
        # The end fell outside the window: what systemd still says of the last run.
        code_kind, status = to_int(p.get("ExecMainCode")) or 0, to_int(p.get("ExecMainStatus"))
        code = 128 + status if code_kind in (CLD_KILLED, CLD_DUMPED) and status else status
        asked = p.get("ActiveState") == "inactive" and p.get("Result") == "success"
        out.append(Exit(None, code, oom=oom_killed,
                        requested="systemctl stop (inactive, result success)" if asked else ""))
    return out


def _unit_how(p: dict[str, str], running: bool, uptime: float | None, exits: list[Exit],
              started: float | None) -> tuple[str, str, list[str]]:
    restarting = p.get("SubState") == "auto-restart"
    if states.looping(exits, uptime, restarting and len(exits) > 1):
        unasked = [e for e in exits if not e.requested]
        tail = f"; last: {states.exit_state(unasked[-1])[1]}" if unasked else ""
        return states.CRASH_LOOPING, (f"crash-looping: {len(unasked)} exit(s) in the event window, "
                                      f"{p.get('NRestarts', '?')} restart(s) by systemd{tail}"), []
    last = exits[-1] if exits else None
    if running:
        history = [states.history_line(last, states.exit_state(last)[0], "systemd")] if last else []
        return states.RUNNING, f"running since {states.clock(started)}", history
    if restarting and last is not None:
        word, text = states.exit_state(last)
        return word, f"{text}; systemd restarts it", []
    if last is None:
        return states.EXITED, f"not running ({p.get('ActiveState')}/{p.get('SubState')})", []
    return (*states.exit_state(last), [])


def _last_exit(p: dict[str, str], exits: list[tuple[float, int, str]]
               ) -> tuple[int | None, tuple[float, int, str] | None, bool]:
    """-> (the last exit code as a shell reports it, the journal's last exit, whether it was a
    SIGKILL)."""
    code, status = to_int(p.get("ExecMainCode")) or 0, to_int(p.get("ExecMainStatus"))
    killed_now = code in (CLD_KILLED, CLD_DUMPED)
    exit_code = None
    if code == CLD_EXITED:
        exit_code = status
    elif killed_now and status is not None:
        exit_code = 128 + status  # as a shell and Docker report it: 137 = SIGKILL
    last_exit = exits[-1] if exits else None
    if exit_code is None and last_exit:
        # After an automatic restart systemd forgets the old exit; the journal keeps it.
        exit_code = last_exit[1]
    sigkill = (killed_now and status == 9) or bool(last_exit and last_exit[1] == 137)
    return exit_code, last_exit, sigkill


def _oom_signs(exit_at: float, kernel_ooms: list[tuple[float, str, str]], journal_ooms: list[float],
               counters: dict[str, int], kernel_note: str | None) -> list[str]:
    """Signs that a SIGKILL was the OOM killer's. Signs with a time must fall next to the exit:
    the kernel's OOM line for this unit's cgroup, systemd's "killed by the OOM killer". The memcg
    oom_kill counter has no time and survives restarts (seen on v1), so it would blame a later
    `kill -9` on memory: it counts only when the kernel log is unreadable, as the best sign left."""

    def near(when: float) -> bool:
        return exit_at - OOM_MATCH_BEFORE_S <= when <= exit_at + OOM_MATCH_AFTER_S

    signs = []
    if any(near(k[0]) for k in kernel_ooms):
        signs.append("kernel log: OOM kill in the unit's memory cgroup at its exit")
    if any(near(w) for w in journal_ooms):
        signs.append("journal: a process of the unit was killed by the OOM killer")
    if counters.get("oom_kill") and kernel_note:
        signs.append(f"memory cgroup oom_kill={counters['oom_kill']} (cumulative; "
                     "kernel log unreadable)")
    return signs


def journal_events(lines: list[str], unit_id: str
                   ) -> tuple[list[tuple[float, str]], list[tuple[float, int, str]], list[float]]:
    """systemd's lines about the unit: events, exits (time, exit code, text), OOM lines."""
    events: list[tuple[float, str]] = []
    exits: list[tuple[float, int, str]] = []
    ooms: list[float] = []
    for when, message in _unit_messages(lines, unit_id):
        if not any(w in message for w in EVENT_WORDS):
            continue
        events.append((when, clip(message, 200)))
        m = EXIT_RE.search(message)
        if m:
            how, status, name = m.group(1), int(m.group(2)), m.group(3) or ""
            exits.append((when, _exit_code(m), f"code={how}, status={status}/{name}".rstrip("/")))
        if "OOM killer" in message:
            ooms.append(when)
    return events, exits, ooms


def kernel_oom_kills(lines: list[str], clock: tuple[float, float] | None, p: dict[str, str],
                     pid1: list[str], unit_id: str, window_s: int
                     ) -> tuple[list[tuple[float, str, str]], str | None]:
    """Kernel OOM kills whose victim sat in this unit's cgroup: (wall time, task, pid), and a
    note when the kernel log could not be read."""
    note = None
    cgroup = p.get("ControlGroup") or ""
    if not cgroup:
        # The unit is between runs and has no cgroup; rebuild its path below PID 1's.
        root = ""
        for line in pid1:
            root = line.split(":", 2)[-1]
        root = root.removesuffix("/init.scope").rstrip("/")
        cgroup = f"{root}{_slice_path(p.get('Slice', 'system.slice'))}/{unit_id}"
    found = []
    for line in lines:
        if line.startswith("!"):
            note = (f"dmesg unreadable ({clip(line[1:].strip(), 120)}); kernel OOM lines only "
                    "from journalctl -k, if it keeps them")
            continue
        m = OOM_RE.search(line)
        if not m or not (m["memcg"] == cgroup or m["memcg"].startswith(cgroup + "/")):
            continue
        ts = DMESG_TS_RE.match(line)
        if ts and clock:
            when = clock[0] - clock[1] + float(ts.group(1))  # seconds since boot -> wall
        else:
            entry = _journal_entry(line)
            if entry is None:
                continue
            when = entry[0]
        if clock and when < clock[0] - window_s:
            continue
        found.append((when, m["task"], m["pid"]))
    return found, note


def cgroup_counters(lines: list[str]) -> dict[str, int]:
    """v1 memory.failcnt and memory.oom_control's oom_kill; v2 memory.events' oom_kill."""
    out: dict[str, int] = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[0] == "memory.failcnt":
            out["failcnt"] = to_int(parts[1]) or 0
        elif len(parts) == 3 and parts[1] == "oom_kill":
            out["oom_kill"] = to_int(parts[2]) or 0
    return out


def environ(text: str) -> dict[str, str]:
    """/proc/PID/environ: NUL-separated KEY=VALUE."""
    env: dict[str, str] = {}
    for item in text.split("\0"):
        key, sep, value = item.partition("=")
        if sep and key:
            env[key] = value
    return env


def parse_assignments(text: str) -> dict[str, str]:
    """systemctl show's Environment=: space-separated, C-quoted where needed."""
    try:
        items = shlex.split(text)
    except ValueError:
        items = text.split()
    return {k: v for k, sep, v in (i.partition("=") for i in items) if sep and k}


def parse_env_file(text: str) -> dict[str, str]:
    """systemd's EnvironmentFile= format: KEY=VALUE lines, # or ; comments, optional quotes."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip().removeprefix("export ")] = value
    return env


def journal_lines(text: str, current_invocation: str) -> list[LogLine]:
    """`journalctl -o json` entries -> LogLines: the time is the journal's own, the run is
    told by the invocation id (a line of the unit's current run carries it)."""
    out = []
    for raw in text.splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        message = entry.get("MESSAGE", "")
        if isinstance(message, list):  # the journal's form of a message that is not UTF-8
            message = bytes(b for b in message if isinstance(b, int) and 0 <= b < 256).decode(
                "utf-8", "replace")
        stamp = to_int(entry.get("__REALTIME_TIMESTAMP"))
        inv = entry.get("_SYSTEMD_INVOCATION_ID") or entry.get("INVOCATION_ID") or ""
        run = UNKNOWN if not current_invocation or not inv else \
            CURRENT if inv == current_invocation else EARLIER
        out.append(LogLine(str(message), None if stamp is None else stamp / 1e6, run))
    return out
