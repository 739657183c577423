"""Ed25519 signatures over bundle bytes: `safeflags publish --sign-key` signs,
a client configured with the public key refuses anything else.

The signature travels in the channel pointer and the history record (base64),
so a pin or a rollback serves the version with the signature it was published
with. `cryptography` is imported only when signing or verifying is asked for.
"""
from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from safeflags.errors import SafeflagsError


class SignatureError(SafeflagsError):
    """A missing, malformed or wrong signature, or an unusable key."""


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise SignatureError("bundle signatures need the 'cryptography' package: "
                             "pip install 'safeflags[signing]'") from None
    return ed25519


def _key_bytes(key: str | bytes | os.PathLike[str]) -> bytes:
    """PEM text, a path to a PEM file, or the raw 32-byte key in base64."""
    if isinstance(key, bytes):
        return key
    text = os.fspath(key)
    if "-----BEGIN" in text:
        return text.encode()
    if os.path.exists(text):
        with open(text, "rb") as fh:
            return fh.read()
    return text.encode()


def load_private_key(key: str | bytes | os.PathLike[str]) -> Any:
    return _load_key(key, private=True)


def load_public_key(key: str | bytes | os.PathLike[str]) -> Any:
    return _load_key(key, private=False)


def _load_key(key: str | bytes | os.PathLike[str], *, private: bool) -> Any:
    ed = _crypto()
    from cryptography.hazmat.primitives import serialization
    data = _key_bytes(key)
    kind = "private" if private else "public"
    want = ed.Ed25519PrivateKey if private else ed.Ed25519PublicKey
    try:
        if b"-----BEGIN" in data:
            k = (serialization.load_pem_private_key(data, password=None) if private
                 else serialization.load_pem_public_key(data))
        else:
            raw = base64.b64decode(data.strip(), validate=True)
            k = want.from_private_bytes(raw) if private else want.from_public_bytes(raw)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise SignatureError(f"not an Ed25519 {kind} key: {exc}") from None
    if not isinstance(k, want):
        raise SignatureError(f"the {kind} key is not an Ed25519 key")
    return k


def sign(data: bytes, private_key: Any) -> str:
    return base64.b64encode(private_key.sign(data)).decode()


def verify(data: bytes, signature: str, public_key: Any) -> None:
    """Raise SignatureError unless `signature` is the key's signature of `data`."""
    from cryptography.exceptions import InvalidSignature
    if not signature:
        raise SignatureError("the bundle is not signed and a public key is configured")
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, data)
    except (InvalidSignature, ValueError, binascii.Error):
        raise SignatureError("bad bundle signature: not signed by the configured key") from None
