"""Which flags' compiled bytes differ between two bundles, without decoding them.

A bundle is split at the wire level into its flags' records (field 5 of
Bundle), each kept as an offset range into the bundle's bytes. The first
bundle of a series is split record by record; each next one is found
against its predecessor: runs of records whose bytes are identical are
skipped with one memory comparison each (galloping, so a run costs about
twice its length in compared bytes), and only the records at a difference
are parsed. At 25,000 flags and a few changes per version that is a few
milliseconds a version instead of a full parse.

Compiled bundles write their flag records in one run (deterministic
serialization orders fields by number); a bundle that does not is split
record by record and compared by key, which gives the same answer, slower.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from safeflags.sdk.chunks import fields, read_varint
from safeflags.sdk.kernel.errors import BundleError
from safeflags.sdk.snapshot import FORMAT_VERSION
from safeflags.v1 import bundle_pb2, common_pb2

_FLAG_TAG = 5 << 3 | 2


@dataclass(frozen=True)
class SplitBundle:
    """A bundle's bytes and where each flag record lies in them, in record order."""

    data: bytes
    keys: list[str]
    starts: list[int]  # of each record (its tag)
    ends: list[int]
    dims: tuple[common_pb2.Dimension, ...]
    strings: tuple[str, ...]
    contiguous: bool  # the flag records form one run

    def payload(self, i: int) -> bytes:
        _, pos = _varint(self.data, self.starts[i])
        _, pos = _varint(self.data, pos)
        return self.data[pos:self.ends[i]]

    def flag(self, i: int) -> bundle_pb2.CompiledFlag:
        return bundle_pb2.CompiledFlag.FromString(self.payload(i))


@dataclass(frozen=True)
class FlagDiff:
    """A flag whose bytes differ: its record index on each side, None where it is absent."""

    key: str
    old: int | None
    new: int | None


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    try:
        return read_varint(data, pos, len(data))
    except ValueError:
        raise BundleError("truncated bundle") from None


def _fields(data: bytes, pos: int = 0) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, record start, payload start, end) of each top-level field from `pos`."""
    try:
        yield from fields(data, pos)
    except ValueError as exc:
        raise BundleError(f"truncated or malformed bundle: {exc}") from None


def _key(data: bytes, pos: int, end: int) -> str:
    # Deterministic serialization writes a flag's key (field 1) first.
    if data[pos:pos + 1] == b"\x0a":
        size, at = _varint(data, pos + 1)
        return data[at:at + size].decode("utf-8")
    return bundle_pb2.CompiledFlag.FromString(data[pos:end]).key


class _Other:
    """The fields other than flags: the dimension catalog, the string table, the format check."""

    def __init__(self) -> None:
        self.dims: list[common_pb2.Dimension] = []
        self.strings: list[str] = []

    def take(self, data: bytes, number: int, wire: int, pos: int, end: int) -> None:
        if number == 1 and wire == 0 and _varint(data, pos)[0] > FORMAT_VERSION:
            raise BundleError(f"bundle format {_varint(data, pos)[0]} is newer than this safeflags reads "
                              f"({FORMAT_VERSION}): upgrade safeflags")
        if number == 4:
            self.dims.append(common_pb2.Dimension.FromString(data[pos:end]))
        elif number == 6:
            self.strings.append(data[pos:end].decode("utf-8"))


def split(data: bytes) -> SplitBundle:
    """Split a bundle record by record."""
    keys: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    other = _Other()
    runs = 0
    last = -1
    for number, wire, start, pos, end in _fields(data):
        if number == 5 and wire == 2:
            runs += start != last
            keys.append(_key(data, pos, end))
            starts.append(start)
            ends.append(end)
            last = end
        else:
            other.take(data, number, wire, pos, end)
    return SplitBundle(data, keys, starts, ends, tuple(other.dims), tuple(other.strings), runs <= 1)


def _same_run(old: SplitBundle, i: int, new: bytes, q: int) -> int:
    """How many records of `old` from record i are byte for byte at `q` in `new`."""
    o, s, e = old.data, old.starts, old.ends
    room = len(s) - i
    base = s[i]

    def same(lo: int, hi: int) -> bool:  # records i+lo .. i+hi-1
        return new.startswith(o[s[i + lo]:e[i + hi - 1]], q + s[i + lo] - base)

    lo, step = 0, 1
    while True:
        hi = min(lo + step, room)
        if not same(lo, hi):
            break
        lo = hi
        if lo == room:
            return lo
        step *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if same(lo, mid):
            lo = mid
        else:
            hi = mid
    return lo


def diff(old: SplitBundle, data: bytes) -> tuple[SplitBundle, list[FlagDiff]]:
    """`data` split, found against `old`, and the flags whose bytes differ (added and removed included)."""
    if not old.contiguous:
        return _by_key(old, split(data))
    other = _Other()
    q = len(data)
    for number, wire, start, pos, end in _fields(data):
        if number == 5 and wire == 2:
            q = start
            break
        other.take(data, number, wire, pos, end)
    keys: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    gone: dict[str, int] = {}
    came: dict[str, int] = {}
    i, m = 0, len(old.keys)
    while True:
        if i < m and q < len(data):
            k = _same_run(old, i, data, q)
            if k:
                shift = q - old.starts[i]
                starts.extend([x + shift for x in old.starts[i:i + k]])
                ends.extend([x + shift for x in old.ends[i:i + k]])
                keys.extend(old.keys[i:i + k])
                q += old.ends[i + k - 1] - old.starts[i]
                i += k
        record = next(_fields(data, q), None)
        if record is None or record[:2] != (5, 2):
            gone.update((old.keys[j], j) for j in range(i, m))
            break
        _, _, start, pos, end = record
        key = _key(data, pos, end)
        if i < m and old.keys[i] <= key:
            gone[old.keys[i]] = i
            i += 1
            if old.keys[i - 1] != key:
                continue  # removed: look at the same new record again
        came[key] = len(keys)
        keys.append(key)
        starts.append(start)
        ends.append(end)
        q = end
    for number, wire, _, pos, end in _fields(data, q):
        if number == 5:  # flag records in more than one run
            return _by_key(old, split(data))
        other.take(data, number, wire, pos, end)
    new = SplitBundle(data, keys, starts, ends, tuple(other.dims), tuple(other.strings), True)
    return new, [FlagDiff(k, gone.get(k), came.get(k)) for k in sorted(gone.keys() | came.keys())]


def _by_key(old: SplitBundle, new: SplitBundle) -> tuple[SplitBundle, list[FlagDiff]]:
    return new, diff_split(old, new)


def diff_split(old: SplitBundle, new: SplitBundle) -> list[FlagDiff]:
    """The flags whose bytes differ between two split bundles, compared by key."""
    a = {k: i for i, k in enumerate(old.keys)}
    b = {k: i for i, k in enumerate(new.keys)}
    out = []
    for key in sorted(a.keys() | b.keys()):
        i, j = a.get(key), b.get(key)
        if i is None or j is None or old.data[old.starts[i]:old.ends[i]] != new.data[new.starts[j]:new.ends[j]]:
            out.append(FlagDiff(key, i, j))
    return out
