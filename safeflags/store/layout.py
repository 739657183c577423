"""Where things live in a store and what a channel pointer says.

    bundles/sha256-<hex>.pb           immutable, content-addressed bundle bytes
    manifests/sha256-<hex>.pb         the same bundle in pieces (BundleManifest), written by newer publishers
    chunks/sha256-<hex>.pb            immutable, content-addressed runs of flag records (safeflags.sdk.chunks)
    channels/<name>.json              the mutable pointer: what a channel serves
    history/<name>/<version>.json     one immutable record per published version
    events/<name>/<ns>-<id>.json      an audit entry per pin, unpin and rollback

The pointer is the only object ever overwritten, always by compare-and-swap.
A history record is written create-only *before* the pointer moves: creating
`history/<name>/<v>.json` is how a publisher claims version v, so two
publishers can never both get the same number and versions have no gaps.

A signed pointer also carries its `state`: an Ed25519 signature over what the
channel serves (channel, version, digest, pinned), when that was signed and
when the signature expires (safeflags.delivery.signature). Readers that know
nothing of it ignore the field, and an unsigned pointer has none, so its JSON
is what it always was.
"""
from __future__ import annotations

import calendar
import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol, TypeVar

from safeflags.store.errors import CorruptPointer, StoreError

CHANNEL_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
# The SDK's spelling (safeflags.sdk.snapshot.parse_digest): also the file name.
DIGEST_RE = re.compile(r"^sha256-[0-9a-f]{64}$")
POINTER_FORMAT = 1


def digest_of(data: bytes) -> str:
    return "sha256-" + hashlib.sha256(data).hexdigest()


def bundle_key(digest: str) -> str:
    return f"bundles/{digest}.pb"


def manifest_key(digest: str) -> str:
    """The manifest of bundle `digest`. Optional: a store written by an older
    publisher has none, and a client then reads the whole bundle."""
    return f"manifests/{digest}.pb"


def chunk_key(name: str) -> str:
    """A chunk by its digest, "sha256-<hex>" (safeflags.sdk.chunks.chunk_name)."""
    return f"chunks/{name}.pb"


def digest_from_key(key: str) -> str | None:
    name = key.rsplit("/", 1)[-1]
    digest = name[: -len(".pb")] if name.endswith(".pb") else ""
    return digest if DIGEST_RE.match(digest) else None


def pointer_key(channel: str) -> str:
    return f"channels/{channel}.json"


def history_key(channel: str, version: int) -> str:
    # Zero-padded so a plain listing is in version order.
    return f"history/{channel}/{version:010d}.json"


def check_channel(channel: str) -> str:
    if not CHANNEL_RE.match(channel):
        raise StoreError(
            f"invalid channel name {channel!r}: use lowercase letters, digits, '.', '_' and '-'"
        )
    return channel


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# Signed times: UTC with microseconds, so two states signed within one second
# still order; compared as integer microseconds, never as floats.
_TIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{6})Z$")


def format_time(micros: int) -> str:
    """Microseconds since the epoch as `2026-12-01T10:00:00.000000Z`."""
    seconds, fraction = divmod(micros, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:06d}Z"


def parse_time(text: str) -> int | None:
    """The inverse of format_time, or None for anything else (strict: one spelling per instant)."""
    match = _TIME_RE.match(text)
    if match is None:
        return None
    try:
        seconds = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    return seconds * 1_000_000 + int(match.group(2))


@dataclass(frozen=True)
class SignedState:
    """The signature over what a pointer serves (see delivery.signature.state_statement).

    `signed_at` orders the states of a channel (a client never goes back to an
    older one), `expires` bounds how long a client trusts one without a fresh
    signature. Both are signed; `key` (the signer's key id) only helps say
    which key signed and is not trusted."""

    signed_at: str
    expires: str
    signature: str
    key: str = ""

    @classmethod
    def from_obj(cls, obj: object) -> SignedState | None:
        """None for anything that is not a well-formed state: a reader without a
        key ignores the field as before, one with a key refuses it as unsigned."""
        if not isinstance(obj, dict):
            return None
        fields = {k: obj.get(k, "") for k in cls.__dataclass_fields__}
        if not all(isinstance(v, str) for v in fields.values()):
            return None
        return cls(**fields)


class StateSigner(Protocol):
    """What the store asks of a signer (safeflags.delivery.signature.Signer)."""

    def __call__(self, channel: str, version: int, digest: str) -> str:
        """The bundle signature of version `version` of `channel`."""

    def sign_state(self, ptr: Pointer, previous: Pointer | None) -> SignedState:
        """A fresh signed state for `ptr`, ordered after `previous` (the pointer it replaces)."""

    def renew(self, ptr: Pointer) -> SignedState:
        """`ptr`'s own state signed again with a new time and expiry; refuses a state it did not sign."""


