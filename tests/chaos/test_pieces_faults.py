"""Chaos on the pieces path: faults on `manifests/<digest>.pb` and `chunks/sha256-*.pb`.

A client that serves a bundle fetches the next one by its manifest and the
chunks it lacks, and reads the whole bundle when anything on that path fails.
Through the fault proxy, with its faults narrowed to those paths:

- damaged pieces (truncated, flipped bits, wrong bytes, 5xx, resets, stalls)
  cost the whole bundle and nothing else: the update lands, no fault counted;
- with the whole bundle damaged as well, the client keeps serving the last
  good version, counts the fault, and recovers once it ends;
- never is a bundle served whose bytes are not the pointer's digest (a forged
  manifest lists chunks that each check out but make another bundle), and no
  evaluation raises or sees a mix of two versions;
- once the fault ends, the next update is in pieces again.

As in test_faults.py, nothing here asserts how long anything took.
"""
from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterator

import pytest

from safeflags.delivery import Client
from safeflags.delivery.pieces import MIN_PIECES_SIZE
from safeflags.sdk import chunks
from safeflags.serve import FlagServer
from safeflags.store import open_store
from tests.chaos.test_faults import HANG, SLOW, Rig, recovers, ride_out, rigged, status
from tests.helpers.builder import Builder
from tests.helpers.delivery import Publisher
from tests.helpers.waiting import wait_until

FILLER = 5000  # int flags w.NNNN beside t.n and t.name: about 85 KB, so updates come in pieces
PIECES = ("/manifests/", "/chunks/")
MANIFESTS = ("/manifests/",)
CHUNKS = ("/chunks/",)
EVERYTHING = ("/manifests/", "/chunks/", "/bundles/")
READ_FAILED = {"manifest_unreadable", "chunk_unreadable"}


@functools.cache  # built once per version for the whole module: bytes, never changed by a test
def versioned(n: int) -> bytes:
    """Version n: `t.n` serves n and `t.name` "v<n>" (what Hammer checks), and FILLER flags that
    never change, so one version differs from the next in a chunk or two."""
    b = Builder()
    flags = [b.flag("t.n", "int", [n]), b.flag("t.name", "string", [f"v{n}"])]
    flags += [b.flag(f"w.{i:04d}", "int", [i]) for i in range(FILLER)]
    return b.data(flags, source_revision=f"rev-{n}")


def digest(data: bytes) -> str:
    return "sha256-" + hashlib.sha256(data).hexdigest()


def wrong_bodies(served: int, next_: int) -> dict[str, bytes]:
    """What "wrong" mode answers instead: for the manifest of `next_`, the manifest of `served`
    relabelled (every chunk it lists is one the client holds and checks out, and together they
    make the wrong bundle); for any chunk, a real chunk of `served` (valid, but not the one
    asked for); for the bundle, the bundle of `served`."""
    old = versioned(served)
    made = chunks.manifest_of(old)
    assert made is not None
    forged, pieces = made
    forged.digest = digest(versioned(next_))
    return {"/manifests/": forged.SerializeToString(), "/chunks/": pieces.chunks[0], "/bundles/": old}


def served_bytes(client: Client) -> bytes:
    """The bundle the client's snapshot was built from, byte for byte."""
    pieces = client.snapshot.pieces
    assert pieces is not None
    return pieces.join()


class Watch:
    """Evaluates without pause on its own thread: every answer must be one whole version (never
    t.n of one with t.name of another), versions never go back, and nothing raises."""

    def __init__(self, client: Client):
        self.client = client
        self.errors = self.mixed = self.backwards = self.evaluations = 0
        self.seen: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                before = self.client.get_int("t.n", -1)
                name = self.client.get_string("t.name", "")
                after = self.client.get_int("t.n", -1)
            except Exception:  # counted: the contract is zero
                self.errors += 1
                continue
            self.evaluations += 1
            if before == after and name != f"v{before}":
                self.mixed += 1
            if self.seen and after < self.seen[-1]:
                self.backwards += 1
            if not self.seen or after != self.seen[-1]:
                self.seen.append(after)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def rig(signed: Publisher) -> Iterator[Rig]:
    assert len(versioned(1)) > MIN_PIECES_SIZE  # else every update is fetched whole anyway
    with rigged(signed, versioned(1)) as rig:
        yield rig


def publish(rig: Rig, n: int) -> None:
    rig.pub.publish(n, data=versioned(n))


def back_in_pieces(rig: Rig, client: Client, n: int) -> None:
    """With the proxy passing everything, version n arrives in pieces, exactly."""
    publish(rig, n)
    wait_until(lambda: status(client).version == n, timeout=60, what=f"version {n}")
    st = status(client)
    assert st.healthy and st.fetched == "pieces", st
    assert served_bytes(client) == versioned(n)


