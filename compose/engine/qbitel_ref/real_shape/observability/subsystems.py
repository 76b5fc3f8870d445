"""The real engine's optional observability subsystems, which fail at every start.

A healthy real engine logs ``"level": "ERROR"`` lines about them ("Failed to configure
logging", "Failed to initialize metrics") and carries on. Both failures here are the real
thing, caught and logged the way upstream does:

- logging: ``from . import logging`` binds this package's own ``logging`` module, not the
  standard library's, and that module has no ``config``;
- metrics: the package defines HTTP metrics under the names the engine's own metrics already
  registered, and the registry refuses the duplicates.
"""

from __future__ import annotations

import logging as stdlib_logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from . import logging  # upstream's shadowing, kept: this is the module next door

log = stdlib_logging.getLogger("qbitel_ref.observability")

# What the subsystem would apply: a rotating JSON file next to stdout.
STRUCTURED_LOGGING_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "qbitel_ref.real_shape.observability.logging.JsonLineFormatter"}},
    "handlers": {
        "file": {
            "class": "logging.handlers.RotatingFileHandler",
            "formatter": "json",
            "filename": "qbitel-engine.log",
            "maxBytes": 10 * 1024 * 1024,
            "backupCount": 5,
        }
    },
    "root": {"handlers": ["file"]},
}


def configure_logging_subsystem() -> None:
    try:
        logging.config.dictConfig(STRUCTURED_LOGGING_CONFIG)  # type: ignore[attr-defined]
    except Exception as exc:
        log.error("Failed to configure logging: %s", exc)


def initialize_metrics(registry: CollectorRegistry) -> None:
    """Register the package's request metrics into the engine's registry."""
    try:
        Counter(
            "http_requests_total",
            "HTTP requests",
            ["method", "endpoint", "status_code"],
            registry=registry,
        )
        Histogram("http_request_duration_seconds", "HTTP request latency", ["method"], registry=registry)
    except ValueError as exc:
        log.error("Failed to initialize metrics: %s", exc)
