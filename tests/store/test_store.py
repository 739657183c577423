from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from safeflags.store import (
    AccessDenied,
    ChannelNotFound,
    ChannelPinned,
    StoreError,
    StoreNotFound,
    VersionNotFound,
    bundle_key,
    digest_of,
    open_store,
)
from tests.helpers.bundles import numbered


def test_publish_writes_bundle_pointer_and_history(store_url: str) -> None:
    store = open_store(store_url, create=True)
    rec, ptr = store.publish(numbered(1), "prod", source_revision="abc")
    assert (rec.version, ptr.version, ptr.latest, ptr.pinned) == (1, 1, 1, False)
    assert ptr.digest == digest_of(numbered(1)) and ptr.source_revision == "abc"
    assert store.bundle(ptr.digest) == numbered(1)
    store.publish(numbered(2), "prod")
    assert [r.version for r in store.history("prod")] == [1, 2]
    assert store.channels() == ["prod"]
    assert store.pointer("prod").version == 2


def test_same_bytes_are_stored_once(store_url: str) -> None:
    store = open_store(store_url, create=True)
    store.publish(numbered(1), "prod")
    store.publish(numbered(1), "staging")
    assert len(store.backend.list("bundles/")) == 1


def test_pin_blocks_publish_until_forced(store_url: str) -> None:
    store = open_store(store_url, create=True)
    for n in (1, 2, 3):
        store.publish(numbered(n), "prod")
    ptr = store.pin("prod", 2)
    assert (ptr.version, ptr.latest, ptr.pinned) == (2, 3, True)
    with pytest.raises(ChannelPinned, match="pinned at version 2"):
        store.publish(numbered(4), "prod")
    assert store.pointer("prod").version == 2
    rec, ptr = store.publish(numbered(4), "prod", force=True)
    assert rec.forced and (ptr.version, ptr.pinned) == (4, False)


def test_rollback_pins_the_previous_version_and_unpin_follows_latest(store_url: str) -> None:
    store = open_store(store_url, create=True)
    for n in (1, 2, 3):
        store.publish(numbered(n), "prod")
    assert (store.rollback("prod").version, store.pointer("prod").pinned) == (2, True)
    assert store.rollback("prod").version == 1
    with pytest.raises(StoreError, match="nothing to roll back"):
        store.rollback("prod")
    ptr = store.unpin("prod")
    assert (ptr.version, ptr.pinned) == (3, False)


def test_missing_channel_and_version_say_what_exists(store_url: str) -> None:
    store = open_store(store_url, create=True)
    store.publish(numbered(1), "staging")
    store.publish(numbered(1), "canary")
    with pytest.raises(ChannelNotFound) as info:
        store.pointer("prod")
    assert str(info.value) == (
        f"channel 'prod' does not exist in {store.url} (channels: canary, staging)")
    with pytest.raises(VersionNotFound, match=r"no version 7 \(versions 1..1\)"):
        store.pin("staging", 7)
    with pytest.raises(ChannelNotFound):
        store.history("prod")


def test_gc_keeps_current_pinned_and_recent(store_url: str) -> None:
    store = open_store(store_url, create=True)
    for n in range(1, 7):
        store.publish(numbered(n), "prod")
    store.pin("prod", 1)
    store.publish(numbered(100), "staging")
    # Everything is recent: nothing goes.
    assert store.gc(keep=2).deleted == []
    report = store.gc(keep=2, min_age=0, now=time.time() + 10)
    gone = {digest_of(numbered(n)) for n in (2, 3, 4)}
    assert set(report.deleted) == gone
    for n in (1, 5, 6, 100):
        assert store.bundle(digest_of(numbered(n)))
    with pytest.raises(StoreError, match="garbage-collected"):
        store.pin("prod", 3)


def test_claimed_version_of_a_dead_publisher_is_abandoned_not_applied(store_url: str) -> None:
    """A publisher that died after claiming v (history written, pointer not
    moved) must not wedge the channel, and nobody else may serve its claim."""
    from safeflags.store.layout import Record, history_key

    store = open_store(store_url, create=True)
    store.publish(numbered(1), "prod")
    digest = store.put_bundle(numbered(2))
    claim = Record(version=2, digest=digest, published="2001-01-01T00:00:00Z")  # long dead
    store.backend.put(history_key("prod", 2), claim.to_json(), if_absent=True)
    rec, ptr = store.publish(numbered(3), "prod")
    assert rec.version == 3 and (ptr.version, ptr.latest, ptr.abandoned) == (3, 3, 2)
    assert [(r.version, r.abandoned) for r in store.history("prod")] == [(1, False), (2, True), (3, False)]


def test_missing_file_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = open_store(f"file://{tmp_path / 'nope'}")
    with pytest.raises(StoreNotFound, match="does not exist"):
        store.pointer("prod")


def test_missing_bucket(s3_env) -> None:  # type: ignore[no-untyped-def]
    store = open_store("s3://no-such-bucket-sf/x")
    with pytest.raises(StoreNotFound, match="no bucket 'no-such-bucket-sf'"):
        store.pointer("prod")


def test_bad_credentials(s3_env, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    store = open_store(f"s3://{s3_env.bucket}/creds")
    with pytest.raises(AccessDenied, match="check the AWS credentials"):
        store.publish(numbered(1), "prod")


def test_unreachable_s3_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    from safeflags.store import StoreUnavailable
    from tests.helpers.s3server import free_ports

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    port = free_ports(1)[0]
    store = open_store(f"s3://b/p?endpoint=http://127.0.0.1:{port}&region=us-east-1", timeout=1)
    with pytest.raises(StoreUnavailable, match="cannot reach"):
        store.pointer("prod")


def test_bad_urls() -> None:
    with pytest.raises(StoreError, match="unsupported store URL"):
        open_store("ftp://x")
    with pytest.raises(StoreError, match="unknown option"):
        open_store("s3://b/p?endpiont=x")
    with pytest.raises(StoreError, match="invalid channel name"):
        open_store("file:///tmp/x").pointer("../etc")


def test_bundle_key_layout() -> None:
    d = digest_of(b"x")
    assert d.startswith("sha256-") and len(d) == 7 + 64
    assert bundle_key(d) == f"bundles/{d}.pb"


def test_republishing_old_bytes_makes_them_recent_for_gc(store_url: str) -> None:
    store = open_store(store_url, create=True)
    for n in (1, 2, 3):
        store.publish(numbered(n), "prod")
    later = time.time() + 7200
    # Version 1's bundle is old and unreferenced: gc would take it...
    assert digest_of(numbered(1)) in store.gc(keep=1, min_age=3600, now=later, dry_run=True).deleted
    # ...but not once a publish of the same bytes has touched it. On a
    # directory store the bundle is first made ten days old, so only a touch
    # can make it newer than the moment before the republish; S3 sets its own
    # times (whole seconds), so there the check is that it is not older.
    key = bundle_key(digest_of(numbered(1)))
    if store_url.startswith("file://"):
        path = Path(store_url[len("file://"):]) / key
        old = time.time() - 10 * 86400
        os.utime(path, (old, old))
    before = time.time()
    store.publish(numbered(1), "staging")
    entry = next(e for e in store.backend.list("bundles/") if e.key == key)
    assert entry.modified >= before - 2
