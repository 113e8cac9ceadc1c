"""The issuer's RSA signing key: created once (mode 0600), its public half published as a JWK."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk as jose_jwk

log = logging.getLogger("dev_issuer.keys")


@dataclass(frozen=True)
class SigningKey:
    private_pem: str
    public_jwk: dict[str, Any]
    signer: Any  # the parsed key: parsing a PEM costs ~50 ms, far more than signing with it

    @property
    def kid(self) -> str:
        return str(self.public_jwk["kid"])


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@lru_cache(maxsize=8)
def signing_key_from_pem(pem: bytes) -> SigningKey:
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError("the dev issuer signs with RSA keys only")
    numbers = private.public_key().public_numbers()
    jwk = {"kty": "RSA", "n": _b64(numbers.n), "e": _b64(numbers.e)}
    # RFC 7638 thumbprint: stable kid for the same key across restarts.
    thumbprint = hashlib.sha256(
        json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":")).encode()
    ).digest()
    jwk.update(kid=base64.urlsafe_b64encode(thumbprint).rstrip(b"=").decode(), use="sig", alg="RS256")
    return SigningKey(
        private_pem=pem.decode(), public_jwk=jwk, signer=jose_jwk.construct(pem.decode(), algorithm="RS256")
    )


def generate_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_or_create(path: Path | None) -> SigningKey:
    """Read the key file, or create it with mode 0600; `None` keeps a key in memory only."""
    if path is None:
        return signing_key_from_pem(generate_pem())
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("signing key readable by others; tightening to 0600", extra={"path": str(path)})
            path.chmod(0o600)
        return signing_key_from_pem(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = generate_pem()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    log.info("created dev signing key", extra={"path": str(path)})
    return signing_key_from_pem(pem)
