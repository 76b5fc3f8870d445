import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from servicedown.probes.tlscheck import inspect_tls

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert(key, not_before, not_after, cn="qbitel-engine"):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def other_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def test_valid_pair(key):
    cert = _cert(key, NOW - dt.timedelta(days=10), NOW + dt.timedelta(days=90))
    r = inspect_tls(pem(cert), _key_pem(key), warn_days=14, now=NOW)
    assert r.present and r.ok and r.problems == []
    assert r.key_matches is True and not r.expired and not r.expiring_soon
    assert r.expires_in_days == pytest.approx(90)
    assert r.subject == "CN=qbitel-engine"
    assert r.not_after == NOW + dt.timedelta(days=90)


def test_expired(key):
    cert = _cert(key, NOW - dt.timedelta(days=100), NOW - dt.timedelta(days=1))
    r = inspect_tls(pem(cert), _key_pem(key), warn_days=14, now=NOW)
    assert r.expired and not r.expiring_soon and r.expires_in_days == pytest.approx(-1)
    assert any("expired" in p for p in r.problems)


def test_expiring_soon_boundary(key):
    cert = _cert(key, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=5))
    assert inspect_tls(pem(cert), _key_pem(key), warn_days=14, now=NOW).expiring_soon
    assert not inspect_tls(pem(cert), _key_pem(key), warn_days=5, now=NOW).expiring_soon
    r = inspect_tls(pem(cert), _key_pem(key), warn_days=14, now=NOW)
    assert r.problems == ["certificate expires in 5.0 days"]


def test_not_yet_valid(key):
    cert = _cert(key, NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=90))
    r = inspect_tls(pem(cert), _key_pem(key), warn_days=14, now=NOW)
    assert r.not_yet_valid and not r.ok


def test_mismatched_key(key, other_key):
    cert = _cert(key, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=90))
    r = inspect_tls(pem(cert), _key_pem(other_key), warn_days=14, now=NOW)
    assert r.key_matches is False
    assert "private key does not match the certificate" in r.problems


def test_chain_uses_the_leaf_and_naive_now_is_utc(key, other_key):
    leaf = _cert(key, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=30), cn="leaf")
    ca = _cert(other_key, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=900), cn="ca")
    r = inspect_tls(pem(leaf) + pem(ca), _key_pem(key), 14, now=NOW.replace(tzinfo=None))
    assert r.subject == "CN=leaf" and r.key_matches and r.expires_in_days == pytest.approx(30)


def test_der_and_str_inputs(key):
    cert = _cert(key, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=30))
    der = cert.public_bytes(serialization.Encoding.DER)
    assert inspect_tls(der, _key_pem(key).decode(), 14, now=NOW).key_matches is True


def test_missing_files():
    r = inspect_tls(None, None, 14, now=NOW)
    assert not r.present and r.key_matches is None
    assert r.problems == ["certificate file missing", "key file missing"]


def test_key_in_the_certificate_slot_is_named_and_never_quoted(key):
    key_pem = _key_pem(key)
    r = inspect_tls(key_pem, key_pem, 14, now=NOW)
    assert r.cert_present and r.errors == [
        "certificate file is not a valid PEM/DER certificate (it holds a private key)"]
    body = b"".join(key_pem.splitlines()[1:-1]).decode()
    for text in (repr(r), str(r.to_json()), " ".join(r.problems)):
        assert body[:20] not in text and "PRIVATE KEY" not in text


def test_encrypted_key(key):
    cert = _cert(key, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=30))
    enc = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"passphrase"))
    r = inspect_tls(pem(cert), enc, 14, now=NOW)
    assert r.key_matches is None and any("encrypted" in e for e in r.errors)


NOT_A_CERT = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("garbage", [b"", b"   \n", b"\x00\xff" * 1000, NOT_A_CERT,
                                     "é-----BEGIN", b"-----BEGIN" * 10_000])
def test_garbage_never_raises(garbage):
    r = inspect_tls(garbage, garbage, 14, now=NOW)
    assert not r.ok and len(r.errors) == 2 and r.key_matches is None


def test_to_json_is_serialisable(key):
    import json
    cert = _cert(key, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=30))
    d = inspect_tls(pem(cert), _key_pem(key), 14, now=NOW).to_json()
    assert json.loads(json.dumps(d))["not_after"].startswith("2026-07-01")
