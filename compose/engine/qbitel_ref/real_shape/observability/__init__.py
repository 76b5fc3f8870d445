"""The real engine's observability package, reproduced with its bugs (see real_shape/__init__.py)."""
