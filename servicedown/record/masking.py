"""No secret value in a recording, and a replay that still judges exactly what the live run did.

Three passes over the recorded document, in this order:
1. Private keys (PEM blocks, DER files) are swapped for stand-in keys of the same type and
   size, and each recorded certificate of a swapped key is re-issued for its stand-in with the
   same subject, issuer, serial, dates and extensions: the TLS check finds the same dates and
   the same "key matches" answer, and no key material of the service is kept.
2. Each secret value (the values of secret-looking variables: the service's environment, every
   recorded container's, and any the caller knows) is replaced everywhere, in arguments and
   answers alike, by a stand-in of the same length holding the same weak patterns: the checks
   judge presence, length and weakness exactly as they did, and the same calls are made with
   the same arguments. A stand-in starts with ',' so that the Redactor's NAME=value rule
   leaves it readable, and ends with a run of x/z that tells stand-ins apart.
3. The whole document goes through the project's Redactor with the run's known secret values:
   a value that escaped pass 2 is masked, and so are the generic credential shapes (URLs with
   passwords, bearer tokens, password=... in log lines), as every message of the checks is.

Values shorter than the Redactor's minimum (4 characters) are not secrets to it, nor here.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets as rnd
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from servicedown.record.codec import TAG
from servicedown.redact import MIN_SECRET_LEN, Redactor
from servicedown.secrets import WEAK_PATTERNS, is_secret_ref, secret_values

STANDIN_MARK = ","
_FILLER = "xz"
_PEM_KEY = re.compile(rb"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----\r?\n.*?-----END \1-----", re.S)
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.S)
_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
JUNK_KEY = b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----"


def standin(value: str, index: int) -> str:
    """A value of the same length with the same weak patterns; `index` makes it unique.
    A value made of nothing but weak words has no room for the mark: its words are kept in
    another order (a different value, judged the same)."""
    lowered = value.lower()
    words = [w for w in WEAK_PATTERNS if w in lowered]
    body = STANDIN_MARK + "".join(words)
    room = len(value) - len(body)
    if room < 0:
        other = "".join(reversed(words))
        return other if len(other) == len(value) and other != lowered else body[: len(value)]
    tail = "".join(_FILLER[(index >> bit) & 1] for bit in range(8))
    return body + ("x" * room + tail)[-room:] if room else body


def is_standin(value: str) -> bool:
    return value.startswith(STANDIN_MARK)


# --- finding the secret values --------------------------------------------------------------
def env_secrets(env: Mapping[str, str] | None) -> dict[str, str]:
    """value -> variable name, for every value of an environment that must never be shown
    (secrets.secret_values: secret-looking names, credentials inside URLs)."""
    out: dict[str, str] = {}
    for name, value in (env or {}).items():
        if not isinstance(value, str) or is_secret_ref(value) or is_standin(value):
            continue
        for v in secret_values({name: value}):
            if len(v) >= MIN_SECRET_LEN:
                out.setdefault(v, name)
    return out


def recorded_env_secrets(doc: Any) -> dict[str, str]:
    """Secret values in the environments the recording holds: Docker's `Config.Env` lists and
    Kubernetes' `env: [{name, value}]` items, wherever they sit in the answers."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            env = node.get("Env")
            if isinstance(env, list):
                found.update(env_secrets(dict(str(i).partition("=")[::2] for i in env
                                              if isinstance(i, str))))
            if isinstance(node.get("name"), str) and isinstance(node.get("value"), str):
                found.update(env_secrets({node["name"]: node["value"]}))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return found


# --- walking strings and bytes of a recorded document ----------------------------------------
def transform(doc: Any, on_text: Callable[[str], str], on_bytes: Callable[[bytes], bytes]) -> Any:
    if isinstance(doc, str):
        return on_text(doc)
    if isinstance(doc, list):
        return [transform(v, on_text, on_bytes) for v in doc]
    if isinstance(doc, dict):
        if doc.get(TAG) == "bytes":
            raw = on_bytes(base64.b64decode(doc["base64"]))
            return {TAG: "bytes", "base64": base64.b64encode(raw).decode("ascii")}
        return {k: transform(v, on_text, on_bytes) for k, v in doc.items()}
    return doc


def _texts(doc: Any) -> Iterable[bytes]:
    found: list[bytes] = []

    def grab(b: bytes) -> bytes:
        found.append(b)
        return b

    transform(doc, lambda s: grab(s.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape"),
              grab)
    return found


# --- pass 1: keys and their certificates ----------------------------------------------------
@dataclass
class KeySwap:
    by_spki: dict[bytes, Any] = field(default_factory=dict)  # original SPKI -> stand-in key

    def standin_for(self, key: Any) -> Any:
        spki = key.public_key().public_bytes(*_SPKI)
        if spki not in self.by_spki:
            self.by_spki[spki] = _same_kind(key)
        return self.by_spki[spki]

    @property
    def fingerprints(self) -> list[str]:
        return sorted(hashlib.sha256(k.public_key().public_bytes(*_SPKI)).hexdigest()
                      for k in self.by_spki.values())


def _same_kind(key: Any) -> Any:
    if isinstance(key, rsa.RSAPrivateKey):
        return rsa.generate_private_key(65537, key.key_size)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ec.generate_private_key(key.curve)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return ed25519.Ed25519PrivateKey.generate()
    if isinstance(key, ed448.Ed448PrivateKey):
        return ed448.Ed448PrivateKey.generate()
    return rsa.generate_private_key(65537, 2048)


def _key_pem(block: bytes, swap: KeySwap) -> bytes:
    label = block.split(b"-----")[1].removeprefix(b"BEGIN ")
    try:
        key = serialization.load_pem_private_key(block, password=None)
    except TypeError:  # encrypted: keep it encrypted, with a passphrase nobody has
        other = rsa.generate_private_key(65537, 2048)
        return other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.BestAvailableEncryption(rnd.token_bytes(16)))
    except Exception:  # unreadable stays unreadable, without its bytes
        return JUNK_KEY.replace(b"PRIVATE KEY", label)
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if label in (b"RSA PRIVATE KEY", b"EC PRIVATE KEY") \
        else serialization.PrivateFormat.PKCS8
    return swap.standin_for(key).private_bytes(serialization.Encoding.PEM, fmt,
                                               serialization.NoEncryption())


