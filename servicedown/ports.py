"""Free loopback ports, for the servers and stacks the project starts itself."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port nothing listens on now (bound, then released).

    Chosen here rather than left to Docker: Docker picks a new random host port each time a
    container restarts, and the restart policy restarts the engine during chaos."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
