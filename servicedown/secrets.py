"""The engine's startup rules for its required secrets, judged without ever keeping a value.

Rules (engine contract, `startup_validation.py`): each of REQUIRED missing or empty is
CRITICAL; JWT_SECRET and ENCRYPTION_KEY shorter than 32 characters is ERROR; a weak pattern
(case-insensitive substring) in DATABASE_PASSWORD or JWT_SECRET is CRITICAL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

REQUIRED = ("DATABASE_PASSWORD", "JWT_SECRET", "ENCRYPTION_KEY")
MIN_LENGTH = {"JWT_SECRET": 32, "ENCRYPTION_KEY": 32}
WEAK_PATTERNS = ("password", "changeme", "admin", "root", "123456", "default", "secret")
WEAK_CHECKED = ("DATABASE_PASSWORD", "JWT_SECRET")

OK, ERROR, CRITICAL = "ok", "error", "critical"

# What a target returns for a variable set from a secret store it must not read (a
# Kubernetes secretKeyRef): present, but its value cannot be judged here.
SECRET_REF = "<valueFrom reference present; value not read by design>"


def is_secret_ref(value: object) -> bool:
    return value == SECRET_REF


@dataclass(frozen=True)
class SecretReport:
    """What is known about one required variable. Holds no value, so no repr can leak one."""

    name: str
    present: bool
    length: int
    weak_patterns: list[str] = field(default_factory=list)
    too_short: bool = False  # only for a present value; a missing one is `present=False`
    severity: str = OK  # "ok" | "error" | "critical", as the engine would log it
    value_read: bool = True  # False: set from a secret reference, present but not judged

    @property
    def ok(self) -> bool:
        return self.severity == OK

    @property
    def problems(self) -> list[str]:
        """Human sentences (names and lengths only) for messages and reports."""
        if not self.present:
            return [f"{self.name} is missing or empty"]
        out = []
        if self.too_short:
            out.append(f"{self.name} is {self.length} characters, needs at least "
                       f"{MIN_LENGTH[self.name]}")
        if self.weak_patterns:
            out.append(f"{self.name} contains weak pattern(s): {', '.join(self.weak_patterns)}")
        return out


def assess_one(name: str, value: str | bytes | None) -> SecretReport:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or not value:
        return SecretReport(name, present=False, length=0, severity=CRITICAL)
    if is_secret_ref(value):
        return SecretReport(name, present=True, length=0, value_read=False)
    lowered = value.lower()
    weak = [p for p in WEAK_PATTERNS if p in lowered] if name in WEAK_CHECKED else []
    too_short = len(value) < MIN_LENGTH.get(name, 0)
    severity = CRITICAL if weak else ERROR if too_short else OK
    return SecretReport(name, True, len(value), weak, too_short, severity)


def assess(env: Mapping[str, str], names: tuple[str, ...] = REQUIRED) -> list[SecretReport]:
    """One report per required variable, in `names` order."""
    return [assess_one(name, env.get(name)) for name in names]


# --- which variables hold secrets, whatever a deployment calls them -------------------------
# A name that ends in a credential word holds a credential (DB_PASS, SMTP_PASS, SENTRY_DSN,
# PROXY_AUTH, API_KEY, GITHUB_TOKEN, CLIENTSECRET): its value is masked and judged.
_CREDENTIAL_WORDS = r"pass(?:w(?:or)?d|phrase)?|pwd|secrets?|tokens?|keys?|credentials?|dsn|auth"
_ENDS_IN_CREDENTIAL = re.compile(
    rf"(?i)(?:^|[_.-])(?:{_CREDENTIAL_WORDS})$|(?:passw(?:or)?d|passphrase|secret|token|key)s?$")
# A credential word anywhere (JWT_SECRET_FILE, SECRET_KEY_BASE): masked too, not judged.
_HOLDS_CREDENTIAL_WORD = re.compile(
    r"(?i)passw(?:or)?d|passphrase|secret|token|credential|key"
    r"|(?:^|[_.-])(?:pass|pwd|dsn|auth)(?:$|[_.-])")
# The shell's working directories, not passwords.
_NOT_CREDENTIALS = frozenset({"PWD", "OLDPWD"})
# Values that are settings, not secrets, whatever the name (AUTH_ENABLED=true): masking them
# would hide every "true" of a report.
_PLAIN_VALUES = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null", "enabled",
                           "disabled"})
# scheme://user:password@host in any value (DATABASE_URL, a DSN, a proxy URL).
_URL_USERINFO = re.compile(r"(?i)\b([a-z][\w+.-]*)://([^\s/?#@'\"]*)@")
_TOKEN_AS_USER_SCHEMES = ("http", "https", "ws", "wss")
# Below this length a value cannot be masked wherever it appears (it would mask half of
# every line); such a value is reported as weak instead, and masked only in credential shapes.
MIN_MASKABLE = 4


def is_credential_name(name: str) -> bool:
    """The name says its value is a credential (judged by `short_secrets`, masked everywhere)."""
    return name.upper() not in _NOT_CREDENTIALS and bool(_ENDS_IN_CREDENTIAL.search(name))


def is_secret_name(name: str) -> bool:
    """The name says its value is, or may be, a secret: every value of such a name is masked."""
    return name.upper() not in _NOT_CREDENTIALS and (
        is_credential_name(name) or bool(_HOLDS_CREDENTIAL_WORD.search(name)))


def url_credentials(value: str) -> list[str]:
    """The passwords in the URLs a value holds (as written and decoded), and the user of an
    http(s) URL that has no password (a token given as the user, `https://TOKEN@host`)."""
    out: list[str] = []
    for m in _URL_USERINFO.finditer(value):
        user, sep, password = m.group(2).partition(":")
        if sep:
            out += [password, unquote(password)]
        elif m.group(1).lower() in _TOKEN_AS_USER_SCHEMES:
            out += [user, unquote(user)]
    return [v for v in dict.fromkeys(out) if v]


def secret_values(env: Mapping[str, str]) -> list[str]:
    """Every value an environment holds that must never be shown: the values of secret names,
    and the credentials inside any URL-shaped value (DATABASE_URL, a proxy URL...)."""
    out: list[str] = []
    for name, value in env.items():
        if not isinstance(value, str) or not value or is_secret_ref(value):
            continue
        if is_secret_name(name) and value.strip().lower() not in _PLAIN_VALUES:
            out.append(value)
            if is_credential_name(name) and ":" in value and "://" not in value:
                out.append(value.partition(":")[2])  # user:password (PROXY_AUTH, BASIC_AUTH)
        out += url_credentials(value)
    return list(dict.fromkeys(v for v in out if v))


def short_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """Name -> a sentence (name and length only) for each credential shorter than MIN_MASKABLE:
    weak by any standard, and too short to be masked wherever it might appear."""
    out: dict[str, str] = {}
    for name, value in env.items():
        if not isinstance(value, str) or not value or is_secret_ref(value):
            continue
        if (is_credential_name(name) and len(value) < MIN_MASKABLE
                and value.lower() not in _PLAIN_VALUES):
            out[name] = (f"{name} is {len(value)} character(s): weak, and too short to be "
                         "masked in every output")
        elif any(len(c) < MIN_MASKABLE for c in url_credentials(value)):
            out[name] = (f"{name} holds a URL whose password is shorter than {MIN_MASKABLE} "
                         "characters: weak, and too short to be masked in every output")
    return out


def missing(reports: list[SecretReport]) -> list[SecretReport]:
    """The reports `startup.env` fails on."""
    return [r for r in reports if not r.present]


def weak_or_short(reports: list[SecretReport]) -> list[SecretReport]:
    """The present-but-unacceptable reports `startup.secrets` fails on."""
    return [r for r in reports if r.present and not r.ok]
