"""Masking of secret values in any text that leaves the library (messages, log quotes, reports).

Two layers: the known secret values (taken from the target's environment, never printed),
and generic patterns that catch credentials nobody told us about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_LEN = 4  # shorter values ("on", "1") would mask half of every line

# Each pattern keeps its group 1 (the name or prefix) and masks the rest of the match.
# Possessive quantifiers and "not inside a run" lookbehinds keep every pattern linear in the
# length of the text: log lines can be long runs of word characters.
# Each is skipped unless its literal (lower case) is in the text: most lines hold none.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # scheme://user:password@host
    ("://", re.compile(r"((?<![\w+.-])[a-zA-Z][\w+.-]*+://[^\s:/@'\"]*+:)[^\s@/'\"]++(?=@)")),
    # Authorization: Bearer xyz / authorization=Basic xyz
    ("authorization", re.compile(
        r"(?i)(\bauthorization[\"']?\s*+[:=]\s*+[\"']?(?:(?:bearer|basic|token|digest)\s+)?)"
        r"[^\s\"',;]++")),
    ("bearer", re.compile(r"(?i)(\bbearer\s++)[\w.~+/=-]{8,}+")),
    # "password": "..." and the like in JSON
    ('"', re.compile(r"(?i)(\"[^\"\n]{0,40}?(?:passw|secret|token|key)[^\"\n]{0,40}?\"\s*+:\s*+\")"
                     r"(?:[^\"\\\n]|\\.)*+(?=\")")),
)
# NAME=value where NAME says it is a credential (env dumps, DSN parameters, CLI flags).
_ASSIGNMENT = re.compile(
    r"((?<![\w.-])([\w.-]++)\s*+=\s*+)(\"[^\"\n]*+\"|'[^'\n]*+'|[\"']?[^\s\"'&;,]++)")
_CREDENTIAL_NAME = re.compile(r"(?i)passw(?:or)?d|pwd|secret|key|token")


class Redactor:
    """Replaces known secret values (and their URL-encoded forms) and generic credentials by `***`.

    Never raises: bytes are decoded with replacement, anything else goes through `str()`.
    """

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for value in secret_values or ():
            if not isinstance(value, str) or len(value) < MIN_SECRET_LEN:
                continue
            forms.update({value, quote(value, safe=""), quote_plus(value)})
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._values = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: object) -> str:
        return self.redact(text)

    def redact(self, text: object) -> str:
        if text is None:
            return ""
        if isinstance(text, bytes | bytearray):
            text = bytes(text).decode("utf-8", "replace")
        elif not isinstance(text, str):
            try:
                text = str(text)
            except Exception:  # a broken __str__ must not break a report
                return MASK
        if self._values is not None:
            text = self._values.sub(MASK, text)
        low = text.lower()
        for literal, pattern in _PATTERNS:
            if literal in low:
                text = pattern.sub(_keep_prefix, text)
        if "=" in text:
            text = _ASSIGNMENT.sub(_mask_credential_assignment, text)
        return text

    def mask_json(self, value: Any) -> Any:
        """Every string inside a JSON-like value masked, keys too; other values as they are."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact(k) if isinstance(k, str) else k: self.mask_json(v)
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_json(v) for v in value]
        return value


def _keep_prefix(m: re.Match[str]) -> str:
    return m.group(1) + MASK


def _mask_credential_assignment(m: re.Match[str]) -> str:
    if not _CREDENTIAL_NAME.search(m.group(2)):
        return m.group(0)
    value = m.group(3)
    mark = value[0] if value[0] in "\"'" else ""  # keep the quotes, mask what they held
    return m.group(1) + mark + MASK + mark


DEFAULT = Redactor()


def redact(text: object) -> str:
    """Mask generic credential patterns (no known values) in `text`."""
    return DEFAULT.redact(text)


def mask_json(value: Any) -> Any:
    """Mask generic credential patterns in every string of a JSON-like value."""
    return DEFAULT.mask_json(value)
