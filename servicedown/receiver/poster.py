"""Posts each summary where the config says (a chat's incoming webhook, or any URL taking JSON):
`{"text": SUMMARY}`, which Slack, Mattermost and Rocket.Chat show as a message as it is.

One thread, a bounded queue (a summary that cannot wait is dropped and logged), every POST
bounded in time; the URL is shown only as scheme and host, as its path is often the secret.
"""

from __future__ import annotations

import logging
import queue
import threading

import httpx

from servicedown.receiver.config import SummaryConfig, read_token

log = logging.getLogger("servicedown.receiver")
QUEUE = 64
TIMEOUT_S = 5.0


class SummaryPoster:
    def __init__(self, conf: SummaryConfig) -> None:
        self.conf = conf
        self._token = read_token(conf.token_file) if conf.token_file is not None else ""
        self._queue: queue.Queue[str | None] = queue.Queue(QUEUE)
        self._thread = threading.Thread(target=self._loop, name="summary-poster", daemon=True)
        self.posted = 0
        self.failed = 0

    @property
    def enabled(self) -> bool:
        return bool(self.conf.url)

    def start(self) -> None:
        if self.enabled:
            self._thread.start()

    def post(self, text: str) -> None:
        if not self.enabled:
            return
        try:
            self._queue.put_nowait(text)
        except queue.Full:
            self.failed += 1
            log.warning("summary not posted to %s: %d summaries are waiting already", self.conf.where, QUEUE)

    def stop(self, timeout_s: float) -> None:
        if self._thread.is_alive():
            try:
                self._queue.put(None, timeout=timeout_s)
            except queue.Full:
                return
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        headers = {"User-Agent": "servicedown-receiver/0.1"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        with httpx.Client(timeout=httpx.Timeout(TIMEOUT_S, connect=2.0), headers=headers,
                          follow_redirects=False) as client:
            while (text := self._queue.get()) is not None:
                try:
                    resp = client.post(self.conf.url, json={"text": text})
                    ok = resp.status_code < 300
                    reason = f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    ok, reason = False, type(exc).__name__
                if ok:
                    self.posted += 1
                else:
                    self.failed += 1
                    log.warning("summary not posted to %s: %s", self.conf.where, reason)
