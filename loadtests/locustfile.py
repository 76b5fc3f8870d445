"""The engine's load: monitoring probes at monitoring's own pace, plus API clients that write
records and read them back, each answer checked. Pass/fail gates decide the exit code.

    locust -f loadtests/locustfile.py --headless -u 20 -r 10 -t 60s --stop-timeout 10 \\
        -H http://localhost:8000 --csv reports/load --html reports/load.html \\
        --json-file reports/load --gate-p95-ms 500 --gate-error-ratio 0.01 --gate-min-rps 20

Statistics names start with their group, so the table reads by kind of traffic:
`probe ...` (monitoring), `write ...`, `read ...`, `list ...` (the API).

At the end, every process that ran users reads back all the writes the engine acknowledged
(bounded; see readback.py); then the master (or the only process) evaluates the gates
(gates.py), writes the per-second series (timeline.py) and the verdict, and sets the exit code.
See docs/load.md.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import sys
import time
import uuid
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, between, events, task
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

# `loadtests.*` without PYTHONPATH; not resolve(): a Kubernetes ConfigMap mounts files as symlinks
sys.path.insert(0, str(Path(os.path.abspath(__file__)).parents[1]))
from loadtests import credentials, gates, readback, timeline  # noqa: E402
from servicedown.healthy import is_serving  # noqa: E402
from servicedown.records import PATH as RECORDS  # noqa: E402

log = logging.getLogger("loadtests")

# Per process: keys written by different workers never collide, and a run's records are findable.
RUN_ID = uuid.uuid4().hex[:10]
ACKS: list[readback.Ack] = []  # every write the engine answered 201 for, in this process
SERIES = timeline.Timeline()
REQUESTS = itertools.count(1)  # requests made by this process (workers' Locust stats are reset per report)
_user_ids = itertools.count(1)

# What monitoring does to one engine replica, and how often (seconds): the Compose healthcheck
# and the ServiceDown alert's probe hit /health, a Kubernetes kubelet hits readiness and
# liveness, Prometheus scrapes /metrics. The startup probe runs once, at start.
PROBES: dict[str, float] = {"/health": 5.0, "/health/ready": 5.0, "/health/live": 10.0, "/metrics": 15.0}
RECORDS_PER_KEY = 20  # a key holds a handful of records, so listing it returns them all


def _answer(resp: Any) -> str:
    """Failure messages without ids or values, so Locust's failure table groups them."""
    if not resp.status_code:
        return f"got no answer ({type(resp.error).__name__ if resp.error else 'connection error'})"
    return f"answered {resp.status_code}"


def _json(resp: Any) -> dict[str, Any]:
    try:
        doc = resp.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


class MonitoringUser(FastHttpUser):
    """One monitoring stack probing the engine at its real pace (not as fast as it can)."""

    fixed_count = 1  # across all workers: monitoring does not scale with client traffic
    network_timeout = 10.0
    connection_timeout = 5.0
    default_headers = credentials.headers() or None  # the engine URL's credentials, if any

    def on_start(self) -> None:
        self.due = dict.fromkeys(PROBES, time.monotonic())
        self._probe("/health/startup")

    def wait_time(self) -> float:
        return max(0.0, min(self.due.values()) - time.monotonic())

    @task
    def probe(self) -> None:
        now = time.monotonic()
        for path, period in PROBES.items():
            if self.due[path] <= now:
                self.due[path] = now + period
                self._probe(path)

    def _probe(self, path: str) -> None:
        with self.client.get(path, name=f"probe {path}", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"{path} {_answer(resp)}")
            elif path == "/health" and not is_serving(resp.status_code, _json(resp)):
                resp.failure("/health answered 200 without a healthy status")


