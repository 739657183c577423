"""Chaos: gc racing publish, pin, rollback and unpin never leaves a channel
pointing at a bundle that is gone, on a directory and on S3.

First the three interleavings that matter, forced step by step (a writer
lands just before gc rescans, or just before it deletes); then rounds of
threads doing all of it at once, checked after each round. Waits are for
events, bounded; nothing is timed.
"""
from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from safeflags.delivery import Client
from safeflags.store import (
    Backend,
    BundleStore,
    Obj,
    ObjectInfo,
    StoreError,
    bundle_key,
    digest_of,
    open_backend,
    open_store,
)
from safeflags.store.backend import Keys, Limits
from safeflags.store.gc import STATE_KEY
from tests.helpers.bundles import numbered

WAIT = 60.0  # an event not seen in this long is a hang


Hook = Callable[[str, str, tuple[Any, ...]], None]


class Hooked:
    """A backend that calls `hook(op, key, args)` before and `after(op, key, args)`
    after each operation of one thread."""

    def __init__(self, inner: Backend, hook: Hook, after: Hook | None = None):
        self.inner = inner
        self.url: str = inner.url
        self.limits: Limits = inner.limits
        self.hook = hook
        self.after = after
        self.thread: threading.Thread | None = None

    def _call(self, op: str, key: str, *args: Any, **kwargs: Any) -> Any:
        mine = self.thread is None or threading.current_thread() is self.thread
        if mine:
            self.hook(op, key, args)
        result = getattr(self.inner, op)(key, *args, **kwargs)
        if mine and self.after is not None:
            self.after(op, key, args)
        return result

    def check(self) -> None:
        self.inner.check()

    def get(self, key: str, if_none_match: str | None = None) -> Obj | None:
        return self._call("get", key, if_none_match)

    def info(self, key: str) -> ObjectInfo | None:
        return self._call("info", key)

    def put(self, key: str, data: bytes, *, if_match: str | None = None, if_absent: bool = False) -> str:
        return self._call("put", key, data, if_match=if_match, if_absent=if_absent)

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self._call("list", prefix)

    def delete(self, key: str) -> None:
        self._call("delete", key)

    def sweep(self, older_than: float, now: float) -> Keys:
        return self.inner.sweep(older_than, now)


def whole(store: BundleStore, channels: list[str]) -> None:
    """Every channel's pointer names a bundle that exists."""
    for channel in channels:
        ptr = store.pointer(channel)
        assert store.backend.info(bundle_key(ptr.digest)) is not None, f"{channel} v{ptr.version}: bundle gone"


class Race:
    """One writer, started by gc's hook at a chosen step and let run until it
    has read gc's state (its flag is then in the store) or has finished."""

    def __init__(self, url: str, write: Callable[[BundleStore], object], *, pause_after_state: bool = False):
        self.seen_state = threading.Event()
        self.done = threading.Event()
        self.resume = threading.Event()
        self.result: list[object] = []

        def hook(op: str, key: str, args: tuple[Any, ...]) -> None:
            if key == STATE_KEY and op == "get" and not pause_after_state:
                self.seen_state.set()

        def after(op: str, key: str, args: tuple[Any, ...]) -> None:
            if key == STATE_KEY and op == "get" and pause_after_state and not self.seen_state.is_set():
                self.seen_state.set()  # it has read gc's state: hold it there until told
                assert self.resume.wait(WAIT)

        self.backend = Hooked(open_backend(url), hook, after)
        self.store = BundleStore(self.backend)

        def run() -> None:
            try:
                self.result.append(write(self.store))
            except StoreError as exc:
                self.result.append(exc)
            finally:
                self.done.set()

        self.thread = threading.Thread(target=run)
        self.backend.thread = self.thread

    def start_and_wait(self) -> None:
        self.thread.start()
        # Old code never reads the state: then only its end says it is through.
        for _ in range(int(WAIT / 0.01)):
            if self.seen_state.wait(0.01) or self.done.is_set():
                return
        raise AssertionError("the racing writer neither reached gc's state nor finished")

    def outcome(self) -> object:
        self.thread.join(WAIT)
        assert self.done.is_set()
        return self.result[0]


def _condemns(op: str, key: str, args: tuple[Any, ...]) -> bool:
    return op == "put" and key == STATE_KEY and b'"condemned": []' not in args[0]


def _gc_with(url: str, when: Callable[[str, str, tuple[Any, ...]], bool], race: Race,
             then: Callable[[str, str, tuple[Any, ...]], bool] | None = None) -> BundleStore:
    """gc, with `race` started at the first step `when` holds (and, given
    `then`, let finish at the first later step `then` holds)."""
    fired, finished = threading.Event(), threading.Event()

    def hook(op: str, key: str, args: tuple[Any, ...]) -> None:
        if not fired.is_set():
            if when(op, key, args):
                fired.set()
                race.start_and_wait()
        elif then is not None and not finished.is_set() and then(op, key, args):
            finished.set()
            race.resume.set()
            race.outcome()

    backend = Hooked(open_backend(url), hook)
    backend.thread = threading.current_thread()
    store = BundleStore(backend)
    store.gc(keep=1, min_age=0)
    assert fired.is_set()
    return store


