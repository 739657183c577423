"""Ed25519 signatures: `--sign-key` on the store commands signs, a client
configured with the public key refuses anything else.

Two statements are signed. The *bundle signature* says "version V of channel
C is the bundle with digest D" (see `statement`): the digest binds the bytes,
the channel and version bind where they may be served. It travels in the
history record and the pointer, so a pin keeps it.

The *state signature* (after TUF's timestamp role) says what the channel
serves now: channel, version, digest, whether it is pinned, when that was
signed and until when it may be trusted (see `state_statement`). It travels
as the pointer's `state`. Every write of the pointer signs it again (publish,
pin, unpin, rollback, and `refresh-signature`, which only renews it), so a
client with the key (`StateGuard`) can refuse what someone with mere write
access to the store could do: an unsigned pin to an old version, a version
number forged around the current digest, a replay of an older signed state,
and a frozen channel (once the signature expires, the client says STALE).
`cryptography` is imported only when signing or verifying.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.store.layout import Pointer, SignedState, format_time, parse_time

# How long a signed state is trusted when the signer does not say: long enough
# that a daily `safeflags refresh-signature` can miss a few runs, short enough
# that a frozen channel is noticed within the week.
DEFAULT_EXPIRES_IN = 7 * 24 * 3600.0


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


def state_statement(ptr: Pointer, state: SignedState) -> bytes:
    """The signed message of a pointer's state. Channel names and digests
    cannot hold a newline and the times are one fixed spelling, so no two
    states share a message."""
    return (f"safeflags-state-v1\n{ptr.channel}\n{ptr.version}\n{ptr.digest}\n"
            f"{'pinned' if ptr.pinned else 'unpinned'}\n{state.signed_at}\n{state.expires}\n").encode()


def key_id(public_key: Any) -> str:
    """A short name for a public key, to say in errors which key signed."""
    from cryptography.hazmat.primitives import serialization
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _micros(clock: Callable[[], float]) -> int:
    return int(clock() * 1_000_000)


class Signer:
    """Signs versions and channel states for the store (store.publish(signer=...), pin, ...).

    `expires_in` (seconds) is how long each signed state is trusted; `clock`
    gives the signing time (epoch seconds)."""

    def __init__(self, private_key: Any, *, expires_in: float = DEFAULT_EXPIRES_IN,
                 clock: Callable[[], float] = time.time):
        if not expires_in > 0:
            raise SignatureError(f"a signed state must expire in the future, not in {expires_in} s")
        self.key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)
        self.expires_in = expires_in
        self.clock = clock

    def __call__(self, channel: str, version: int, digest: str) -> str:
        return sign(statement(channel, version, digest), self.key)

    def sign_state(self, ptr: Pointer, previous: Pointer | None) -> SignedState:
        """A fresh state for `ptr`. Refuses a version this key did not sign (its
        history record may have been rewritten). Signed strictly after
        `previous` when this key signed that, so a lagging clock on this
        machine cannot make clients take a new state for a replay."""
        if not _verifies(statement(ptr.channel, ptr.version, ptr.digest), ptr.signature, self.public_key):
            raise SignatureError(f"version {ptr.version} of {ptr.channel!r} ({ptr.digest[:19]}) is not signed by "
                                 "this key: refusing to sign a channel state that serves it")
        return self._sign(ptr, self._own_time(previous))

    def renew(self, ptr: Pointer) -> SignedState:
        """`ptr`'s state again, with a new signing time and expiry. Only a state
        this key signed is renewed: re-signing whatever the pointer says would
        vouch for what someone with write access to the store put there."""
        after = self._own_time(ptr)
        if after is None:
            pin = f", pinned (latest {ptr.latest})" if ptr.pinned else ""
            raise SignatureError(
                f"the state of channel {ptr.channel!r} (version {ptr.version}{pin}) is not signed by this key, "
                "so it is not renewed: check it, then sign it with `safeflags pin` or `safeflags unpin` "
                "and --sign-key")
        return self._sign(ptr, after)

    def _own_time(self, ptr: Pointer | None) -> int | None:
        """When this key signed `ptr`'s state, or None if it did not."""
        state = ptr.state if ptr is not None else None
        if ptr is None or state is None or parse_time(state.expires) is None:
            return None
        at = parse_time(state.signed_at)
        return at if at is not None and _verifies(state_statement(ptr, state), state.signature,
                                                  self.public_key) else None

    def _sign(self, ptr: Pointer, after: int | None) -> SignedState:
        now = _micros(self.clock)
        at = now if after is None else max(now, after + 1)
        state = SignedState(signed_at=format_time(at), expires=format_time(at + int(self.expires_in * 1_000_000)),
                            signature="", key=self.key_id)
        return replace(state, signature=sign(state_statement(ptr, state), self.key))


