"""Reference QBITEL Engine: behaves like the real engine as seen from outside.

Run with ``python -m qbitel_ref``. Everything is configured by environment
variables (see ``settings.py``); startup validation (``validation.py``) runs
before anything else, exactly as the real engine's does.

QBITEL_ENGINE_PROFILE=real-shape makes it behave like the real engine as observed running
(``real_shape/``); QBITEL_ENGINE_HTTP500=true, with either profile, answers 500 to every
request (``request_tracking.py``).
"""

DEFAULT_VERSION = "1.0.0"