@pytest.fixture
def url(store_url: str) -> str:
    store = open_store(store_url, create=True)
    for n in (1, 2, 3, 4):
        store.publish(numbered(n), "prod")
    return store_url


OLD = bundle_key(digest_of(numbered(1)))  # beyond keep=1: gc wants it gone


def test_pin_landing_before_gc_deletes_fails_cleanly(url: str) -> None:
    race = Race(url, lambda st: st.pin("prod", 1))
    store = _gc_with(url, lambda op, key, args: op == "delete" and key == OLD, race)
    outcome = race.outcome()
    # gc had decided before the pin announced itself: the pin must not land on what gc deletes.
    assert isinstance(outcome, StoreError) and "garbage-collected" in str(outcome)
    assert store.pointer("prod").version == 4
    whole(store, ["prod"])


def test_pin_announced_before_gc_rescans_is_spared(url: str) -> None:
    race = Race(url, lambda st: st.pin("prod", 1))

    condemned = threading.Event()

    def condemning(op: str, key: str, args: tuple[Any, ...]) -> bool:
        """The first step after gc condemned the old bundles: its rescan."""
        if condemned.is_set():
            return True
        if _condemns(op, key, args):
            condemned.set()
        return False

    store = _gc_with(url, condemning, race)
    outcome = race.outcome()
    assert not isinstance(outcome, StoreError), outcome
    ptr = store.pointer("prod")
    assert (ptr.version, ptr.pinned) == (1, True)
    whole(store, ["prod"])


def test_pin_finishing_while_gc_rescans_is_seen(url: str) -> None:
    """The pin read gc's state just before gc condemned its bundle (so it does
    not wait), and moves its pointer and removes its intent while gc rescans:
    gc must see the intent or the moved pointer, whichever comes first."""
    race = Race(url, lambda st: st.pin("prod", 1), pause_after_state=True)
    store = _gc_with(url, _condemns, race, then=lambda op, key, args: op == "list" and key == "intents/")
    outcome = race.outcome()
    assert not isinstance(outcome, StoreError), outcome
    ptr = store.pointer("prod")
    assert (ptr.version, ptr.pinned) == (1, True)
    whole(store, ["prod"])


def test_republish_landing_before_gc_deletes_puts_the_bundle_back(url: str) -> None:
    race = Race(url, lambda st: st.publish(numbered(1), "prod"))
    store = _gc_with(url, lambda op, key, args: op == "delete" and key == OLD, race)
    outcome = race.outcome()
    assert not isinstance(outcome, StoreError), outcome
    ptr = store.pointer("prod")
    assert (ptr.version, ptr.digest) == (5, digest_of(numbered(1)))
    whole(store, ["prod"])


# -- everything at once ---------------------------------------------------------------------
CHANNELS = ["a", "b"]
OPS = 4  # per writer per round


ROLES = ("publisher", "pinner", "roller", "collector")


def _round(writers: dict[str, BundleStore], rnd: int, errors: list[BaseException]) -> None:
    rng = random.Random(rnd)
    seeds = [rng.random() for _ in range(4)]

    def publisher(seed: float) -> None:
        r, st = random.Random(seed), writers["publisher"]
        for i in range(OPS):
            # New bytes, or old ones again (their bundle may be what gc is taking).
            n = 100 * rnd + i if i % 2 == 0 else r.randint(1, 100 * rnd + 1)
            st.publish(numbered(n), r.choice(CHANNELS), force=True)

    def pinner(seed: float) -> None:
        r, st = random.Random(seed), writers["pinner"]
        for _ in range(OPS):
            channel = r.choice(CHANNELS)
            with contextlib.suppress(StoreError):  # collected, abandoned: refused, the pointer stays
                st.pin(channel, r.randint(1, st.pointer(channel).latest))

    def roller(seed: float) -> None:
        r, st = random.Random(seed), writers["roller"]
        for i in range(OPS):
            with contextlib.suppress(StoreError):  # nothing to roll back to, or its bundle was collected
                (st.rollback if i % 2 == 0 else st.unpin)(r.choice(CHANNELS))

    def collector(seed: float) -> None:
        st = writers["collector"]
        for _ in range(OPS // 2):
            st.gc(keep=1, min_age=0)

    def guarded(fn: Callable[[float], None], seed: float) -> None:
        try:
            fn(seed)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(fn, seed))
               for fn, seed in zip((publisher, pinner, roller, collector), seeds, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 4)
        assert not t.is_alive()


def test_writers_and_gc_all_at_once(store_url: str) -> None:
    store = open_store(store_url, create=True)
    for channel in CHANNELS:
        store.publish(numbered(1), channel)
        store.publish(numbered(2), channel)
    # One store (one S3 client) per writer, as if each were its own process, opened once: a store keeps no
    # state between calls, and an S3 client costs more to build than a round's writes.
    writers = {role: open_store(store_url) for role in ROLES}
    for rnd in range(1, 6):
        errors: list[BaseException] = []
        _round(writers, rnd, errors)
        assert errors == [], errors
        whole(store, CHANNELS)
    store.gc(keep=1, min_age=0)
    whole(store, CHANNELS)
    for channel in CHANNELS:  # and a service starting now gets the channel from the store
        with Client(store=store_url, channel=channel, push=False, poll_interval=3600) as client:
            st = client.delivery_status()
            assert st is not None and st.origin == "store" and st.faults == {}
