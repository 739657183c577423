from __future__ import annotations

import base64

import pytest

from safeflags.delivery.signature import (
    SignatureError,
    load_private_key,
    load_public_key,
    sign,
    verify,
)
from tests.helpers.delivery import new_keypair


def test_sign_and_verify_with_pem_and_raw_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    key, public_pem = new_keypair()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (tmp_path / "k.pem").write_bytes(pem)
    signature = sign(b"bundle", load_private_key(str(tmp_path / "k.pem")))
    verify(b"bundle", signature, load_public_key(public_pem))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    verify(b"bundle", signature, load_public_key(base64.b64encode(raw).decode()))
    with pytest.raises(SignatureError, match="bad bundle signature"):
        verify(b"bundle!", signature, load_public_key(public_pem))
    with pytest.raises(SignatureError, match="not signed"):
        verify(b"bundle", "", load_public_key(public_pem))
    with pytest.raises(SignatureError, match="not an Ed25519 public key"):
        load_public_key("bm90IGEga2V5")
