"""How the service is, or is not, running: one vocabulary for every platform.

"Not running" is several situations with different next steps, and the runbook names only
some of them: a stop somebody asked for is not a crash, a kill on request is not the OOM
killer, a loop is not one exit. Each target turns its platform's records (Docker's events,
systemd's journal, the kubelet's container statuses and events) into `Exit`s and a state word
from this module, with the evidence and its time in one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

RUNNING = "running"
STARTING = "starting"  # started, not yet past its healthcheck or startup probe
STOPPED = "stopped"  # stopped on request: docker stop, systemctl stop, a deployment scaled to 0
STOPPING = "stopping"  # asked to stop (SIGTERM) and still draining: it ends by itself
KILLED = "killed"  # killed on request: docker kill, a kubelet kill (the platform recorded it)
CRASHED = "crashed"  # a non-zero exit nobody asked for
OOM_KILLED = "oom-killed"
FAILED_AT_START = "failed-at-start"  # exited within the start window (validation, config)
EXITED = "exited"  # ended by itself with status 0: a server that should not end
CRASH_LOOPING = "crash-looping"
MISSING = "missing"  # no container, unit or pod at all
PAUSED = "paused"  # frozen (docker pause): takes connections, answers nothing
DETACHED = "detached"  # running on no network (docker network disconnect): reaches nothing
# Kubernetes only
SCALED_TO_ZERO = "scaled-to-zero"
PARTIAL = "partial"  # some replicas serve, others fail
NOT_READY = "not-ready"  # running, failing its readiness probe
EVICTED = "evicted"
UNSCHEDULABLE = "unschedulable"
IMAGE_PULL = "image-pull"

# Not serving, whatever the reason: the verdict is "down" when the state is one of these.
DOWN_STATES = frozenset({STOPPED, STOPPING, KILLED, CRASHED, OOM_KILLED, FAILED_AT_START, EXITED,
                         CRASH_LOOPING, MISSING, PAUSED, DETACHED, SCALED_TO_ZERO, NOT_READY, EVICTED,
                         UNSCHEDULABLE, IMAGE_PULL})
# A run this short that ended non-zero ended at start (the engine validates before it serves).
START_WINDOW_S = 30.0
# Exits this close together, this many times, with the last run this short: a loop.
LOOP_EXITS, LOOP_RUN_S = 3, 60.0
SIGNALS = {1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM"}


def clock(epoch: float | None) -> str:
    return "--:--:--" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


@dataclass(frozen=True)
class Exit:
    """One end of a run of the service, as its platform recorded it."""

    at: float | None  # epoch
    code: int | None  # as a shell reports it: 137 = killed by SIGKILL
    oom: bool = False  # the platform or the kernel recorded an OOM kill
    requested: str = ""  # who asked, when the platform recorded a request ("docker stop at ...")
    ran_s: float | None = None  # how long the run lasted

    @property
    def signal(self) -> int | None:
        return self.code - 128 if self.code is not None and self.code > 128 else None

    def words(self) -> str:
        code = "unknown" if self.code is None else str(self.code)
        sig = SIGNALS.get(self.signal or 0, "")
        return f"exit code {code}" + (f" ({sig})" if sig else "")


def exit_state(last: Exit) -> tuple[str, str]:
    """The state a service is in after this exit, and the sentence that says why."""
    at = f" at {clock(last.at)}"
    if last.requested:
        # A stop that had to end in SIGKILL (the drain overran its grace) is still a stop.
        if last.requested.startswith(("docker stop", "systemctl stop")) or last.code in (0, 143):
            return STOPPED, f"stopped on request ({last.requested}), {last.words()}"
        return KILLED, f"killed on request ({last.requested}), {last.words()}"
    if last.oom:
        return OOM_KILLED, f"OOM-killed{at} ({last.words()}): the kernel killed it for memory"
    if last.code in (0, 143):
        # A server ends cleanly when asked to (SIGTERM); the request itself may be gone from
        # the platform's records (Docker's event buffer is short), so this does not guess who.
        return EXITED, (f"exited cleanly{at} ({last.words()}): a stop whose request the platform "
                        "no longer shows, or the process ending by itself")
    # An exit of its own (validation's exit 1) within the start window; a signal is a kill.
    if last.ran_s is not None and last.ran_s < START_WINDOW_S and last.signal is None:
        return FAILED_AT_START, (f"failed at start{at}: {last.words()} after {last.ran_s:.1f}s "
                                 "(before it served)")
    how = " (killed, not by the OOM killer, and no stop or kill was requested)" \
        if last.signal == 9 else ""
    return CRASHED, f"crashed{at}: {last.words()}{how}, nobody asked it to stop"


def looping(exits: list[Exit], uptime_s: float | None, restarting: bool) -> bool:
    """Exiting again and again: restarting after more than one unrequested exit in the window,
    or several of them with the current run still short. One exit is not a loop, whether the
    platform is restarting the service after it or the run since has settled (history)."""
    unasked = [e for e in exits if not e.requested]
    if restarting and len(unasked) >= 2:
        return True
    if exits and exits[-1].requested:
        return False  # it ended on request, whatever came before: stopped, not looping
    return len(unasked) >= LOOP_EXITS and (uptime_s is None or uptime_s < LOOP_RUN_S)


def settled_since(exits: list[Exit], started: float | None, uptime_s: float | None) -> float | None:
    """The start of the latest run that lasted LOOP_RUN_S or more (the current one, if it has):
    an exit or OOM kill before it ended a run that a lasting one followed, so it is history
    whatever fails now. None when no run in the window lasted that long."""
    if started is not None and uptime_s is not None and uptime_s >= LOOP_RUN_S:
        return started
    for e in reversed(exits):
        if e.at is not None and e.ran_s is not None and e.ran_s >= LOOP_RUN_S:
            return e.at - e.ran_s
    return None


def split_settled(exits: list[Exit], since: float | None) -> tuple[list[Exit], list[Exit]]:
    """-> (exits before `since`: history; the ones since: this incident). Oldest first."""
    if since is None:
        return [], list(exits)
    earlier = [e for e in exits if e.at is not None and e.at < since]
    return earlier, [e for e in exits if e not in earlier]


def history_line(last: Exit, state: str, restarted_by: str) -> str:
    """What happened before a service that runs again: 'recovered: SIGKILL at 20:07, restarted
    by systemd'."""
    what = last.words() if state != OOM_KILLED else f"OOM kill ({last.words()})"
    if last.requested:
        what = f"{last.requested}, {last.words()}"
    by = f", restarted by {restarted_by}" if restarted_by else ", started again since"
    return f"recovered: {what} at {clock(last.at)}{by}"
