"""Masking of secret values in any text that leaves the library (messages, log quotes, reports).

Two layers: the known secret values (taken from the target's environment, never printed), in
every encoding a report could carry them in, and generic patterns that catch credentials
nobody told us about (`NAME=value`, `password: x`, `--password x`, `{'password': 'x'}`,
`scheme://user:password@host`, Authorization headers).

Text is masked before it is cut to a length, never after: a cut could leave a secret's
prefix that no pattern and no known value recognises any more. `Redactor.clip` does both, in
that order; nothing else cuts text that leaves the library.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from servicedown.secrets import MIN_MASKABLE, is_credential_name, is_secret_name

MASK = "***"
ELLIPSIS = "…"
MIN_SECRET_LEN = MIN_MASKABLE  # shorter values ("on", "1") would mask half of every line
_MIN_BASE64_CORE = 8  # a shorter run of base64 characters could be any word

# What a value looks like after `=` or `:`: quoted (quotes kept, content masked) or one token.
_VALUE = r"(\"[^\"\n]*+\"|'[^'\n]*+'|[\"']?[^\s\"'&;,}\]]++)"

# Each pattern keeps its group 1 (the name or prefix) and masks the rest of the match.
# Possessive quantifiers and "not inside a run" lookbehinds keep every pattern linear in the
# length of the text: log lines can be long runs of word characters.
# Each is skipped unless its literal (lower case) is in the text: most lines hold none.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Authorization: Bearer xyz / authorization=Basic xyz
    ("authorization", re.compile(
        r"(?i)(\bauthorization[\"']?\s*+[:=]\s*+[\"']?(?:(?:bearer|basic|token|digest)\s+)?)"
        r"[^\s\"',;]++")),
    ("bearer", re.compile(r"(?i)(\bbearer\s++)[\w.~+/=-]{8,}+")),
)
# scheme://user:password@host (the password, which may hold an unencoded "/" but not "//":
# that bound keeps the scan linear), and http(s)://token@host (a token given as the user).
_URL = re.compile(
    r"((?<![\w+.-])([a-zA-Z][\w+.-]*+)://)([^\s:/@'\"]*+)(:(?:[^\s@'\"/]|/(?!/))*+)?(?=@)")
_TOKEN_AS_USER_SCHEMES = ("http", "https", "ws", "wss")
# "password": "x", 'password': 'x', "password": 1234 (JSON, Python reprs); the key decides.
_QUOTED_KEY = re.compile(
    r"((\"|')([^\"'\n]{1,60}+)\2\s*+:\s*+)(\"(?:[^\"\\\n]|\\.)*+\"|'(?:[^'\\\n]|\\.)*+'|[^\s,}\]]++)")
# NAME=value where NAME says it may be a credential (env dumps, DSN parameters, --flag=value).
_ASSIGNMENT = re.compile(r"((?<![\w.-])([\w.-]++)\s*+=\s*+)" + _VALUE)
# password: x, --password x: the name must say "credential" and stand alone, not be a word of
# prose ("Secret: JWT_SECRET - must be set" is the engine naming a variable).
_COLON = re.compile(r"((?<![\w.-])([\w.-]++)\s*+:[ \t]*+)" + _VALUE)
_FLAG = re.compile(r"((?<![\w-])(--?[A-Za-z][\w.-]*+)[ \t]++)(?!-)" + _VALUE)
_AMBIGUOUS_WORDS = frozenset({"pass", "secret", "secrets", "key", "keys", "auth", "credential",
                              "credentials", "dsn"})
_PERCENT_HEX = re.compile(r"%[0-9A-F]{2}")


def _literal(form: str) -> str:
    """A form as a pattern; percent-encoding matches with hex digits in either case (%2f, %2F)."""
    return _PERCENT_HEX.sub(lambda m: "%" + "".join(f"[{c}{c.lower()}]" if c.isalpha() else c
                                                    for c in m.group(0)[1:]), re.escape(form))


def encoded_forms(value: str) -> set[str]:
    """The value as a report could carry it: as is, URL-encoded (either case of hex), JSON- and
    HTML-escaped, and base64 (standard and URL-safe, at each alignment inside a longer text)."""
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
             html.escape(value)}
    forms.update({quote(value, safe=""), quote(value), quote_plus(value)})
    data = value.encode("utf-8", "surrogateescape")
    whole = base64.b64encode(data).decode()
    b64 = {whole, whole.rstrip("=")}
    for shift in range(3):
        # Inside a longer base64 text the value starts at any of 3 offsets; only the groups of
        # 4 characters made of its bytes alone are the same whatever surrounds it.
        encoded = base64.b64encode(b"\0" * shift + data).decode()
        core = encoded[4 if shift else 0: 4 * ((shift + len(data)) // 3)]
        if len(core) >= _MIN_BASE64_CORE:
            b64.add(core)
    forms |= b64 | {f.replace("+", "-").replace("/", "_") for f in b64}
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


class Redactor:
    """Replaces known secret values (in every encoded form) and generic credentials by `***`.

    Never raises: bytes are decoded with replacement, anything else goes through `str()`.
    """

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for value in secret_values or ():
            if not isinstance(value, str) or len(value) < MIN_SECRET_LEN:
                continue
            forms |= encoded_forms(value)
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._values = re.compile("|".join(map(_literal, ordered))) if ordered else None

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
        if "://" in text:
            text = _URL.sub(_mask_userinfo, text)
        if "'" in text or '"' in text:
            text = _QUOTED_KEY.sub(_mask_quoted_key, text)
        if "=" in text:
            text = _ASSIGNMENT.sub(_mask_if(is_secret_name), text)
        if ":" in text:
            text = _COLON.sub(_mask_if(_names_credential), text)
        if "-" in text:
            text = _FLAG.sub(_mask_if(_names_credential), text)
        return text

    def clip(self, text: object, limit: int) -> str:
        """The text masked, then cut to at most `limit` characters. A cut never leaves part of
        a word: a secret cut in two would not be recognised by a redactor that knows it."""
        text = self.redact(text)
        if len(text) <= limit:
            return text
        end = max(limit - len(ELLIPSIS), 0)
        if not text[end].isspace():
            while end > 0 and not text[end - 1].isspace():
                end -= 1
        return text[:end].rstrip() + ELLIPSIS

    def mask_json(self, value: Any) -> Any:
        """Every string inside a JSON-like value masked, keys too; other values as they are.
        A string under a key that names a credential (`db_password`, `api_key`) is masked whole."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact(k) if isinstance(k, str) else k:
                    MASK if isinstance(v, str) and v and isinstance(k, str) and is_credential_name(k)
                    else self.mask_json(v)
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_json(v) for v in value]
        return value