@pytest.mark.parametrize(("mode", "only", "kinds", "timeout"), [
    pytest.param("truncate", MANIFESTS, {"manifest_unreadable"}, HANG, id="truncated-manifest"),
    pytest.param("truncate", CHUNKS, {"chunk_unreadable"}, HANG, id="truncated-chunk"),
    pytest.param("corrupt", MANIFESTS, {"bad_manifest"}, HANG, id="flipped-manifest"),
    pytest.param("corrupt", CHUNKS, {"bad_chunk"}, HANG, id="flipped-chunk"),
    pytest.param("wrong", MANIFESTS, {"bad_pieces"}, HANG, id="forged-manifest"),
    pytest.param("wrong", CHUNKS, {"bad_chunk"}, HANG, id="wrong-chunk"),
    pytest.param("5xx", PIECES, {"manifest_unreadable"}, HANG, id="5xx"),
    pytest.param("5xx", CHUNKS, {"chunk_unreadable"}, HANG, id="5xx-chunk"),
    pytest.param("reset", MANIFESTS, READ_FAILED, HANG, id="reset-manifest"),
    pytest.param("reset", CHUNKS, READ_FAILED, HANG, id="reset-chunk"),
    pytest.param("stall", CHUNKS, {"chunk_unreadable"}, SLOW, id="stalled-chunk"),
])
def test_damaged_pieces_cost_the_whole_bundle_only(rig: Rig, mode: str, only: tuple[str, ...], kinds: set[str],
                                                   timeout: float) -> None:
    with rig.client(timeout=timeout) as client:
        assert client.get_int("t.n", 0) == 1
        rig.proxy.wrong = wrong_bodies(1, 2)
        rig.proxy.only = only
        rig.proxy.set(mode)
        with Watch(client) as watch:
            publish(rig, 2)
            wait_until(lambda: status(client).version == 2, timeout=60, what="version 2")
            wait_until(lambda: watch.seen[-1:] == [2], what="version 2 evaluated")
        assert (watch.errors, watch.mixed, watch.backwards) == (0, 0, 0) and watch.seen == [1, 2]
        assert rig.proxy.faulted > 0  # the fault did meet the pieces
        st = status(client)
        assert st.healthy and st.faults == {} and st.fetched == "whole", st
        assert st.fallbacks and set(st.fallbacks) <= kinds, st.fallbacks
        assert served_bytes(client) == versioned(2)
        rig.proxy.set("ok")
        back_in_pieces(rig, client, 3)


@pytest.mark.parametrize(("mode", "kind", "timeout"), [
    pytest.param("truncate", "unavailable", HANG, id="truncate"),
    pytest.param("corrupt", "digest_mismatch", HANG, id="flipped"),
    pytest.param("wrong", "digest_mismatch", HANG, id="wrong"),
    pytest.param("5xx", "unavailable", HANG, id="5xx"),
    pytest.param("reset", "unavailable", HANG, id="reset"),
    pytest.param("stall", "unavailable", SLOW, id="stall"),
])
def test_pieces_and_bundle_damaged_keep_the_last_good_version(rig: Rig, mode: str, kind: str,
                                                              timeout: float) -> None:
    with rig.client(timeout=timeout) as client:
        assert client.get_int("t.n", 0) == 1
        rig.proxy.wrong = wrong_bodies(1, 2)
        rig.proxy.only = EVERYTHING
        rig.proxy.set(mode)
        publish(rig, 2)
        ride_out(client, 1, kind, faults=2)
        assert served_bytes(client) == versioned(1)
        assert status(client).fallbacks  # each try went by the pieces first
        recovers(client, rig.proxy, 2)
        st = status(client)
        assert st.fetched == "pieces" and served_bytes(client) == versioned(2)
        back_in_pieces(rig, client, 3)


def test_the_store_dies_mid_chunk_download(rig: Rig) -> None:
    """The store dies while a chunk download is stalled half-way; the client serves version 1
    throughout and, with the store back, takes version 2 in pieces."""
    with rig.client(timeout=HANG) as client:
        rig.proxy.only = CHUNKS
        rig.proxy.set("stall")
        publish(rig, 2)
        wait_until(rig.proxy.stalled.is_set, timeout=60, what="a chunk download in progress")
        rig.server.close()
        rig.proxy.only = None
        rig.proxy.released.set()
        ride_out(client, 1, "unavailable", faults=2)
        rig.server = FlagServer(open_store(rig.pub.url), watch_interval=0.02).start()
        rig.proxy.upstream = rig.server.url
        recovers(client, rig.proxy, 2)
        assert status(client).fetched == "pieces" and served_bytes(client) == versioned(2)
