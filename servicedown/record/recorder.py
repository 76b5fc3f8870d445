"""Recording at the backend boundary: every call a target or the checks make of a platform, with
its arguments and the platform's answer.

A recording is the platform at one instant. The clock is read once (every later `now()` of the
run answers the same), and the first answer to a call is the answer to every identical call of
the run: the checks run concurrently, and two checks that asked the same question must see the
same answer for a replay to give exactly the live results. Calls that change the platform
(a restart) are logged and passed through every time.
"""

from __future__ import annotations

import functools
import inspect
import json
import shlex
import threading
from collections.abc import Callable
from typing import Any

from servicedown.record import codec
from servicedown.record.boundary import Boundary, boundary_of


def call_args(cls: type, method: str, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The call's arguments by parameter name, defaults filled in: `events(c, 1, 2)` and
    `events(c, since=1, until=2)` are the same call."""
    sig = inspect.signature(getattr(cls, method))
    bound = sig.bind(None, *args, **kwargs)
    bound.apply_defaults()
    params = dict(bound.arguments)
    params.pop(next(iter(sig.parameters)))  # self
    return params


SCRIPT_CHARS = 200  # a multi-line argument this long is a script the project sends


def call_key(method: str, encoded_args: Any) -> str:
    return method + " " + json.dumps(_without_scripts(encoded_args), sort_keys=True,
                                     separators=(",", ":"))


def _without_scripts(value: Any) -> Any:
    """A script the project sends (the PostgreSQL probe, the resources script, the systemd
    reader) keys a call by where it goes and its other arguments, not by its text: a fix inside
    a probe keeps the corpus replayable, and an answer the fixed probe would give otherwise
    shows as changed results, not as a call never recorded."""
    if isinstance(value, list):
        return [_without_scripts(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_scripts(v) for k, v in value.items()}
    if not (isinstance(value, str) and len(value) > SCRIPT_CHARS and "\n" in value):
        return value
    try:
        words = shlex.split(value)
    except ValueError:
        return "<script>"
    if len(words) >= 3 and words[1] == "-c" and not any(c.isspace() for c in words[0]):
        # A command line carrying a script (`sh -c '...' sh qbitel`): its other words stay.
        return shlex.join([words[0], "-c", "<script>", *words[3:]])
    return "<script>"


class _Entry:
    __slots__ = ("args", "answer", "done", "lock", "method", "times")

    def __init__(self, method: str, args: Any) -> None:
        self.method, self.args = method, args
        self.answer: Any = None
        self.done = False
        self.times = 0
        self.lock = threading.Lock()


class Recorder:
    """Wraps a backend instance in place: its platform calls (boundary.py) are logged, first
    answers memoised, its clock frozen at the first reading. `recorder.backend` is the same
    object, handed to the target as usual."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.boundary: Boundary = boundary_of(backend)
        self.clock: float | None = None
        self._entries: dict[str, _Entry] = {}
        self._order: list[str] = []
        self._guard = threading.Lock()
        for name in self.boundary.calls:
            setattr(backend, name, self._wrap(name, getattr(backend, name)))
        backend.now = self._now(backend.now)

    def _now(self, live: Callable[[], float]) -> Callable[[], float]:
        def now() -> float:
            with self._guard:
                if self.clock is None:
                    self.clock = float(live())
                return self.clock

        return now

    def _wrap(self, name: str, live: Callable[..., Any]) -> Callable[..., Any]:
        acting = name in self.boundary.acting
        cls = self.boundary.cls

        @functools.wraps(live)
        def call(*args: Any, **kwargs: Any) -> Any:
            encoded = codec.encode(call_args(cls, name, args, kwargs))
            key = call_key(name, encoded)
            with self._guard:
                entry = self._entries.get(key)
                if entry is None or acting:
                    entry = _Entry(name, encoded)
                    if acting:
                        key = f"{key} #{len(self._order)}"
                    self._entries[key] = entry
                    self._order.append(key)
            with entry.lock:  # a concurrent identical call waits for the first answer
                entry.times += 1
                if not entry.done:
                    try:
                        entry.answer = codec.encode(live(*args, **kwargs))
                    except BaseException as exc:
                        entry.answer = codec.encode_error(exc)
                    entry.done = True
                answer = entry.answer
            if codec.is_error(answer):
                raise codec.decode_error(answer)
            return codec.decode(answer)

        return call

    def snapshot(self) -> dict[str, Any]:
        """The recording of this backend so far: its clock, the state attributes targets read,
        and each distinct call with its answer (a call still waiting for the platform is kept
        as pending: its check ran out of time live, and must in a replay too)."""
        with self._guard:
            keys = list(self._order)
        calls = []
        for key in keys:
            e = self._entries[key]
            doc: dict[str, Any] = {"method": e.method, "args": e.args, "times": e.times}
            if e.done:
                doc["answer"] = e.answer
            else:
                doc["pending"] = True
            calls.append(doc)
        state = {name: codec.encode(getattr(self.backend, name, None)) for name in self.boundary.state}
        return {"backend": self.boundary.name, "clock": self.clock, "state": state, "calls": calls}
