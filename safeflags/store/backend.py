"""The few object operations every backend provides; the store logic
(publish, pin, gc, ...) is written once on top of them in store.py."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Obj:
    data: bytes
    etag: str


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    modified: float  # seconds since the epoch


class Backend(Protocol):
    url: str

    def check(self) -> None:
        """Raise StoreNotFound / AccessDenied / StoreUnavailable if the store is not usable."""

    def get(self, key: str, if_none_match: str | None = None) -> Obj | None:
        """The object, or None when absent. Raises NotModified when the etag still matches."""

    def put(self, key: str, data: bytes, *, if_match: str | None = None, if_absent: bool = False) -> str:
        """Write and return the new etag. Raises PreconditionFailed when a condition fails."""

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with prefix, sorted by key."""

    def delete(self, key: str) -> None: ...
