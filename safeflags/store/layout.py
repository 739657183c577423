"""Where things live in a store and what a channel pointer says.

    bundles/sha256-<hex>.pb           immutable, content-addressed bundle bytes
    channels/<name>.json              the mutable pointer: what a channel serves
    history/<name>/<version>.json     one immutable record per published version
    events/<name>/<ns>-<id>.json      an audit entry per pin, unpin and rollback

The pointer is the only object ever overwritten, always by compare-and-swap.
A history record is written create-only *before* the pointer moves: creating
`history/<name>/<v>.json` is how a publisher claims version v, so two
publishers can never both get the same number and versions have no gaps.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

from safeflags.store.errors import CorruptPointer, StoreError

CHANNEL_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
# The SDK's spelling (safeflags.sdk.snapshot.parse_digest): also the file name.
DIGEST_RE = re.compile(r"^sha256-[0-9a-f]{64}$")
POINTER_FORMAT = 1


def digest_of(data: bytes) -> str:
    return "sha256-" + hashlib.sha256(data).hexdigest()


def bundle_key(digest: str) -> str:
    return f"bundles/{digest}.pb"


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

    def to_json(self) -> bytes:
        return _dump(asdict(self))

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

    @classmethod
    def serving(cls, channel: str, rec: Record, *, latest: int, pinned: bool) -> Pointer:
        return cls(
            channel=channel, version=rec.version, digest=rec.digest, latest=latest, pinned=pinned,
            source_revision=rec.source_revision, published=rec.published, size=rec.size,
            signature=rec.signature, updated=utc_now(),
        )

    def with_latest(self, latest: int) -> Pointer:
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
    try:
        item = cls(**{k: obj[k] for k in cls.__dataclass_fields__ if k in obj})
    except TypeError as exc:
        raise CorruptPointer(f"{where}: {exc}") from None
    for name, f in cls.__dataclass_fields__.items():
        want = {"int": int, "str": str, "bool": bool}[str(f.type)]
        value = getattr(item, name)
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise CorruptPointer(f"{where}: field {name!r} is not {f.type}: {value!r}")
    if item.version < 1:
        raise CorruptPointer(f"{where}: bad version {item.version!r}")
    if not DIGEST_RE.match(item.digest):
        raise CorruptPointer(f"{where}: bad digest {item.digest!r}")
    return item
