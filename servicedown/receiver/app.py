"""The receiver wired together, and `servicedown serve`.

    servicedown serve [--config FILE] [--listen HOST:PORT] [--reports-dir DIR] [--token-file FILE]

Exit codes: 0 after SIGINT or SIGTERM, 2 when the config or the command line cannot work (one line
on stderr, nothing listens).
"""

from __future__ import annotations

import argparse
import logging
import signal
import ssl
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from servicedown import config as cfg
from servicedown.files import write_atomic
from servicedown.receiver import config as rconfig
from servicedown.receiver import payload
from servicedown.receiver.config import ConfigError, ReceiverConfig
from servicedown.receiver.incidents import IncidentStore, TooManyOpen
from servicedown.receiver.jobs import Board, Runner
from servicedown.receiver.metrics import CONTENT_TYPE, ReceiverMetrics
from servicedown.receiver.page import write as write_page
from servicedown.receiver.payload import Alert, BadPayload, Notification
from servicedown.receiver.poster import SummaryPoster
from servicedown.receiver.scheduler import QueueFull, Scheduler
from servicedown.receiver.server import WEBHOOK_PATH, Server, authorized, tls_context
from servicedown.receiver.summary import resolved_summary
from servicedown.redact import redact
from servicedown.schema import POSTMORTEM_HTML, SUMMARY_FILE

log = logging.getLogger("servicedown.receiver")


def _print(text: str) -> None:
    print(text + "\n", flush=True)  # a blank line between summaries in the terminal

USAGE_ERROR = 2
WORKERS = 2  # runs of different targets at once (the checks are light, the machine may be small)
STOP_S = 30.0
# Labels that look like settings or commands: never read (a label selects a target, never defines
# one), named in the answer so whoever sent them can see so.
COMMAND_WORDS = ("command", "cmd", "exec", "run", "script", "shell")
SETTING_NAMES = tuple(name for name, _k, _d in cfg.option_names())


