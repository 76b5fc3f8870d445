"""The engine's TLS certificate and key, judged from their bytes (runbook cause-4.3).

The caller reads the files (None = no such file). Nothing here keeps or prints key material:
every error about the key is one of a few fixed sentences.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class TLSReport:
    cert_present: bool
    key_present: bool
    errors: list[str] = field(default_factory=list)  # unreadable / unparsable files
    subject: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    expired: bool = False
    not_yet_valid: bool = False
    expires_in_days: float | None = None  # negative once expired
    expiring_soon: bool = False  # valid now, but for fewer than warn_days
    key_matches: bool | None = None  # None when either side is missing or unparsable

    @property
    def present(self) -> bool:
        return self.cert_present and self.key_present

    @property
    def problems(self) -> list[str]:
        """Every reason `startup.tls` should fail, as sentences; empty when all is well."""
        out = []
        if not self.cert_present:
            out.append("certificate file missing")
        if not self.key_present:
            out.append("key file missing")
        out.extend(self.errors)
        if self.expired and self.not_after:
            out.append(f"certificate expired on {self.not_after:%Y-%m-%d %H:%M} UTC")
        elif self.not_yet_valid and self.not_before:
            out.append(f"certificate not valid before {self.not_before:%Y-%m-%d %H:%M} UTC")
        elif self.expiring_soon and self.expires_in_days is not None:
            out.append(f"certificate expires in {self.expires_in_days:.1f} days")
        if self.key_matches is False:
            out.append("private key does not match the certificate")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("not_before", "not_after"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def inspect_tls(
    cert_pem: bytes | str | None,
    key_pem: bytes | str | None,
    warn_days: int = 14,
    now: datetime | None = None,
) -> TLSReport:
    """Parse the leaf certificate (PEM chain or DER) and the private key; never raises."""
    now = _utc(now or datetime.now(UTC))
    errors: list[str] = []
    cert = _load_cert(_as_bytes(cert_pem), errors) if cert_pem is not None else None
    key = _load_key(_as_bytes(key_pem), errors) if key_pem is not None else None
    if cert is None:
        return TLSReport(cert_pem is not None, key_pem is not None, errors)

    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    days = (not_after - now).total_seconds() / 86400
    expired = now > not_after
    not_yet_valid = now < not_before
    matches = None
    if key is not None:
        try:
            theirs = key.public_key().public_bytes(*_SPKI)
            matches = cert.public_key().public_bytes(*_SPKI) == theirs
        except Exception:
            errors.append("could not compare the key with the certificate")
    return TLSReport(
        cert_present=True,
        key_present=key_pem is not None,
        errors=errors,
        subject=_subject(cert),
        not_before=not_before,
        not_after=not_after,
        expired=expired,
        not_yet_valid=not_yet_valid,
        expires_in_days=round(days, 3),
        expiring_soon=not expired and days < warn_days,
        key_matches=matches,
    )


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _load_cert(data: bytes, errors: list[str]) -> x509.Certificate | None:
    if not data.strip():
        errors.append("certificate file is empty")
        return None
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)[0]  # the leaf comes first
        return x509.load_der_x509_certificate(data)
    except Exception:
        hint = " (it holds a private key)" if b"PRIVATE KEY-----" in data else ""
        errors.append(f"certificate file is not a valid PEM/DER certificate{hint}")
        return None


def _load_key(data: bytes, errors: list[str]) -> Any:
    if not data.strip():
        errors.append("key file is empty")
        return None
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_der_private_key(data, password=None)
    except TypeError:  # cryptography's way of saying "encrypted, and no password given"
        errors.append("key file is encrypted (the engine cannot load it without a passphrase)")
    except Exception:  # the exception text may quote key bytes: say nothing of it
        errors.append("key file is not a valid unencrypted PEM/DER private key")
    return None


def _subject(cert: x509.Certificate) -> str | None:
    try:
        return cert.subject.rfc4514_string()
    except Exception:
        return None
