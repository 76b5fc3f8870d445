"""What each platform accepts as the values an operator gives, checked once, at the settings
layer, before any of them reaches a command line, a host or an API path: `--unit=--host=x`
would be an option to systemctl, a namespace `../..` another API path, an ssh host
`-oProxyCommand=...` an option to ssh. Each rule has the one sentence a user reads.

Commands still put `--` before positional values; these rules are the first of two guards.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from servicedown.redact import redact

if TYPE_CHECKING:
    from servicedown.config import Settings

# systemd (unit_name_is_valid): letters, digits and ":-_.\" with one "@" for a template's
# instance, at most 255 characters with its type suffix.
_UNIT = re.compile(r"[A-Za-z0-9:_.\\-]+(?:@[A-Za-z0-9:_.\\-]*)?")
UNIT_TYPES = ("service", "socket", "target", "device", "mount", "automount", "swap", "timer",
              "path", "slice", "scope")
# Kubernetes: a namespace is a DNS-1123 label, a deployment a DNS-1123 subdomain; label keys
# are [prefix/]name, values a name or empty.
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")
_LABEL_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"(?:(?P<prefix>[^/]+)/)?{_LABEL_NAME}")
_LABEL_VALUE = re.compile(rf"(?:{_LABEL_NAME})?")
_SET_REQUIREMENT = re.compile(r"(?P<key>\S+)\s+(?P<op>in|notin)\s+\((?P<values>[^()]*)\)")
_EQUALITY = re.compile(r"(?P<key>[^=!\s]+)\s*(?P<op>==|!=|=)\s*(?P<value>.*)")
# Compose: project names as `docker compose` normalises them, service names as the spec has them.
_COMPOSE_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*")
_COMPOSE_SERVICE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
# testinfra hosts: an ssh host name or address, a user, a container name.
_HOSTNAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*)|\[[0-9A-Fa-f:.]+\]")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_CONTAINER = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_HOST_SCHEMES = {"local": "", "ssh": "host", "paramiko": "host", "safe-ssh": "host",
                 "docker": "container", "podman": "container"}


def unit_problem(unit: str) -> str:
    shown = f"--unit '{unit}'"
    name, dot, suffix = unit.rpartition(".") if re.search(r"\.[a-z]+$", unit) else (unit, "", "")
    if not _UNIT.fullmatch(name) or unit.startswith("-"):
        return (f"{shown} is not a systemd unit name: letters, digits and ':-_.\\' (one '@' for "
                "a template's instance), not starting with '-'; e.g. qbitel or qbitel.service")
    if dot and suffix not in UNIT_TYPES:
        return f"{shown}: '.{suffix}' is not a systemd unit type ({', '.join(UNIT_TYPES)})"
    if len(name) + len(".service") > 255:
        return f"{shown} is longer than the 255 characters systemd allows"
    return ""


def namespace_problem(namespace: str) -> str:
    if len(namespace) > 63 or not re.fullmatch(_DNS_LABEL, namespace):
        return (f"--namespace '{namespace}' is not a Kubernetes namespace: at most 63 lower-case "
                "letters, digits and '-', starting and ending with a letter or digit")
    return ""


def deployment_problem(deployment: str) -> str:
    if len(deployment) > 253 or not _DNS_SUBDOMAIN.fullmatch(deployment):
        return (f"--deployment '{deployment}' is not a Kubernetes name: lower-case letters, "
                "digits, '-' and '.', starting and ending with a letter or digit")
    return ""


def selector_problem(selector: str) -> str:
    """Kubernetes' label selector grammar: comma-separated `key`, `!key`, `key=value`,
    `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`."""
    shown = f"--selector '{selector}'"
    if not selector.strip():
        return f"{shown} is empty: give the engine's pod labels, e.g. app=qbitel-engine"
    for part in _requirements(selector):
        if part is None:
            return f"{shown}: unbalanced parentheses"
        why = _requirement_problem(part.strip())
        if why:
            return (f"{shown}: {why}; a selector is comma-separated key=value, key!=value, "
                    "key in (a,b), key notin (a,b), key or !key")
    return ""


def _requirements(selector: str) -> list[str | None]:
    """The selector split on the commas outside parentheses; None marks unbalanced ones."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth not in (0, 1):
            return [None]
        if ch == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    return [*parts, selector[start:]] if depth == 0 else [None]


