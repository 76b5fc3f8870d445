"""The engine's startup rules for its required secrets, judged without ever keeping a value.

Rules (engine contract, `startup_validation.py`): each of REQUIRED missing or empty is
CRITICAL; JWT_SECRET and ENCRYPTION_KEY shorter than 32 characters is ERROR; a weak pattern
(case-insensitive substring) in DATABASE_PASSWORD or JWT_SECRET is CRITICAL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

REQUIRED = ("DATABASE_PASSWORD", "JWT_SECRET", "ENCRYPTION_KEY")
MIN_LENGTH = {"JWT_SECRET": 32, "ENCRYPTION_KEY": 32}
WEAK_PATTERNS = ("password", "changeme", "admin", "root", "123456", "default", "secret")
WEAK_CHECKED = ("DATABASE_PASSWORD", "JWT_SECRET")

OK, ERROR, CRITICAL = "ok", "error", "critical"

# Variables whose values are secrets whatever the deployment calls them.
SECRET_NAME_HINTS = ("PASSWORD", "SECRET", "KEY", "TOKEN", "CREDENTIAL")

# What a target returns for a variable set from a secret store it must not read (a
# Kubernetes secretKeyRef): present, but its value cannot be judged here.
SECRET_REF = "<valueFrom reference present; value not read by design>"


def is_secret_ref(value: object) -> bool:
    return value == SECRET_REF


def is_secret_name(name: str) -> bool:
    """A variable whose value is to be masked everywhere (by its name alone)."""
    upper = name.upper()
    return any(h in upper for h in SECRET_NAME_HINTS)


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


def missing(reports: list[SecretReport]) -> list[SecretReport]:
    """The reports `startup.env` fails on."""
    return [r for r in reports if not r.present]


def weak_or_short(reports: list[SecretReport]) -> list[SecretReport]:
    """The present-but-unacceptable reports `startup.secrets` fails on."""
    return [r for r in reports if r.present and not r.ok]
