"""Reference QBITEL Engine: behaves like the real engine as seen from outside.

Run with ``python -m qbitel_ref``. Everything is configured by environment
variables (see ``settings.py``); startup validation (``validation.py``) runs
before anything else, exactly as the real engine's does.
"""

DEFAULT_VERSION = "1.0.0"
