"""What a runbook's items can mean: the one vocabulary between a team's own words and the
project's causes (`causes.CAUSES`), their categories and the diagnosis and resolution steps.

Every meaning has a stable id: a cause's own id (`oom`, `db-down`), `category:<id>` for a
cause category, `step:<name>` for a step. Checks, tests and chaos experiments declare these
ids; the runbook matcher (`runbook/matcher.py`) reads an item's heading, text and commands
and finds the meaning it names. No meaning depends on where a runbook puts it: `seed` only
records the item of the seed runbook each one stands for, and the matcher uses it to break a
tie, never to decide.

To add a word: put it in `phrases` when it names the meaning outright ("out of memory"),
in `words` when it only points to it ("memory"), in `against` when it says the item is
something else. Phrases and words are matched on whole
words, case-insensitive, with simple plural and tense endings ignored. A new cause in
`causes.py` needs its row in CAUSE_WORDS (a unit test says which is missing).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from servicedown.causes import CATEGORIES, CAUSES

RUN_CHECKS = "step:run-checks"  # the project's own entry point: every check at once
DB_CONTEXT = ("database", "db", "postgres", "postgresql", "pg", "psql", "sql", "pgbouncer")


@dataclass(frozen=True)
class Words:
    phrases: tuple[str, ...]  # name the meaning outright
    words: tuple[str, ...] = ()  # point towards it
    intents: tuple[str, ...] = ()  # command intents (runbook/commands.INTENTS) that ask its question
    context: tuple[str, ...] = ()  # one of these must be in the item, its parent or its commands
    against: tuple[str, ...] = ()  # what tells it is something else
    seed: tuple[str, ...] = ()  # its items in the seed runbook: a tie-breaker only


@dataclass(frozen=True)
class Meaning:
    id: str
    kind: str  # cause | category | step
    title: str
    words: Words
    category: str | None = None  # a cause's category id


# --- causes: keyed by causes.CAUSES ids -------------------------------------------------------
CAUSE_WORDS: dict[str, Words] = {
    "crash": Words(
        ("crash", "crash loop", "crashloopbackoff", "stack trace", "traceback", "uncaught exception",
         "unhandled exception", "exception", "segfault", "segmentation fault", "panic",
         "exits with an error", "process exited"),
        ("error", "exit", "died", "dies", "abort", "backoff")),
    "oom": Words(
        ("oom", "out of memory", "oom killed", "oomkilled", "oom kill", "memory exhausted",
         "memoryerror", "killed process", "memory limit", "mem limit", "exit code 137", "memory"),
        ("killed", "ram", "heap", "137", "kill")),
    "cpu": Words(
        ("cpu", "cpu at 100", "cpu throttling", "throttled", "cpu saturation", "cpu limit",
         "cpu quota", "load average"),
        ("quota", "throttling", "pinned", "busy", "saturated")),
    "disk-full": Words(
        ("disk full", "no space left", "enospc", "out of disk", "filesystem full", "volume full",
         "pvc full", "disk filled", "out of inodes", "inodes", "disk space", "disk"),
        ("full", "space", "filled", "volume", "pvc", "filesystem", "storage")),
    "fd-limit": Words(
        ("file descriptor", "too many open files", "open files", "emfile", "nofile", "ulimit",
         "fd limit"),
        ("descriptor", "fd", "fds")),
    "db-down": Words(
        ("database is down", "database down", "postgres down", "postgres is down", "db down",
         "database unavailable", "connection refused", "refuses connections",
         "not accepting connections", "database stopped", "pg isready"),
        ("down", "refused", "unavailable", "stopped", "restarting"),
        context=DB_CONTEXT),
    "db-pool-exhausted": Words(
        ("connection pool", "pool exhausted", "too many clients", "too many connections",
         "max connections", "connection slots", "leaked connections"),
        ("pool", "exhausted", "slots", "leaked", "held"),
        context=DB_CONTEXT),
    "db-network": Words(
        ("network", "network connectivity", "unreachable", "dns", "no route", "firewall",
         "networkpolicy", "network policy", "timed out", "toxiproxy", "network path"),
        ("path", "connectivity", "egress", "blocked", "broken", "latency", "timeout"),
        context=DB_CONTEXT),
    "config-invalid": Words(
        ("configuration error", "config error", "configuration validation", "validation failed",
         "invalid configuration", "bad configuration", "misconfiguration", "misconfigured",
         "too short", "weak secret", "startup validation", "invalid setting"),
        ("configuration", "config", "validation", "invalid", "weak", "short", "setting", "rejected")),
    "missing-env": Words(
        ("missing required environment variable", "required environment variable",
         "environment variable is missing", "required variable", "secrets not set",
         "secrets missing", "missing secret", "not set", "unset"),
        ("missing", "environment", "variable", "env", "secret", "absent")),
    "tls": Words(
        ("tls", "ssl", "certificate", "cert", "x509", "handshake", "certificate expired",
         "expired certificate"),
        ("expired", "key", "https")),
    # Situations the reference runbook names no cause for (causes.py, in_runbook=False).
    "stopped": Words(("stopped on request", "docker stop", "systemctl stop", "scaled to 0",
                      "scaled to zero", "stopped by", "scaled down"), ("stop",)),
    "killed": Words(("killed on request", "docker kill", "kill 9", "sigkill"), ("kill",)),
    "paused": Words(("docker pause", "paused", "frozen"), ()),
    "absent": Words(("not deployed", "no container", "no pod", "deployment missing", "deleted"), ()),
    "http-errors": Words(("http 500", "http 5xx", "5xx", "internal server error", "500 error",
                          "failing every request"), ()),
    "port-dead": Words(("not listening", "port dead", "nothing listen", "port closed"), ("port",)),
    # "its logs do not say why": a runbook that quotes the traceback means the crash itself.
    "crash-loop": Words(("restart loop", "crash looping", "keeps restarting"), (),
                        against=("traceback", "exception", "stack trace")),
    "partial": Words(("some replicas", "some pods", "partial outage", "replicas failing"), ()),
    "not-ready": Words(("readiness probe", "not ready", "readiness"), ()),
    "evicted": Words(("evicted", "pod eviction", "evicted pod"), ()),  # a cache eviction is not it
    "unschedulable": Words(("unschedulable", "cannot be scheduled", "insufficient cpu",
                            "insufficient memory", "pending"), ()),
    "image-pull": Words(("image pull", "imagepullbackoff", "errimagepull", "image not found",
                         "pull access denied", "manifest unknown"), ()),
}

CATEGORY_WORDS: dict[str, Words] = {
    "application-crash": Words(("application crash", "app crash", "application error"),
                               ("crash", "application")),
    "resource-exhaustion": Words(("resource exhaustion", "resources", "resource limits", "capacity"),
                                 ("exhaustion", "saturation")),
    "database": Words(("database", "database connection", "database connection issues", "postgres",
                       "postgresql", "db"), ("connection",)),
    "startup-failure": Words(("startup failure", "startup", "fails to start", "won't start", "boot"),
                             ("start",)),
    "not-in-runbook": Words(()),  # a bookkeeping category: no heading names it
}

# --- steps: what the runbook's diagnosis and resolution steps ask -----------------------------
STEP_WORDS: dict[str, tuple[str, Words]] = {
    RUN_CHECKS: ("Run the runbook checks", Words(
        ("runbook checks", "run the checks", "pytest checks", "make checks", "servicedown checks"),
        intents=("run-checks",))),
    "step:service-running": ("Check that the service is running", Words(
        ("is running", "service running", "service state", "service status", "container status",
         "pod status", "is active", "is up", "status"),
        ("running", "state", "container", "pod", "unit", "active", "alive", "up"),
        intents=("service-status",), seed=("diagnosis-1",))),
    "step:recent-logs": ("Read the recent logs", Words(
        ("logs", "log", "journal", "recent logs", "what the process printed"),
        ("printed", "output", "stderr", "stdout"),
        intents=("service-logs",), seed=("diagnosis-2",))),
    "step:health-endpoint": ("Ask the health endpoint", Words(
        ("health endpoint", "health check", "health probe", "healthcheck", "health", "readiness",
         "liveness"),
        ("endpoint", "probe", "api", "http", "curl"),
        intents=("http",), seed=("diagnosis-3",))),
    "step:restart": ("Restart the service (quick fix)", Words(
        ("restart", "quick fix", "rollout restart", "reboot", "bounce"),
        intents=("restart",), seed=("resolution-restart",))),
    "step:startup-validation": ("Read the startup validation", Words(
        ("startup validation", "validation", "validation failed", "configuration validation"),
        ("validate", "critical", "config", "configuration"),
        intents=("startup-validation",), seed=("resolution-1",))),
    "step:environment": ("Check the required environment variables", Words(
        ("environment variable", "env var", "required variable", "secrets", "environment"),
        ("variable", "secret", "printenv", "env"),
        intents=("env-check",), seed=("resolution-2",))),
    "step:db-connectivity": ("Check database connectivity", Words(
        ("database connectivity", "database connection", "database", "pg isready"),
        ("postgres", "db", "connectivity", "connection"),
        intents=("db-ready", "db-connections"), seed=("resolution-3",))),
    "step:disk-space": ("Check disk space", Words(
        ("disk space", "disk", "free space", "disk usage", "filesystem", "inodes"),
        ("space", "volume"),
        intents=("disk",), seed=("resolution-4",))),
    "step:memory": ("Check memory", Words(
        ("memory", "ram", "free memory", "memory usage"),
        ("free", "swap"),
        intents=("memory",), seed=("resolution-5",))),
}

# Related alerts are other alerts' runbooks: by name (lower case, letters and digits only).
ALERTS: dict[str, tuple[str, ...]] = {
    "highmemoryusage": ("oom",),
    "highcpuusage": ("cpu",),
    "databaseconnectionfailures": ("category:database",),
}

# Values a runbook's owner may pin an item to besides a meaning id (runbook/sidecar.py).
UNCOVERED, INFORMATIONAL = "uncovered", "informational"


def category_id(category: str) -> str:
    return f"category:{category}"


def _build() -> dict[str, Meaning]:
    out: dict[str, Meaning] = {}
    for c in CAUSES:
        # A cause without its row still gets its id and title as words: never silently unknown.
        words = CAUSE_WORDS.get(c.id, Words((c.id.replace("-", " "), c.title.lower())))
        # Its seed items are the causes table's own `runbook` ids.
        out[c.id] = Meaning(c.id, "cause", c.title, replace(words, seed=tuple(c.runbook)), c.category)
    for n, (cat, title) in enumerate(CATEGORIES.items(), 1):
        words = CATEGORY_WORDS.get(cat, Words((title.lower(),)))
        # The table lists the categories as the seed runbook numbers them (cause-1 .. cause-4).
        out[category_id(cat)] = Meaning(category_id(cat), "category", title,
                                        replace(words, seed=(f"cause-{n}",)))
    for sid, (title, words) in STEP_WORDS.items():
        out[sid] = Meaning(sid, "step", title, words)
    return out


MEANINGS: dict[str, Meaning] = _build()


def meaning(id: str) -> Meaning:
    """The meaning with this id; KeyError names the known ids."""
    try:
        return MEANINGS[id]
    except KeyError:
        raise KeyError(f"unknown meaning {id!r}; known: {', '.join(MEANINGS)}") from None


def step_at(seed_item: str) -> str | None:
    """The step that stands at this item of the seed runbook ('resolution-3' -> a step id): how
    the causes table's resolution steps (`Step.runbook`) read as meanings."""
    return next((sid for sid, (_t, w) in STEP_WORDS.items() if seed_item in w.seed), None)


def causes_of(id: str) -> tuple[str, ...]:
    """The cause ids a meaning stands for: itself for a cause, its members for a category."""
    m = MEANINGS.get(id)
    if m is None or m.kind == "step":
        return ()
    if m.kind == "cause":
        return (m.id,)
    return tuple(c.id for c in CAUSES if category_id(c.category) == id)
