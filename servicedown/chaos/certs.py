"""TLS material for the TLS experiments, made on the spot (no key is ever kept on disk here).

EC P-256 keys: generated in about a millisecond, where RSA-2048 takes tens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TlsPair:
    cert_pem: bytes
    key_pem: bytes
    not_after: datetime


def make_pair(valid_days: float = 90.0, expired_days_ago: float | None = None,
              host: str = "localhost") -> TlsPair:
    """A self-signed certificate and its key: valid for `valid_days`, or, with
    `expired_days_ago`, one whose validity ended that many days ago."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    if expired_days_ago is not None:
        not_after = now - timedelta(days=expired_days_ago)
        not_before = not_after - timedelta(days=30)
    else:
        not_before = now - timedelta(minutes=5)
        not_after = now + timedelta(days=valid_days)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return TlsPair(cert.public_bytes(serialization.Encoding.PEM), key_pem, not_after)