class Receiver:
    def __init__(self, conf: ReceiverConfig, token: str, say: Callable[[str], None] = _print) -> None:
        self.conf, self._token = conf, token
        self.say = say
        self.store = IncidentStore(conf.reports_dir)
        self.metrics = ReceiverMetrics()
        self.board = Board()
        self.poster = SummaryPoster(conf.summary)
        runner = Runner(conf, self.store, self.metrics, self.poster, self.board, self._say)
        self.scheduler = Scheduler(runner, conf.limits.queue, min(WORKERS, len(conf.targets)),
                                   on_change=self.metrics.queue.set)
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="interval", daemon=True)
        self.metrics.open_incidents.set(len(self.store.open_incidents()))

    def _say(self, text: str) -> None:
        self.say(text)

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.poster.start()
        self.scheduler.start()
        if self.conf.interval_s > 0:
            self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        self.scheduler.stop(STOP_S)
        self.poster.stop(5.0)

    def _tick(self) -> None:
        """Runs every target's checks every interval_s, so /metrics stays current between alerts."""
        while not self._stop.wait(self.conf.interval_s):
            for name in self.conf.targets:
                try:
                    self.scheduler.submit(name)
                except QueueFull:
                    log.warning("interval run of %s skipped: the queue is full", name)

    # --- requests ----------------------------------------------------------------------------------
    def authorized(self, header: str | None) -> bool:
        return authorized(header, self._token)

    def exposition(self) -> tuple[bytes, str]:
        return self.metrics.exposition(), CONTENT_TYPE

    def healthz(self) -> tuple[int, dict[str, Any]]:
        """The last run of each target, as it ended: 503 when one was down, 200 otherwise (no run
        yet included: the receiver itself answers)."""
        runs = self.board.snapshot()
        targets = {name: (runs[name].to_json() if name in runs else None) for name in self.conf.targets}
        down = [name for name, r in runs.items() if r.verdict == "down"]
        doc = {"status": "down" if down else "ok", "down": down, "targets": targets,
               "open_incidents": len(self.store.open_incidents()), "waiting_runs": self.scheduler.waiting()}
        return (503 if down else 200), doc

    def webhook(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            n = payload.parse(body)
        except BadPayload as exc:
            log.info("notification refused: %s", exc)
            return 400, {"error": str(exc)}
        wanted = [a for a in n.alerts if a.name in self.conf.alerts]
        others = sorted({a.name for a in n.alerts} - {a.name for a in wanted})
        if not wanted:
            return 200, {"status": "ignored",
                         "reason": f"no alert this receiver triages ({', '.join(others)}); it triages "
                                   f"{', '.join(self.conf.alerts)}"}
        routed: dict[str, list[Alert]] = {}
        unrouted: list[Alert] = []
        for a in wanted:
            target = self.conf.route(a.labels)
            (routed.setdefault(target, []) if target is not None else unrouted).append(a)
        if not routed:
            a = unrouted[0]
            return 400, {"error": f"no configured target for {a.name} with labels {_show(a.labels)}: "
                                  "a route in the receiver's config must match them"}
        routing = {k for r in self.conf.routes for k, _v in r.match}
        odd = sorted({k for a in wanted for k in a.labels if k not in routing
                      and (k in SETTING_NAMES or k.lower() in COMMAND_WORDS)})
        answers = []
        for target, alerts in routed.items():
            try:
                answers.append(self._one(n, target, alerts))
            except TooManyOpen as exc:
                return 503, {"error": str(exc)}
            except QueueFull as exc:
                return 503, {"error": f"the triage queue is full: {exc}; Alertmanager will retry"}
        self.metrics.open_incidents.set(len(self.store.open_incidents()))
        status = 202 if any(a.get("run") for a in answers) else 200
        doc: dict[str, Any] = {"incidents": answers}
        if others:
            doc["ignored_alerts"] = others
        if unrouted:
            doc["unrouted"] = [f"{a.name} {_show(a.labels)}" for a in unrouted]
        if odd:
            doc["ignored_labels"] = odd
            doc["note"] = "labels select a configured target; they never set a setting or a command"
        return status, doc

    def _one(self, n: Notification, target: str, alerts: list[Alert]) -> dict[str, Any]:
        inc, event = self.store.notify(n, alerts, target)
        if inc is None:
            return {"target": target, "event": "resolved", "incident": None,
                    "note": "no open incident for this alert group: nothing to close"}
        folder = self.store.folder(inc.id)
        answer: dict[str, Any] = {"incident": inc.id, "event": event, "target": target,
                                  "folder": str(folder)}
        if event == "resolved":
            page = str(folder / POSTMORTEM_HTML)
            text = resolved_summary(inc, page)
            snap = self.store.snapshot(inc.id) or inc
            write_page(folder, snap, write_atomic)
            self._say(text)
            self.poster.post(text)
            answer |= {"recovery_s": inc.recovery_s, "summary": text}
            return answer
        answer["run"] = self.scheduler.submit(target, [inc.id], [a.name for a in alerts])
        last = folder / SUMMARY_FILE
        if event == "repeat" and last.exists():  # the last run's summary, while the next one runs
            answer["summary"] = last.read_text(encoding="utf-8", errors="replace")[:4000]
        return answer


def _show(labels: dict[str, str]) -> str:
    text = ", ".join(f"{k}={v[:60]}" for k, v in sorted(labels.items()) if k != "alertname")[:400]
    return "{" + "".join(c if c.isprintable() else "?" for c in text) + "}"


# --- the command ------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="servicedown serve",
        description="Alertmanager webhook receiver: when ServiceDown or a related alert fires, run the "
                    "checks against the target its labels select, write the incident under "
                    "reports/incidents/<id>/ and post a short summary. Also serves GET /metrics (the "
                    "checks as gauges) and GET /healthz (the last run).")
    p.add_argument("--config", type=Path, default=None,
                   help="the receiver's config (YAML; docs/receiver.md). Default: one target from the "
                        "SERVICEDOWN_* variables, routed from the reference rules' service labels")
    p.add_argument("--listen", default=None, help="HOST:PORT (default 127.0.0.1:9095); beyond loopback "
                                                  "only with tls in the config")
    p.add_argument("--reports-dir", type=Path, default=None,
                   help="where incidents go (default reports/incidents)")
    p.add_argument("--token-file", type=Path, default=None,
                   help="the webhook's Bearer token (default ~/.cache/servicedown/webhook.token)")
    return p


def main(args: list[str]) -> int:
    opts = parser().parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    # httpx logs every URL it asks at INFO: the summary's webhook URL is often a secret.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        conf = rconfig.load(opts.config, listen=opts.listen, reports_dir=opts.reports_dir,
                            token_file=opts.token_file)
        token = rconfig.read_token(conf.token_file)
        tls = tls_context(str(conf.tls_cert), str(conf.tls_key)) if conf.tls else None
        receiver = Receiver(conf, token)
        server = Server(conf.host, conf.port, receiver, conf.limits, tls)
    except ConfigError as exc:
        print(f"servicedown serve: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except (OSError, ssl.SSLError) as exc:
        print(f"servicedown serve: cannot start: {exc}", file=sys.stderr)
        return USAGE_ERROR
    receiver.start()
    scheme = "https" if tls else "http"
    targets = "; ".join(f"{t.name} ({t.settings.target}"
                        + (f", Prometheus {redact(t.settings.prometheus_url)}" if t.settings.prometheus_url
                           else ", no Prometheus named: the related alerts are not read")
                        + (f", may restart on {', '.join(t.remediate)}" if t.remediate else "") + ")"
                        for t in conf.targets.values())
    print(f"servicedown serve: listening on {scheme}://{conf.host}:{conf.port} (POST {WEBHOOK_PATH}, "
          f"GET /metrics, GET /healthz); targets: {targets}; incidents under {conf.reports_dir}"
          + (f"; summaries to {conf.summary.where}" if conf.summary.url else ""), flush=True)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True)
    thread.start()
    while not stop.wait(1.0):
        pass
    print("servicedown serve: stopping", flush=True)
    server.shutdown()
    server.server_close()
    receiver.stop()
    return 0
