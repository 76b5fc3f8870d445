"""Replay at the backend boundary: a backend of the recorded kind whose platform calls are
answered from a recording, so the unchanged targets, checks and triage run on it.

Each recorded call is found by its method and arguments (masked as the recording was, see
masking.py); repeated identical calls are answered in the recorded order, the last answer
standing for any later repeat. A call that was never recorded is an error naming it: the
replay would otherwise judge something the platform never said. The live client is replaced
by a stand-in that refuses use, so a replay can never reach a platform.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from servicedown.backends.command import BackendError
from servicedown.record import codec
from servicedown.record.boundary import BOUNDARIES, Boundary
from servicedown.record.recorder import call_args, call_key
from servicedown.redact import Redactor

# A check whose platform call never answered live ran out of its bound; in a replay the call
# waits this long (the run's own bound stops the check first, as it did live).
PENDING_WAIT_S = 120.0


class UnrecordedCall(BackendError):
    """The replayed run asked the platform something the recording does not hold."""


class _NoClient:
    def __init__(self, backend: str) -> None:
        self._backend = backend

    def close(self) -> None:
        """Closing the backend is fine: nothing was opened."""

    def __getattr__(self, name: str) -> Any:
        raise UnrecordedCall(f"replay of a {self._backend} backend: the live client was used "
                             f"directly (.{name}), outside the recorded calls")


def normalise(encoded_args: Any) -> Any:
    """Arguments as a recording keeps them: the masking's generic patterns applied (values of
    known secrets are already stand-ins on both sides)."""
    return Redactor().mask_json(encoded_args)


class Replayer:
    """Answers one backend's calls from its recorded snapshot (recorder.Recorder.snapshot)."""

    def __init__(self, snapshot: dict[str, Any], make: Callable[[type], Any]) -> None:
        name = snapshot.get("backend")
        if name not in BOUNDARIES:
            raise codec.CodecError(f"unknown backend {name!r} in the recording; known: "
                                   f"{', '.join(BOUNDARIES)}")
        self.boundary: Boundary = BOUNDARIES[name]
        self.clock = snapshot.get("clock")
        self._answers: dict[str, list[dict[str, Any]]] = {}
        for call in snapshot.get("calls") or []:
            key = call_key(call["method"], normalise(call["args"]))
            self._answers.setdefault(key, []).append(call)
        self._served: dict[str, int] = {}
        self._guard = threading.Lock()
        self.unrecorded: list[str] = []
        backend = make(self.boundary.cls)
        setattr(backend, self.boundary.client, _NoClient(name))
        for attr, value in (snapshot.get("state") or {}).items():
            setattr(backend, attr, codec.decode(value))
        for method in self.boundary.calls:
            setattr(backend, method, self._answer(method))
        for method in self.boundary.streams:
            setattr(backend, method, self._no_stream(method))
        backend.now = self._now
        self.backend = backend

    def _now(self) -> float:
        if self.clock is None:
            raise UnrecordedCall(f"replay of a {self.boundary.name} backend: the clock was read, "
                                 "but the recorded run never read it")
        return float(self.clock)

    def _no_stream(self, method: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise UnrecordedCall(f"replay: {self.boundary.name}.{method} is a live stream; a "
                                 "recording holds one run's answers, not a stream")

        return refuse

    def _answer(self, method: str) -> Callable[..., Any]:
        cls = self.boundary.cls

        def call(*args: Any, **kwargs: Any) -> Any:
            encoded = normalise(codec.encode(call_args(cls, method, args, kwargs)))
            key = call_key(method, encoded)
            with self._guard:
                recorded = self._answers.get(key)
                if not recorded:
                    text = f"{self.boundary.name}.{method}({_short(encoded)})"
                    self.unrecorded.append(text)
                    raise UnrecordedCall(f"replay: {text} was not recorded")
                n = self._served.get(key, 0)
                self._served[key] = n + 1
                doc = recorded[min(n, len(recorded) - 1)]
            if doc.get("pending"):
                threading.Event().wait(PENDING_WAIT_S)
                raise UnrecordedCall(f"replay: {self.boundary.name}.{method} never answered live")
            answer = doc.get("answer")
            if codec.is_error(answer):
                raise codec.decode_error(answer)
            return codec.decode(answer)

        return call


def _short(encoded: Any, limit: int = 300) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in encoded.items()) if isinstance(encoded, dict) else str(encoded)
    return text if len(text) <= limit else text[: limit - 1] + "…"
