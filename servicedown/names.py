"""What each platform accepts as the values an operator gives, checked once, at the settings
layer, before any of them reaches a command line, a host or an API path. Each rule has the one
sentence a user reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from servicedown.redact import redact

if TYPE_CHECKING:
    from servicedown.config import Settings


def host_problem(spec: str) -> str:
    """Why testinfra must not be handed the --host spec, or "" when it may."""
    try:
        parts = urlsplit(spec)
        password = parts.password
    except ValueError:
        return f"--host '{redact(spec)}' is not a host spec; use local://, ssh://user@host or docker://name"
    if parts.scheme == "ssh" and password:
        # testinfra runs `sshpass -p PASSWORD ssh ...`: the password is in every process
        # listing on this machine and in testinfra's DEBUG log of each command.
        return (f"--host '{redact(spec)}': a password in an ssh:// spec is handed to sshpass on "
                "the command line, where process listings and logs show it; use key-based login "
                "(ssh://user@host) or paramiko://user:password@host, which keeps it in the process")
    return ""


def problems(settings: Settings) -> list[str]:
    """One sentence per value the platform in use would refuse or misread."""
    out = []
    if settings.target == "systemd":
        out.append(host_problem(settings.host))
    return [p for p in out if p]
