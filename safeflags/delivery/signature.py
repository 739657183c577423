"""Ed25519 signatures of published versions: `safeflags publish --sign-key`
signs, a client configured with the public key refuses anything else.

What is signed is the statement "version V of channel C is the bundle with
digest D" (see `statement`), not the bytes alone: the digest binds the bytes,
and the channel and version bind where they may be served, so a pointer
forged with a newer version number in front of an older signed bundle, or a
staging bundle pointed at from prod, fails verification. Pins are not signed:
someone who can write the store can pin an older *signed* version, never
serve unsigned content. The signature travels (base64) in the history record
and the pointer. `cryptography` is imported only when signing or verifying.
"""
from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from safeflags.sdk.kernel.errors import SafeflagsError


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


def statement(channel: str, version: int, digest: str) -> bytes:
    """The signed message: a fixed prefix, then channel, version and digest."""
    return f"safeflags-signature-v1\n{channel}\n{version}\n{digest}\n".encode()


class Signer:
    """Signs each version as the store assigns it (store.publish(signer=...))."""

    def __init__(self, private_key: Any):
        self.key = private_key

    def __call__(self, channel: str, version: int, digest: str) -> str:
        return sign(statement(channel, version, digest), self.key)


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
