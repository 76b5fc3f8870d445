"""Plain JSON for what crosses the backend boundary: arguments, answers and exceptions.

JSON has no bytes, tuples, command results or HTTP answers; each is written as an object
tagged with `$type`, and read back as the same Python value, so a replayed target receives
exactly what the live one did. An exception is written as its class and message, and read
back as an instance of the same class, so a replay raises what the platform raised.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
from typing import Any

from servicedown.backends.command import BackendError, CommandResult
from servicedown.backends.http import HttpAnswer

TAG = "$type"


class CodecError(ValueError):
    """A recorded value that cannot be read back; the message names it."""


def encode(value: Any) -> Any:
    """A JSON-able form of `value` (dicts with str keys, lists, scalars, tagged objects)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray):
        return {TAG: "bytes", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, CommandResult):
        return {TAG: "CommandResult", **value.to_json()}
    if isinstance(value, HttpAnswer):
        return {TAG: "HttpAnswer", **{f.name: encode(getattr(value, f.name))
                                      for f in dataclasses.fields(value)}}
    if isinstance(value, tuple):
        return {TAG: "tuple", "items": [encode(v) for v in value]}
    if isinstance(value, set | frozenset):
        return {TAG: "set", "items": sorted((encode(v) for v in value), key=json.dumps)}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    raise CodecError(f"cannot record a {type(value).__name__}: only JSON data, bytes, tuples, "
                     "CommandResult and HttpAnswer cross the backend boundary")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(TAG)
    if kind is None:
        return {k: decode(v) for k, v in value.items()}
    if kind == "bytes":
        return base64.b64decode(value["base64"])
    if kind == "CommandResult":
        return CommandResult.from_json(value)
    if kind == "HttpAnswer":
        return HttpAnswer(**{k: decode(v) for k, v in value.items() if k != TAG})
    if kind == "tuple":
        return tuple(decode(v) for v in value["items"])
    if kind == "set":
        return {decode(v) for v in value["items"]}
    raise CodecError(f"unknown recorded type {kind!r}")


# --- exceptions -----------------------------------------------------------------------------
def encode_error(exc: BaseException) -> dict[str, Any]:
    cls = type(exc)
    doc: dict[str, Any] = {TAG: "raise", "class": f"{cls.__module__}:{cls.__qualname__}",
                           "message": str(exc)}
    status = getattr(exc, "status", None)  # the Kubernetes API's error status
    if isinstance(status, int):
        doc["status"] = status
    return doc


def is_error(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get(TAG) == "raise"


def decode_error(doc: dict[str, Any]) -> BaseException:
    """The recorded exception, of its own class where that class can be imported and built from
    its message; else a BackendError that names the class (the message stays the same)."""
    module, _, qualname = str(doc.get("class", "")).partition(":")
    message = str(doc.get("message", ""))
    cls: Any = None
    try:
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
    except (ImportError, AttributeError, ValueError):
        cls = None
    if isinstance(cls, type) and issubclass(cls, BaseException):
        try:
            exc = cls(doc["status"], message) if "status" in doc else cls(message)
            if str(exc) == message:
                return exc
        except Exception:  # a constructor with other arguments: fall through
            pass
    return BackendError(message)