def sign(data: bytes, private_key: Any) -> str:
    return base64.b64encode(private_key.sign(data)).decode()


def _verifies(data: bytes, signature: str, public_key: Any) -> bool:
    try:
        verify(data, signature, public_key)
    except SignatureError:
        return False
    return True


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


class StateRefused(SignatureError):
    """A pointer whose state a client with the key does not take; `kind` is the fault counter."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class StateGuard:
    """A client's check of its channel's signed state (the client holds the key).

    `admit(ptr)` refuses a pointer without a valid state by this key
    (`bad_signature`), an expired one (`expired`), and one that goes back
    (`replay`): signed before the state already trusted, or an unpinned
    version lower than the one trusted (only a pin may go back, and only one
    signed after the state it replaces). `accept(ptr)` makes it the trusted
    state once what it points at is served. `expired()` says the trusted
    state has outlived its signature: nothing fresher was signed since.

    "After" is the signing time, except between two unpinned states, where a
    higher version is also after: a publisher signs its version before it
    claims it, so a renewal by another writer can carry a later time."""

    def __init__(self, public_key: Any, clock: Callable[[], float] = time.time):
        self.public_key = public_key
        self.key_id = key_id(public_key)
        self.clock = clock
        self.current: Pointer | None = None
        self._signed_at = 0
        self._expires = 0

    def restore(self, ptr: Pointer) -> bool:
        """Trust `ptr` (the cached pointer of a restarted service) if this key
        signed it, whatever its expiry: a replay must not get past a restart."""
        try:
            self._verified(ptr)
        except StateRefused:
            return False
        self.accept(ptr)
        return True

    def admit(self, ptr: Pointer) -> None:
        signed_at, expires = self._verified(ptr)
        state = ptr.state
        assert state is not None  # _verified refuses a pointer without one
        if _micros(self.clock) >= expires:
            raise StateRefused("expired", f"the signed state of version {ptr.version} expired at {state.expires}: "
                                          "nothing fresher was signed (is `safeflags refresh-signature` running?)")
        cur = self.current
        if cur is None or cur.state is None or state_statement(ptr, state) == state_statement(cur, cur.state):
            return
        after = signed_at > self._signed_at or (not ptr.pinned and not cur.pinned and ptr.version > cur.version)
        if not after:
            raise StateRefused("replay", f"the state of version {ptr.version} signed at {state.signed_at} is not "
                                         f"newer than the trusted one (version {cur.version}, signed at "
                                         f"{cur.state.signed_at}): a replay of an older signed state")
        if not ptr.pinned and (ptr.version < cur.version or (ptr.version == cur.version and ptr.digest != cur.digest)):
            raise StateRefused("replay", f"unpinned version {ptr.version} would go back from version {cur.version}: "
                                         "only a signed pin goes back")

    def accept(self, ptr: Pointer) -> None:
        state = ptr.state
        signed_at = parse_time(state.signed_at) if state is not None else None
        expires = parse_time(state.expires) if state is not None else None
        if signed_at is None or expires is None:
            raise StateRefused("bad_signature", "accepting a pointer without a signed state")  # a bug: admit first
        self.current, self._signed_at, self._expires = ptr, signed_at, expires

    def expired(self) -> bool:
        return self.current is not None and _micros(self.clock) >= self._expires

    def expiry_fault(self) -> str | None:
        """Why the trusted state is no longer trusted, or None while it is."""
        if not self.expired() or self.current is None:
            return None
        return (f"the signed state of version {self.current.version} expired at {self.expires} and was not "
                "signed again (is `safeflags refresh-signature` running?)")

    @property
    def expires(self) -> str:
        """When the trusted state expires ("" before one is trusted)."""
        state = self.current.state if self.current is not None else None
        return state.expires if state is not None else ""

    def _verified(self, ptr: Pointer) -> tuple[int, int]:
        """(signed_at, expires) in microseconds of `ptr`'s state, if this key signed it."""
        state = ptr.state
        if state is None:
            raise StateRefused("bad_signature", f"the state of channel {ptr.channel!r} is not signed (the pointer "
                                                "has no valid `state`) and a public key is configured")
        signed_at, expires = parse_time(state.signed_at), parse_time(state.expires)
        if signed_at is None or expires is None:
            raise StateRefused("bad_signature", f"malformed signed state times {state.signed_at!r}, {state.expires!r}")
        if not _verifies(state_statement(ptr, state), state.signature, self.public_key):
            who = (f"signed by another key ({state.key}; the configured key is {self.key_id})"
                   if state.key and state.key != self.key_id else
                   "not signed by the configured key for what the pointer says (changed after signing, or forged)")
            raise StateRefused("bad_signature",
                               f"bad state signature of version {ptr.version} of {ptr.channel!r}: {who}")
        return signed_at, expires
