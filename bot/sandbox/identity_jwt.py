"""RS256 JSON Web Tokens signed by the sandbox, and the JWKS that lets clients verify them."""

from __future__ import annotations

import base64
import functools
import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class InvalidJWT(Exception):
    """The token is malformed or its signature is not ours."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(number: int) -> str:
    return _b64(number.to_bytes((number.bit_length() + 7) // 8, "big"))


@functools.cache
def _process_key() -> rsa.RSAPrivateKey:
    # One key per process: generating RSA keys costs ~0.1 s and tests start many sandboxes.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class JWTSigner:
    """Signs and verifies RS256 tokens with one RSA key, published as a JWKS."""

    def __init__(self, key: rsa.RSAPrivateKey | None = None) -> None:
        self._key = key or _process_key()
        numbers = self._key.public_key().public_numbers()
        self._public = {"kty": "RSA", "use": "sig", "alg": "RS256",
                        "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}
        thumb = json.dumps({k: self._public[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
        self.kid = _b64(hashlib.sha256(thumb.encode()).digest())[:32]

    def jwks(self) -> dict[str, object]:
        return {"keys": [{**self._public, "kid": self.kid}]}

    def encode(self, claims: dict[str, object]) -> str:
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = ".".join(
            _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def decode(self, token: str) -> dict[str, object]:
        """The claims of a token we signed; expiry is the caller's business."""
        try:
            header_b64, claims_b64, signature_b64 = token.split(".")
            header = json.loads(_unb64(header_b64))
            if header.get("alg") != "RS256":
                raise InvalidJWT("unexpected alg")
            self._key.public_key().verify(
                _unb64(signature_b64), f"{header_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(), hashes.SHA256(),
            )
            claims = json.loads(_unb64(claims_b64))
        except (ValueError, InvalidSignature) as exc:
            raise InvalidJWT(str(exc) or type(exc).__name__) from None
        if not isinstance(claims, dict):
            raise InvalidJWT("claims are not an object")
        return claims


def at_hash(access_token: str) -> str:
    """OIDC `at_hash`: left half of SHA-256 of the access token, base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return _b64(digest[: len(digest) // 2])
