"""The few object operations every backend provides; the store logic
(publish, pin, gc, ...) is written once on top of them in store.py.

Every read is bounded (`Limits`): a store that answers with an endless or
oversized body costs a reader at most the limit, then an ObjectTooLarge."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from safeflags.store.errors import ObjectTooLarge, StoreError

MAX_BUNDLE_SIZE = 64 << 20  # 64 MiB: a 250,000-flag bundle is a fraction of it
MAX_POINTER_SIZE = 64 << 10  # 64 KiB: a pointer or a history record is well under 2 KiB
# Keys read under the bundle limit: a bundle's manifest and each of its chunks are never larger than it.
BUNDLE_SIZED = ("bundles/", "manifests/", "chunks/")


@dataclass(frozen=True)
class Obj:
    data: bytes
    etag: str


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    modified: float  # seconds since the epoch


@dataclass(frozen=True)
class Limits:
    """The most bytes one read may return: `bundle` for bundles, their
    manifests and chunks, and listings, `pointer` for every small JSON object
    (pointers, history records, audit entries)."""

    bundle: int = MAX_BUNDLE_SIZE
    pointer: int = MAX_POINTER_SIZE

    def __post_init__(self) -> None:
        for name in ("bundle", "pointer"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise StoreError(f"max_{name}_size must be a positive number of bytes, not {value!r}")

    def of(self, key: str) -> int:
        return self.bundle if key.startswith(BUNDLE_SIZED) else self.pointer

    def option(self, key: str) -> str:
        """The option that sets the limit of `key`."""
        return "max_bundle_size" if key.startswith(BUNDLE_SIZED) else "max_pointer_size"

    def refuse(self, key: str, where: str, size: int | None = None) -> ObjectTooLarge:
        """The error for `key` found bigger than its limit (`size` when the store said how big)."""
        limit = self.of(key)
        option = self.option(key)
        told = f" ({size:,} bytes)" if size is not None else ""
        return ObjectTooLarge(f"{where} is larger than {limit:,} bytes{told}, the {option} limit: "
                              "refused unread")


Keys = list[str]  # the name `list` is a method inside the classes below


class Backend(Protocol):
    url: str
    limits: Limits

    def check(self) -> None:
        """Raise StoreNotFound / AccessDenied / StoreUnavailable if the store is not usable."""

    def get(self, key: str, if_none_match: str | None = None) -> Obj | None:
        """The object, or None when absent. Raises NotModified when the etag still matches,
        ObjectTooLarge past `limits`, NotRegularFile for a directory or device in its place."""

    def info(self, key: str) -> ObjectInfo | None:
        """The object's key and time without its bytes, or None when absent."""

    def put(self, key: str, data: bytes, *, if_match: str | None = None, if_absent: bool = False) -> str:
        """Write and return the new etag. Raises PreconditionFailed when a condition fails."""

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with prefix, sorted by key."""

    def delete(self, key: str) -> None: ...

    def sweep(self, older_than: float, now: float) -> Keys:
        """Remove what interrupted writes left behind (temporary files) for
        more than `older_than` seconds; the names removed."""
