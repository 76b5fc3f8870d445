"""Entry point: `python -m qbitel_ref`.

Order matters: the profile (it picks the log format), logging, then startup
validation (fast, no network, before the web stack is even imported), then
settings, then the server.
"""

from __future__ import annotations

import signal
import sys

# First of all: as PID 1 a SIGTERM without a handler is ignored, so a `docker stop` that
# arrives while the imports below run would wait for its SIGKILL.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

import logging  # noqa: E402
import os  # noqa: E402
import ssl  # noqa: E402
from types import FrameType  # noqa: E402

from .logging_setup import configure_logging  # noqa: E402
from .settings import Profile, SettingsError, environment_name, read_profile  # noqa: E402
from .validation import validate_startup  # noqa: E402

logger = logging.getLogger("qbitel_ref")


def _configure_logging_for(profile: Profile) -> None:
    if profile is Profile.REAL_SHAPE:
        from .real_shape.observability.logging import configure_json_logging
        from .real_shape.observability.subsystems import configure_logging_subsystem

        configure_json_logging()
        configure_logging_subsystem()  # fails and says so, as upstream's does
    else:
        configure_logging()


def _exit_on_early_signal(signum: int, _frame: FrameType | None) -> None:
    # Until the server installs its drain handler. As PID 1 a signal without a
    # handler would be ignored and `docker stop` would wait for SIGKILL.
    logger.warning("Received %s during startup; exiting", signal.Signals(signum).name)
    raise SystemExit(0)


def main() -> int:
    try:
        profile = read_profile(os.environ)
    except SettingsError as exc:
        configure_logging()
        logger.critical("Failed to start QBITEL Engine: %s", exc)
        return 1
    _configure_logging_for(profile)
    signal.signal(signal.SIGTERM, _exit_on_early_signal)
    signal.signal(signal.SIGINT, _exit_on_early_signal)
    environment = environment_name(os.environ)
    logger.info("Starting QBITEL Engine (environment: %s, pid %d)", environment, os.getpid())
    try:
        if not validate_startup(os.environ, multiline_rules=profile is Profile.REAL_SHAPE):
            return 1
        from .settings import Settings

        settings = Settings.from_env(os.environ)
        from .server import run  # the web stack loads only after validation

        return run(settings)
    except (SettingsError, ssl.SSLError, OSError) as exc:
        # Expected configuration or environment problems: one clear line.
        logger.critical("Failed to start QBITEL Engine: %s", exc)
        return 1
    except Exception as exc:
        logger.critical("Failed to start QBITEL Engine: %s", exc, exc_info=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
