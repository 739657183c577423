"""Errors of the bundle store. Each one says which store and what to do."""
from __future__ import annotations

from safeflags.sdk.kernel.errors import SafeflagsError


class StoreError(SafeflagsError):
    """A store operation failed for a reason the user can act on."""


class StoreNotFound(StoreError):
    """The store itself (directory, bucket, server) does not exist."""


class StoreUnavailable(StoreError):
    """The store could not be reached or answered with a server error: worth retrying."""


class AccessDenied(StoreError):
    """Missing or wrong credentials, or no permission."""


class ChannelNotFound(StoreError):
    """The message lists the channels that exist; the command line adds a
    did-you-mean from the project's one implementation (the store, which
    services install, depends on no fuzzy matcher)."""

    def __init__(self, channel: str, url: str, channels: list[str]):
        self.channel = channel
        self.channels = list(channels)
        known = ", ".join(channels) if channels else "none yet"
        super().__init__(f"channel {channel!r} does not exist in {url} (channels: {known})")


class VersionNotFound(StoreError):
    def __init__(self, channel: str, version: int, latest: int):
        self.version = version
        span = f"versions 1..{latest}" if latest else "no versions"
        super().__init__(f"channel {channel!r} has no version {version} ({span})")


class ChannelPinned(StoreError):
    """Publishing would move a pinned channel; needs --force."""


class CorruptPointer(StoreError):
    """A channel pointer or history entry does not parse."""


class UnsupportedFormat(CorruptPointer):
    """A pointer in a format this version does not know (written by a newer one)."""


class ObjectTooLarge(StoreError):
    """An object bigger than the reader's limit: refused, never read whole."""


class NotRegularFile(StoreError):
    """A directory, FIFO, device or socket where a store object should be."""


class PublishRefused(StoreError):
    """The bundle would drop all of a channel's flags, or too many of them; needs --force."""


class PreconditionFailed(Exception):
    """A conditional write lost its race (HTTP 412). Internal: callers retry."""


class NotModified(Exception):
    """A conditional read found the object unchanged (HTTP 304)."""
