"""What a delivery tells its caller: the status, the update handed to
listeners, the fault a refresh records."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from safeflags.store.errors import AccessDenied, NotRegularFile, ObjectTooLarge, StoreError, StoreNotFound

Metrics = Callable[[str, Mapping[str, object]], object]


class Fault(Exception):
    """One failed refresh: `kind` is the counter name, the message is for people."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Update:
    """Handed to listeners after a new snapshot is swapped in."""

    channel: str
    old_version: int | None
    version: int | None
    digest: str
    source_revision: str
    origin: str  # "store", "cache" or "cold_start"


@dataclass(frozen=True)
class DeliveryStatus:
    origin: str  # where the served snapshot came from: "store", "cache", "cold_start", "none"
    store: str
    channel: str
    version: int | None  # None for a cold-start bundle (its version is unknown) or nothing
    digest: str
    source_revision: str
    pinned: bool
    published: str  # when the served version was published (from the pointer)
    synced_at: float | None  # last time the store confirmed what we serve (epoch seconds)
    age: float | None  # seconds since synced_at: how stale the snapshot may be
    stale: bool  # age beyond the configured `stale_after`
    healthy: bool  # no delivery incident open
    last_error: str | None
    last_error_at: float | None
    faults: Mapping[str, int] = field(default_factory=dict)
    updates: int = 0
    push: str = "off"  # "off", "connecting", "connected", "disconnected", "unsupported"
    push_events: int = 0  # channel events the push stream delivered (refreshes are coalesced)
    expires: str = ""  # when the trusted signed state expires ("" without a public key)
    fetched: str = ""  # how the last update was downloaded: "pieces" (what changed) or "whole"
    fetched_bytes: int = 0  # bytes downloaded for the last update
    fetched_bytes_total: int = 0  # bytes downloaded for every update since start-up
    fallbacks: Mapping[str, int] = field(default_factory=dict)  # why updates fell back to the whole bundle
    pid: int = 0  # the process serving
    forked_from: int | None = None  # the parent's pid once the delivery restarted in a forked child


def store_fault(exc: StoreError) -> Fault:
    if isinstance(exc, ObjectTooLarge):
        return Fault("too_large", str(exc))
    if isinstance(exc, NotRegularFile):
        return Fault("special_file", str(exc))
    if isinstance(exc, AccessDenied):
        return Fault("access_denied", str(exc))
    if isinstance(exc, StoreNotFound):
        return Fault("not_found", str(exc))
    return Fault("unavailable", str(exc))
