"""What every event source shares: the event, the thread that follows a platform and says when
it stops or starts answering, and the queue the loop reads."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

RETRY_S = 2.0  # pause before a source tries its platform again

@dataclass(frozen=True)
class WatchEvent:
    at: float  # epoch: the platform's time of the event where it gave one, else when heard
    kind: str  # a key of affected.AFFECTED
    what: str  # one line for people
    source: str  # docker | kubernetes | journal | health
    restart: bool = False  # the platform started the service (again)
    up: bool | None = None  # kind "platform": the source answers again (True) or not (False)


Emit = Callable[[WatchEvent], None]


class Source(threading.Thread):
    """One event source: `follow()` blocks while the platform streams, raising when it cannot be
    reached; run() retries it until `stop()`, with one `platform` event per change of answer."""

    name_word = "source"

    def __init__(self, emit: Emit) -> None:
        super().__init__(daemon=True, name=f"watch-{self.name_word}")
        self.emit = emit
        self.stopping = threading.Event()
        self.answering: bool | None = None
        self.problem = ""

    def follow(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.follow()
            except Exception as exc:  # whatever broke the stream is what the user sees
                if self.stopping.is_set():
                    return
                self.mark(False, " ".join(str(exc).split())[:240] or type(exc).__name__)
            self.stopping.wait(RETRY_S)

    def mark(self, up: bool, why: str = "") -> None:
        """Say once when the platform stops or starts answering."""
        if self.answering is up:
            return
        first = self.answering is None
        self.answering, self.problem = up, "" if up else why
        if first and up:
            return  # answering from the start: nothing changed
        what = (f"{self.name_word}: answering again" if up else
                f"{self.name_word}: not answering ({why})")
        self.emit(WatchEvent(time.time(), "platform", what, self.name_word, up=up))

    def stop(self) -> None:
        self.stopping.set()


class EventQueue:
    """The sources' events, for the loop: `wait` blocks until one comes or the bound passes,
    then gathers the burst that follows it (a kill, a die and a start come together)."""

    def __init__(self) -> None:
        self.q: queue.Queue[WatchEvent] = queue.Queue()

    def put(self, event: WatchEvent) -> None:
        self.q.put(event)

    def wait(self, timeout_s: float, burst_s: float = 0.05) -> list[WatchEvent]:
        try:
            first = self.q.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return []
        out = [first]
        deadline = time.monotonic() + burst_s
        while True:
            left = deadline - time.monotonic()
            try:
                out.append(self.q.get(timeout=max(left, 0.0)) if left > 0 else self.q.get_nowait())
            except queue.Empty:
                return out