@dataclass(frozen=True)
class Record:
    """One published version of a channel (a history entry)."""

    version: int
    digest: str
    source_revision: str = ""
    published: str = ""
    size: int = 0
    # Base64 Ed25519 signature over the bundle bytes, "" when unsigned.
    signature: str = ""
    # Published with --force over a pin: applying it unpins the channel.
    forced: bool = False
    # Who published it, for the audit trail (claims.actor(): the CI actor, else the login).
    publisher: str = ""
    # Signed for applying this version as the channel's latest, unpinned, so
    # whichever writer applies the claim (see store.py) needs no key.
    state: SignedState | None = None
    # Never stored in the record: set when read, from the channel's abandon
    # marks (store.py), for a claim whose publish never finished.
    abandoned: bool = False

    def to_json(self) -> bytes:
        return _dump(asdict(self))

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Record:
        return _parse(cls, data, where)


@dataclass(frozen=True)
class Event:
    """A pin, unpin or rollback (publishes are the history records)."""

    action: str
    version: int  # served after the change
    from_version: int  # served before
    at: str
    by: str = ""
    # Why, when the writer says (the health gate names its failing check); left out of the JSON when empty.
    reason: str = ""

    def to_json(self) -> bytes:
        obj = asdict(self)
        if not obj["reason"]:
            del obj["reason"]
        return _dump(obj)

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Event:
        try:
            obj = json.loads(data)
            return cls(**{k: obj[k] for k in cls.__dataclass_fields__ if k in obj})
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            raise CorruptPointer(f"{where}: {exc}") from None


@dataclass(frozen=True)
class Pointer:
    """What a channel serves now. Invariant: not pinned => version == latest."""

    channel: str
    version: int
    digest: str
    latest: int
    pinned: bool = False
    source_revision: str = ""
    published: str = ""
    size: int = 0
    signature: str = ""
    updated: str = field(default="")
    format: int = POINTER_FORMAT
    # Covers channel, version, digest and pinned, not `latest` or the fields
    # after it: no client acts on those.
    state: SignedState | None = None
    # The last version whose claim was abandoned (its publish never finished),
    # 0 for none; the next version is max(latest, abandoned) + 1 (store.py).
    abandoned: int = 0

    @classmethod
    def serving(cls, channel: str, rec: Record, *, latest: int, pinned: bool) -> Pointer:
        # The record's state was signed for exactly one pointer: this version, latest, unpinned.
        own = not pinned and latest == rec.version
        return cls(
            channel=channel, version=rec.version, digest=rec.digest, latest=latest, pinned=pinned,
            source_revision=rec.source_revision, published=rec.published, size=rec.size,
            signature=rec.signature, updated=utc_now(), state=rec.state if own else None,
        )

    def with_latest(self, latest: int) -> Pointer:
        # What is served does not change, so its signed state still holds.
        return replace(self, latest=latest, updated=utc_now())

    def to_json(self) -> bytes:
        return _dump(asdict(self))

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Pointer:
        ptr = _parse(cls, data, where)
        if not isinstance(ptr.latest, int) or ptr.latest < ptr.version or not isinstance(ptr.pinned, bool):
            raise CorruptPointer(f"{where}: inconsistent pointer (version {ptr.version}, latest {ptr.latest})")
        return ptr


def _dump(obj: dict[str, Any]) -> bytes:
    if obj.get("state") is None:
        obj.pop("state", None)  # unsigned: the JSON stays what it was before states existed
    if not obj.get("abandoned", True):
        obj.pop("abandoned")  # likewise until a claim is abandoned
    return (json.dumps(obj, sort_keys=True, indent=1) + "\n").encode()


T = TypeVar("T", Record, Pointer)


def _parse(cls: type[T], data: bytes, where: str) -> T:
    """Strict: wrong JSON, a missing field or a wrong type is CorruptPointer;
    unknown fields are ignored so a newer publisher can add some."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptPointer(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise CorruptPointer(f"{where} is not a JSON object")
    fields = {k: obj[k] for k in cls.__dataclass_fields__ if k in obj}
    if "state" in fields:
        fields["state"] = SignedState.from_obj(fields["state"])
    try:
        item = cls(**fields)
    except TypeError as exc:
        raise CorruptPointer(f"{where}: {exc}") from None
    for name, f in cls.__dataclass_fields__.items():
        if name == "state":
            continue
        want = {"int": int, "str": str, "bool": bool}[str(f.type)]
        value = getattr(item, name)
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise CorruptPointer(f"{where}: field {name!r} is not {f.type}: {value!r}")
    if item.version < 1:
        raise CorruptPointer(f"{where}: bad version {item.version!r}")
    if not DIGEST_RE.match(item.digest):
        raise CorruptPointer(f"{where}: bad digest {item.digest!r}")
    return item
