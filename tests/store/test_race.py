"""Racing publishers never lose an update or corrupt a pointer."""
from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

from safeflags.store import BundleStore, Pointer, Record, open_store
from safeflags.store.layout import pointer_key
from tests.helpers.bundles import numbered

PUBLISHES = 200
# Publishes on S3 are serialised by the contention itself (each costs a dozen round trips and most
# attempts wait for another publisher's claim), so 200 of them take half a minute there. Ten per
# thread still puts all eight threads on every version's claim; the directory store keeps 200.
PUBLISHES_BY_SCHEME = {"file": PUBLISHES, "s3": 80}


def _watch_pointer(store: BundleStore, stop: threading.Event, seen: list[int], bad: list[str]) -> None:
    # Every read during the race must parse, and versions only go forward.
    while not stop.is_set():
        obj = store.backend.get(pointer_key("race"))
        if obj is None:
            continue
        try:
            seen.append(Pointer.from_json(obj.data, "pointer").version)
        except Exception as exc:
            bad.append(repr(exc))
        stop.wait(0.005)  # leave the two cores to the publishers


def test_concurrent_publishes_are_gap_free(store_url: str) -> None:
    publishes = PUBLISHES_BY_SCHEME[store_url.split("://", 1)[0]]
    store = open_store(store_url, create=True)
    stop, seen, bad = threading.Event(), [], []  # type: ignore[var-annotated]
    watcher = threading.Thread(target=_watch_pointer, args=(store, stop, seen, bad))
    local = threading.local()

    def publish(n: int) -> Record:
        # One store (one boto3 client) per publisher thread, like separate processes.
        if not hasattr(local, "store"):
            local.store = open_store(store_url, create=True)
        return local.store.publish(numbered(n), "race")[0]  # type: ignore[no-any-return]

    watcher.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            recs = list(pool.map(publish, range(publishes)))
    finally:
        stop.set()
        watcher.join()
    assert sorted(r.version for r in recs) == list(range(1, publishes + 1))
    history = store.history("race")
    assert [r.version for r in history] == list(range(1, publishes + 1))
    # Each publish's bytes landed under its own version, none overwritten.
    assert {r.digest for r in history} == {r.digest for r in recs}
    final = store.pointer("race")
    assert (final.version, final.latest) == (publishes, publishes)
    assert bad == [] and seen == sorted(seen)


def _publish_many(url: str, start: int, count: int) -> None:
    store = open_store(url, create=True)
    for n in range(start, start + count):
        store.publish(numbered(n), "race")


def test_publishers_in_separate_processes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"file://{tmp_path}"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_publish_many, args=(url, i * 50, 50)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = open_store(url)
    assert [r.version for r in store.history("race")] == list(range(1, PUBLISHES + 1))
    assert store.pointer("race").version == PUBLISHES