class ApiUser(FastHttpUser):
    """A client of the records API: writes, reads what it wrote, lists a key (reads dominate)."""

    wait_time = between(0.2, 1.0)  # a client's think time between calls
    network_timeout = 10.0
    connection_timeout = 5.0
    default_headers = credentials.headers() or None

    def on_start(self) -> None:
        self.uid = next(_user_ids)
        self.seq = 0
        self.mine: deque[tuple[readback.Ack, int]] = deque(maxlen=50)  # (ack, seq) of recent writes

    def key(self, seq: int) -> str:
        return f"load-{RUN_ID}-u{self.uid}-k{seq // RECORDS_PER_KEY}"

    @task(3)
    def write(self) -> None:
        self.seq += 1
        seq, token = self.seq, uuid.uuid4().hex
        key = self.key(seq)
        value = {"token": token, "seq": seq, "kind": "load-test", "amount": round(random.uniform(1, 500), 2)}
        with self.client.post(RECORDS, json={"key": key, "value": value},
                              name="write POST /api/v1/records", catch_response=True) as resp:
            if resp.status_code != 201:
                resp.failure(f"write {_answer(resp)}")
                return
            body = _json(resp)
            if not isinstance(body.get("id"), int) or body.get("key") != key:
                resp.failure("write answered 201 without the record's id and key")
                return
        ack = readback.Ack(body["id"], key, token)
        ACKS.append(ack)
        self.mine.append((ack, seq))

    @task(6)
    def read(self) -> None:
        if not self.mine:
            return self.write()
        ack, _ = random.choice(self.mine)
        with self.client.get(f"{RECORDS}/{ack.id}", name="read GET /api/v1/records/[id]",
                             catch_response=True) as resp:
            verdict = readback.check_record(ack, resp.status_code, resp.content or b"")
            if verdict in ("lost", "mismatched"):
                resp.failure(f"read of an acknowledged record: {verdict}")
            elif verdict != "ok":
                resp.failure(f"read {_answer(resp)}")

    @task(1)
    def list_key(self) -> None:
        if not self.mine:
            return self.write()
        ack, seq = self.mine[-1]
        with self.client.get(f"{RECORDS}?key={ack.key}&limit={RECORDS_PER_KEY}",
                             name="list GET /api/v1/records?key=[key]", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"list {_answer(resp)}")
            elif ack.id not in {r.get("id") for r in _json(resp).get("records", [])}:
                resp.failure("list lacks the last acknowledged record of its key")


# --- options -------------------------------------------------------------------------------------
@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    gates.add_arguments(parser)
    g = parser.add_argument_group("servicedown", "read-back and result files")
    g.add_argument("--readback-max", type=int, default=20000, env_var="LOCUST_READBACK_MAX",
                   help="read back at most this many acknowledged writes per process")
    g.add_argument("--readback-timeout-s", type=float, default=30.0, env_var="LOCUST_READBACK_TIMEOUT_S",
                   help="time bound of the read-back, per process")
    g.add_argument("--timeline-file", default="reports/load-timeseries.jsonl",
                   env_var="LOCUST_TIMELINE_FILE", help="per-second series (JSON lines)")
    g.add_argument("--verdict-file", default="reports/load-verdict.json", env_var="LOCUST_VERDICT_FILE",
                   help="gates, figures and read-back (JSON)")
    g.add_argument("--acks-file", default="", env_var="LOCUST_ACKS_FILE",
                   help="also write every acknowledged write here (JSON lines), to check independently")


# --- the end of a run: read-back, series, gates -----------------------------------------------
class RunEnd:
    """What the master (or the only process) gathers before it decides."""

    def __init__(self) -> None:
        self.writer: gevent.Greenlet | None = None  # the live series writer
        self.writes: gates.WriteCheck | None = None
        self.examples: list[dict[str, Any]] = []
        self.per_process: dict[str, dict[str, Any]] = {}
        self.acks: list[list[Any]] = []
        self.done = False
        self.last_report = 0.0  # worker: when its last stats report to the master left

    def add(self, node: str, data: dict[str, Any]) -> None:
        check = gates.WriteCheck(**data["writes"])
        self.writes = check if self.writes is None else self.writes.merge(check)
        self.examples += data["examples"]
        self.per_process[node] = {"writes": data["writes"], "requests": data["requests"]}
        self.acks += data["acks"]


END = RunEnd()


def _read_back_here(environment: Environment) -> dict[str, Any]:
    """After this process's users stopped: read back its acknowledged writes."""
    opts = environment.parsed_options
    check, examples = readback.read_back(environment.host or "", list(ACKS), opts.readback_max,
                                         opts.readback_timeout_s)
    log.info("read back %d of %d acknowledged writes (lost %d, mismatched %d, not verified %d)",
             check.checked, check.acknowledged, check.lost, check.mismatched, check.unverified)
    made = next(REQUESTS) - 1
    return {"writes": asdict(check), "examples": examples, "requests": made,
            "acks": [[a.id, a.key, a.token] for a in ACKS] if opts.acks_file else []}


def _on_readback_request(environment: Environment, msg: Any, **_: Any) -> None:
    """Worker: the master asks before it stops; stop our users (so no write is missed), read
    back, answer with the result and the series not yet shipped."""
    environment.runner.stop()
    stopped = time.monotonic()
    result = _read_back_here(environment)
    # Locust's master waits only 0.5 s for a worker's last stats; make sure one regular report
    # (every 3 s) left after the users stopped, so the master's totals hold every request.
    deadline = time.monotonic() + 5
    while END.last_report < stopped and time.monotonic() < deadline:
        gevent.sleep(0.1)
    result["timeline"] = SERIES.take_wire()
    environment.runner.send_message("sd_readback_result", result)