def _reissue(cert: x509.Certificate, swap: KeySwap) -> x509.Certificate | None:
    spki = cert.public_key().public_bytes(*_SPKI)
    key = swap.by_spki.get(spki)
    if key is None:
        return None
    builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
               .serial_number(cert.serial_number).public_key(key.public_key())
               .not_valid_before(cert.not_valid_before_utc).not_valid_after(cert.not_valid_after_utc))
    for ext in cert.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) \
        else (cert.signature_hash_algorithm or hashes.SHA256())
    return builder.sign(key, algorithm)


def _cert_pem(block: bytes, swap: KeySwap) -> bytes:
    try:
        cert = x509.load_pem_x509_certificate(block)
    except Exception:
        return block
    new = _reissue(cert, swap)
    return block if new is None else new.public_bytes(serialization.Encoding.PEM).strip()


def swap_keys(doc: Any) -> tuple[Any, KeySwap]:
    """Pass 1 over the whole document: keys first (so every certificate can be matched)."""
    swap = KeySwap()

    def keys_in(b: bytes) -> bytes:
        if b"PRIVATE KEY-----" in b:
            return _PEM_KEY.sub(lambda m: _key_pem(m.group(0), swap), b)
        try:
            key = serialization.load_der_private_key(b, password=None)
        except Exception:
            return b
        return swap.standin_for(key).private_bytes(serialization.Encoding.DER,
                                                   serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption())

    def certs_in(b: bytes) -> bytes:
        if b"-----BEGIN CERTIFICATE-----" in b:
            return _PEM_CERT.sub(lambda m: _cert_pem(m.group(0), swap), b)
        try:
            cert = x509.load_der_x509_certificate(b)
        except Exception:
            return b
        new = _reissue(cert, swap)
        return b if new is None else new.public_bytes(serialization.Encoding.DER)

    def texts(fn: Callable[[bytes], bytes]) -> Callable[[str], str]:
        def run(s: str) -> str:
            if "-----BEGIN" not in s:
                return s
            return fn(s.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")
        return run

    doc = transform(doc, texts(keys_in), keys_in)
    if swap.by_spki:
        doc = transform(doc, texts(certs_in), certs_in)
    return doc, swap


# --- pass 2 and 3 -----------------------------------------------------------------------------
def replace_values(doc: Any, values: Mapping[str, str]) -> tuple[Any, dict[str, str]]:
    """Every occurrence of each secret value (and its URL-encoded forms) -> its stand-in.
    -> (document, stand-in by variable name)."""
    pairs: dict[str, str] = {}
    names: dict[str, str] = {}
    for index, (value, name) in enumerate(sorted(values.items(), key=lambda kv: kv[1])):
        s = standin(value, index)
        names[name] = s
        pairs[value] = s
        pairs.setdefault(quote(value, safe=""), quote(s, safe=""))
        pairs.setdefault(quote_plus(value), quote_plus(s))
    if not pairs:
        return doc, names
    ordered = sorted(pairs, key=len, reverse=True)  # a secret holding another goes first
    pattern = re.compile("|".join(map(re.escape, ordered)))
    bpattern = re.compile(b"|".join(re.escape(p.encode()) for p in ordered))
    bpairs = {k.encode(): v.encode() for k, v in pairs.items()}
    doc = transform(doc, lambda s: pattern.sub(lambda m: pairs[m.group(0)], s),
                    lambda b: bpattern.sub(lambda m: bpairs[m.group(0)], b))
    return doc, names


@dataclass
class Masked:
    doc: Any
    secret_names: list[str]
    standin_keys: list[str]


def mask(doc: Any, known: Mapping[str, str]) -> Masked:
    """All three passes. `known`: secret value -> variable name, from the live run (the
    service's environment) and the caller; the recorded environments are added here."""
    values = {**recorded_env_secrets(doc), **dict(known)}
    doc, swap = swap_keys(doc)
    doc, names = replace_values(doc, values)
    doc = Redactor(list(values)).mask_json(doc)
    return Masked(doc, sorted(names), swap.fingerprints)


def leaks(doc: Any, values: Iterable[str]) -> list[str]:
    """The given secret values (or their URL-encoded forms) found anywhere in a recorded
    document, bytes included; names nothing but the count of characters of each found."""
    wanted = [v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LEN]
    forms = {f: v for v in wanted for f in (v, quote(v, safe=""), quote_plus(v))}
    found = []
    for blob in _texts(doc):
        for form, value in forms.items():
            if form.encode() in blob:
                found.append(f"a {len(value)}-character secret")
    return sorted(set(found))