def _names_credential(name: str) -> bool:
    name = name.lstrip("-")
    return is_credential_name(name) and name.lower() not in _AMBIGUOUS_WORDS


def _keep_prefix(m: re.Match[str]) -> str:
    return m.group(1) + MASK


def _mask_userinfo(m: re.Match[str]) -> str:
    head, scheme, user, password = m.group(1), m.group(2), m.group(3), m.group(4)
    if password:
        return f"{head}{user}:{MASK}"
    if user and scheme.lower() in _TOKEN_AS_USER_SCHEMES:
        return head + MASK
    return m.group(0)


def _mask_quoted_key(m: re.Match[str]) -> str:
    if not is_credential_name(m.group(3)):
        return m.group(0)
    return m.group(1) + _masked_value(m.group(4))


def _masked_value(value: str) -> str:
    mark = value[0] if value[0] in "\"'" else ""  # keep the quotes, mask what they held
    return mark + MASK + mark


def _mask_if(rule: Any) -> Any:
    def replace(m: re.Match[str]) -> str:
        if not rule(m.group(2).lstrip("-")):
            return m.group(0)
        return m.group(1) + _masked_value(m.group(3))

    return replace


DEFAULT = Redactor()


def redact(text: object) -> str:
    """Mask generic credential patterns (no known values) in `text`."""
    return DEFAULT.redact(text)


def clip(text: object, limit: int) -> str:
    """Mask generic credential patterns in `text`, then cut it to `limit` characters."""
    return DEFAULT.clip(text, limit)


def mask_json(value: Any) -> Any:
    """Mask generic credential patterns in every string of a JSON-like value."""
    return DEFAULT.mask_json(value)