def _on_readback_result(environment: Environment, msg: Any, **_: Any) -> None:
    SERIES.merge_wire(msg.data.pop("timeline", {}))
    END.add(msg.node_id, msg.data)


def _master_collects(environment: Environment, **_: Any) -> None:
    """Master, as the test stops: Locust would only wait 0.5 s for the workers' last report, so
    ask each worker for its read-back and wait for all answers (bounded)."""
    runner = environment.runner
    if END.done:
        return
    END.done = True
    expected = {c.id for c in runner.clients.all if c.state != "missing"}
    runner.send_message("sd_readback")
    bound = environment.parsed_options.readback_timeout_s + environment.stop_timeout + 15
    deadline = time.monotonic() + bound
    while not expected <= set(END.per_process) and time.monotonic() < deadline:
        gevent.sleep(0.2)
    missing = expected - set(END.per_process)
    if missing:
        log.error("no read-back result from %d worker(s) within %.0f s", len(missing), bound)
        END.writes = (END.writes or gates.WriteCheck()).merge(gates.WriteCheck(unverified=1))
        END.examples.append({"note": f"no read-back result from workers {sorted(missing)}"})


def _local_collects(environment: Environment, **_: Any) -> None:
    if not END.done:
        END.done = True
        END.add("local", _read_back_here(environment))


def _series_writer(environment: Environment) -> None:
    """Master/local: note the user count each second and append finished seconds to the series
    file as the run goes (a nightly run can be watched); `_finish` rewrites it complete."""
    opts = environment.parsed_options
    lag = 8 if isinstance(environment.runner, MasterRunner) else 2  # workers report every 3 s
    written = 0
    while True:
        now = time.time()
        if environment.runner.state in ("spawning", "running"):
            SERIES.note_users(now, environment.runner.user_count)
        ready = SERIES.rows(since=written + 1 if written else None, until=int(now) - lag)
        if ready:
            timeline.write_jsonl(opts.timeline_file, ready, append=written > 0)
            written = ready[-1]["t"]
        gevent.sleep(1.0)


def _finish(environment: Environment, **_: Any) -> None:
    """Master/local, when Locust quits: series, acks, gates, verdict, exit code."""
    opts = environment.parsed_options
    if END.writer is not None:
        END.writer.kill(block=True)  # else its next append would follow the complete file
    timeline.write_jsonl(opts.timeline_file, SERIES.rows())
    if opts.acks_file:
        timeline.write_jsonl(opts.acks_file, [{"id": i, "key": k, "token": t} for i, k, t in END.acks])
    # Writes are checked only when the API users ran (a probe-only run has none); a worker that
    # never answered counts as not verified.
    w = END.writes
    writes = w if w is not None and (w.acknowledged or w.unverified) else None
    cfg = gates.GateConfig.from_options(opts)
    fig = gates.figures_from_stats(environment.stats.total, writes)
    results = gates.evaluate(fig, cfg)
    verdict = gates.as_dict(fig, cfg, results)
    verdict |= {"host": environment.host, "processes": END.per_process, "bad_writes": END.examples,
                "stats_names": sorted(e.name for e in environment.stats.entries.values())}
    path = Path(opts.verdict_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(verdict, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    # print, not logging: the verdict must show whatever --loglevel says.
    for r in results:
        print(r.line, file=sys.stderr, flush=True)
    print(gates.verdict_line(results), file=sys.stderr, flush=True)
    environment.process_exit_code = gates.exit_code(results)


def _announce_start(**_: Any) -> None:
    """run_load.py times a fault from this line, not from words of Locust's own log."""
    print(gates.STARTED_LINE, file=sys.stderr, flush=True)


def _ship_series(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["sd_series"] = SERIES.take_wire()
    END.last_report = time.monotonic()


def _merge_series(client_id: str, data: dict[str, Any], **_: Any) -> None:
    SERIES.merge_wire(data.get("sd_series", {}))


@events.init.add_listener
def _wire(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message("sd_readback", _on_readback_request, concurrent=True)
        events.report_to_master.add_listener(_ship_series)
        return
    if isinstance(runner, MasterRunner):
        runner.register_message("sd_readback_result", _on_readback_result)
        events.worker_report.add_listener(_merge_series)
        events.test_stopping.add_listener(_master_collects)
    elif isinstance(runner, LocalRunner):
        events.test_stop.add_listener(_local_collects)
    if runner is not None:
        events.test_start.add_listener(_announce_start)
        END.writer = gevent.spawn(_series_writer, environment)
        events.quitting.add_listener(_finish)


@events.request.add_listener
def _count(name: str, response_time: float, exception: BaseException | None, **_: Any) -> None:
    next(REQUESTS)
    SERIES.add(time.time(), name, response_time or 0.0, exception is not None)

