"""The bundle store: immutable content-addressed bundles, channel pointers
moved by compare-and-swap, an append-only history per channel.

    open_store("file://./store")                 the embedded default
    open_store("s3://bucket/prefix")             boto3; AWS environment, or
                                                 ?endpoint=...&region=...&profile=...
    open_store("https://flags.example.com/x")    read-only (safeflags serve, a CDN)

Every read is bounded: `max_bundle_size` (default 64 MiB) for bundles and
listings, `max_pointer_size` (default 64 KiB) for pointers and records.
"""
from __future__ import annotations

import urllib.parse

from safeflags.store.backend import MAX_BUNDLE_SIZE, MAX_POINTER_SIZE, Backend, Limits, Obj, ObjectInfo
from safeflags.store.errors import (
    AccessDenied,
    ChannelNotFound,
    ChannelPinned,
    CorruptPointer,
    NotModified,
    NotRegularFile,
    ObjectTooLarge,
    PublishRefused,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
    VersionNotFound,
)
from safeflags.store.layout import (
    Event,
    Pointer,
    Record,
    bundle_key,
    chunk_key,
    digest_of,
    manifest_key,
    pointer_key,
)
from safeflags.store.store import BundleStore, GcReport

__all__ = [
    "MAX_BUNDLE_SIZE", "MAX_POINTER_SIZE", "AccessDenied", "Backend", "BundleStore", "ChannelNotFound",
    "ChannelPinned", "CorruptPointer", "Event", "GcReport", "Limits", "NotModified", "NotRegularFile", "Obj",
    "ObjectInfo", "ObjectTooLarge", "Pointer", "PublishRefused", "Record", "StoreError", "StoreNotFound",
    "StoreUnavailable", "VersionNotFound", "bundle_key", "chunk_key", "digest_of", "manifest_key", "open_backend",
    "open_store", "pointer_key",
]


def open_backend(url: str, *, create: bool = False, timeout: float = 10.0, retries: int = 3,
                 max_bundle_size: int = MAX_BUNDLE_SIZE, max_pointer_size: int = MAX_POINTER_SIZE,
                 token: str | None = None) -> Backend:
    """The backend for a store URL. `create` lets a file:// store be made on first write;
    `token` is a bearer token for an http(s):// store (safeflags serve --token)."""
    limits = Limits(bundle=max_bundle_size, pointer=max_pointer_size)
    if "://" not in url:
        url = "file://" + url
    scheme, rest = url.split("://", 1)
    if token is not None and scheme not in ("http", "https"):
        # Dropping it would leave the caller believing the store checks it.
        raise StoreError(f"token= is for http(s):// stores, not {scheme}:// ({url!r}): a {scheme}:// store "
                         "takes its access from the file system or the AWS environment")
    if scheme == "file":
        from safeflags.store.file import FileBackend
        if not rest:
            raise StoreError("file:// store URL needs a directory, e.g. file://./flag-store")
        return FileBackend(rest, create=create, limits=limits)
    if scheme == "s3":
        from safeflags.store.s3 import S3Backend
        parts = urllib.parse.urlsplit(url)
        if not parts.netloc:
            raise StoreError(f"s3 store URL needs a bucket: {url!r} (s3://BUCKET/PREFIX)")
        opts = dict(urllib.parse.parse_qsl(parts.query))
        unknown = set(opts) - {"endpoint", "region", "profile", "addressing_style"}
        if unknown:
            raise StoreError(f"unknown option(s) in {url!r}: {', '.join(sorted(unknown))} "
                             "(known: endpoint, region, profile, addressing_style)")
        return S3Backend(parts.netloc, parts.path, endpoint=opts.get("endpoint"),
                         region=opts.get("region"), profile=opts.get("profile"),
                         addressing_style=opts.get("addressing_style"), timeout=timeout,
                         retries=retries, limits=limits)
    if scheme in ("http", "https"):
        from safeflags.store.http import HttpBackend
        return HttpBackend(url, timeout=timeout, limits=limits, token=token)
    raise StoreError(f"unsupported store URL {url!r}: use file://DIR, s3://BUCKET/PREFIX or https://...")


def open_store(url: str, *, create: bool = False, timeout: float = 10.0, max_bundle_size: int = MAX_BUNDLE_SIZE,
               max_pointer_size: int = MAX_POINTER_SIZE) -> BundleStore:
    return BundleStore(open_backend(url, create=create, timeout=timeout, max_bundle_size=max_bundle_size,
                                    max_pointer_size=max_pointer_size))