def _requirement_problem(req: str) -> str:
    if m := _SET_REQUIREMENT.fullmatch(req):
        bad = [v.strip() for v in m["values"].split(",") if not _LABEL_VALUE.fullmatch(v.strip())]
        return _key_problem(m["key"]) or (f"'{bad[0]}' is not a label value" if bad else "")
    if m := _EQUALITY.fullmatch(req):
        if not _LABEL_VALUE.fullmatch(m["value"]):
            return f"'{m['value']}' is not a label value"
        return _key_problem(m["key"])
    return _key_problem(req.removeprefix("!").strip()) if req else "an empty requirement"


def _key_problem(key: str) -> str:
    m = _LABEL_KEY.fullmatch(key)
    prefix = m["prefix"] if m else None
    if not m or (prefix is not None and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix))):
        return f"'{key}' is not a label key"
    return ""


def compose_problems(project: str, services: dict[str, str]) -> list[str]:
    out = []
    if not _COMPOSE_PROJECT.fullmatch(project):
        out.append(f"--compose-project '{project}' is not a Compose project name: lower-case "
                   "letters, digits, '-' and '_', starting with a letter or digit "
                   "(docker compose ls shows the names)")
    for flag, name in services.items():
        if not _COMPOSE_SERVICE.fullmatch(name):
            out.append(f"{flag} '{name}' is not a Compose service name: letters, digits, '.', "
                       "'-' and '_', starting with a letter or digit")
    return out


def host_problem(spec: str) -> str:
    """Why testinfra must not be handed the --host spec, or "" when it may."""
    shown = f"--host '{redact(spec)}'"
    try:
        parts = urlsplit(spec)
        password = parts.password
    except ValueError:
        parts, password = None, None
    kind = _HOST_SCHEMES.get(parts.scheme) if parts and "://" in spec else None
    if kind is None:
        return (f"{shown} is not a host spec this project runs against: use local://, "
                "ssh://user@host, paramiko://user@host or docker://container")
    where = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    if kind == "host":
        name, _, port = where.rpartition(":") if not where.endswith("]") and ":" in where \
            else (where, "", "")
        if not _HOSTNAME.fullmatch(name) or (port and not port.isdigit()):
            return (f"{shown}: '{where}' is not a host name or address with an optional port "
                    "(it may not start with '-')")
        if user and not _USER.fullmatch(user):
            return f"{shown}: '{user}' is not a user name (letters, digits, '_.-', not starting with '-')"
    if kind == "container" and not _CONTAINER.fullmatch(where):
        return f"{shown}: '{where}' is not a container name (letters, digits, '_.-')"
    if parts.scheme == "ssh" and password:
        # testinfra runs `sshpass -p PASSWORD ssh ...`: the password is in every process
        # listing on this machine and in testinfra's DEBUG log of each command.
        return (f"{shown}: a password in an ssh:// spec is handed to sshpass on the command "
                "line, where process listings and logs show it; use key-based login "
                "(ssh://user@host) or paramiko://user:password@host, which keeps it in the process")
    return ""


def problems(settings: Settings) -> list[str]:
    """One sentence per value the platform in use would refuse or misread."""
    checks: dict[str, list[Callable[[], str | list[str]]]] = {
        "systemd": [lambda: unit_problem(settings.unit), lambda: host_problem(settings.host)],
        "kubernetes": [lambda: namespace_problem(settings.namespace),
                       lambda: deployment_problem(settings.deployment),
                       lambda: selector_problem(settings.selector)],
        "compose": [lambda: compose_problems(settings.compose_project,
                                             {"--service": settings.service,
                                              "--db-service": settings.db_service})],
    }
    out: list[str] = []
    for rule in checks.get(settings.target, []):
        found = rule()
        out += [found] if isinstance(found, str) else found
    return [p for p in out if p]
