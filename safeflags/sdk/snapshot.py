"""One loaded bundle, ready to serve: verified, parsed, indexed, and
specialised for this process's static context.

Loading does only what must happen before the first request: digest check,
protobuf parse, format check, and a key index (25,000 flags load in a few
tens of milliseconds). Each flag is checked, pre-evaluated and compiled on
first use and memoised; `warm()` does it for all flags up front when a
service prefers paying at start-up. A snapshot built against the one it
replaces (`previous=`) takes over every flag whose bytes and dependencies did
not change and prepares only the rest (safeflags.sdk.intake). The memo is
safe without a lock: two threads preparing the same flag build equal entries
and the last dict store wins, and the bundle itself is never modified, so
every result is a pure function of (bundle, static context).
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import FunctionType
from typing import Any, cast

# protobuf ships no type information and types-protobuf is not a dependency (yet).
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from safeflags.sdk import chunks, intake
from safeflags.sdk.binding import Rebinding, SnapshotRetired, prerequisite_check, rebound
from safeflags.sdk.check import check_flag
from safeflags.sdk.chunks import Pieces
from safeflags.sdk.codegen import compile_flag, compile_graph, normalize_context
from safeflags.sdk.details import FlagError, Resolution
from safeflags.sdk.graph import reached
from safeflags.sdk.inputs import describe as _describe
from safeflags.sdk.inputs import parse_digest, read_static
from safeflags.sdk.interpret import BUDGET_SPENT, FAILED, Env, PrerequisiteMemo, evaluate
from safeflags.sdk.kernel.errors import BundleError
from safeflags.sdk.partial import SpecializedFlag, pinned_dims, specialize_flag
from safeflags.sdk.values import decoded, raw, strict_equal
from safeflags.v1 import bundle_pb2, common_pb2

FORMAT_VERSION = 1
"""The newest bundle format this SDK reads."""

MAX_PROBLEMS = 1000
"""Distinct problem messages kept; past that they are counted under one name."""

MAX_PROBLEM_CHARS = 500
"""Characters of a problem message kept: with MAX_PROBLEMS, the problems a
snapshot counts hold under 2 MB whatever the requests or the bundle."""

log = logging.getLogger("safeflags")
T = common_pb2
_TYPES = (T.FLAG_TYPE_BOOL, T.FLAG_TYPE_STRING, T.FLAG_TYPE_INT, T.FLAG_TYPE_FLOAT, T.FLAG_TYPE_JSON)


@dataclass(frozen=True, slots=True)
class PreparedFlag:
    """A flag prepared for serving. `fast` is the constant value, or a
    function `(ctx, _stack=(), _served=None) -> value` (JSON values stay canonical text)."""

    key: str
    type: int
    flag: bundle_pb2.CompiledFlag
    values: tuple[object, ...]
    variants: tuple[str | None, ...]
    spec: SpecializedFlag | None
    error: FlagError | None
    fast: Any  # the constant value, or the generated function when the flag has no constant
    # Resolution -> EvaluationDetails, reused across calls: details are immutable
    # (JSON flags excepted, whose value must be a fresh copy each time).
    details: dict[Resolution, Any] = field(default_factory=dict, compare=False)


class Snapshot:
    """An immutable view of one bundle (its lazily filled caches aside)."""

    def __init__(self, bundle: bundle_pb2.Bundle, *, static: Mapping[str, object] | None = None,
                 digest: str | None = None, ready: bool = True):
        self._setup(bundle, _index(bundle.flags), static, digest, ready)
        self._bundle: bundle_pb2.Bundle | None = bundle

    def _setup(self, header: bundle_pb2.Bundle, flags: dict[str, bundle_pb2.CompiledFlag],
               static: Mapping[str, object] | None, digest: str | None, ready: bool, *,
               read: tuple[dict[str, object], list[str]] | None = None) -> None:
        """Everything but the flags' own parse: `header` gives the format, revisions,
        dimensions and string table (its `flags` are not read), `flags` the index;
        `read`: the static context as `read_static` already read it."""
        static, unnamed = read if read is not None else read_static(static)
        if header.format_version > FORMAT_VERSION:
            raise BundleError(f"bundle format {header.format_version} is newer than this SDK reads "
                              f"({FORMAT_VERSION}): upgrade safeflags")
        self._bundle = None
        self.ready = ready
        self.digest = digest or "sha256-" + hashlib.sha256(header.SerializeToString(deterministic=True)).hexdigest()
        self.format_version = header.format_version
        self.source_revision = header.source_revision
        self.compiler_version = header.compiler_version
        self.flags = flags
        dims = list(header.dimensions)
        self.dimensions = dims
        self.static_context: Mapping[str, object] = static  # as given (str keys), for the next bundle
        self.env = Env(tuple(d.name for d in dims), header.strings, self.flags)
        self.pinned = pinned_dims(static, dims)
        self.static = {dims[i].name: v for i, v in self.pinned.items()}
        self.ignored_static = sorted([*(k for k in static if k not in self.static), *unnamed])
        # Per type, key -> constant value or generated function (see PreparedFlag.fast).
        self.fast_bool: dict[str, Any] = {}
        self.fast_string: dict[str, Any] = {}
        self.fast_int: dict[str, Any] = {}
        self.fast_float: dict[str, Any] = {}
        self.fast_json: dict[str, Any] = {}
        self.fast: dict[int, dict[str, Any]] = {}
        self._adopt_fast({t: {} for t in _TYPES})
        self._entries: dict[str, PreparedFlag] = {}
        self._outcome_fns: dict[str, Callable[..., Any]] = {}
        self._local: dict[str, tuple[object] | None] = {}
        self._specs: dict[str, SpecializedFlag | None] = {}
        # For the next bundle's invalidation: key -> the flags whose preparation (or specialisation,
        # for _specs) read it; and the prepared flags whose functions call back into this snapshot.
        self._readers: dict[str, frozenset[str]] = {}
        self._readers_lock = threading.Lock()
        self._bound: dict[str, Rebinding | None] = {}  # None: an interpreted fallback, prepared again
        self._bound_details: set[str] = set()
        # Flags an earlier snapshot prepared whose functions bind its helper: re-bound on first use
        # (safeflags.sdk.intake), at a few microseconds each, rather than all at intake.
        self._unbound: dict[str, tuple[PreparedFlag, Rebinding]] = {}
        self._broken: set[str] = set()  # prepared flags that cannot serve
        # Generated code reaches this snapshot only through a weak reference: no cycle, so a
        # replaced snapshot is freed by reference counting alone (see safeflags.sdk.intake).
        self._prereq = prerequisite_check(weakref.ref(self))
        self.problems: dict[str, int] = {}
        self._problem_lock = threading.Lock()
        # The pieces the bundle was built from (safeflags.sdk.chunks), kept for the next update's diff,
        # with each chunk's sha256 -> (first key, last key) (None for a chunk without flags).
        self.pieces: Pieces | None = None
        self._chunk_shas: tuple[bytes, ...] = ()
        self._chunk_bounds: dict[bytes, tuple[str, str] | None] = {}

    def _adopt_fast(self, fast: dict[int, dict[str, Any]]) -> None:
        """Serve `fast` (flag type -> key -> constant or function) as this snapshot's fast dicts."""
        self.fast_bool, self.fast_string, self.fast_int, self.fast_float, self.fast_json = (fast[t] for t in _TYPES)
        self.fast = {t: fast[t] for t in _TYPES}

    @property
    def bundle(self) -> bundle_pb2.Bundle:
        """The whole bundle as one message (parsed again for a snapshot built from pieces: a slow path)."""
        if self._bundle is not None:
            return self._bundle
        if self.pieces is None:
            return bundle_pb2.Bundle(format_version=self.format_version)
        return bundle_pb2.Bundle.FromString(self.pieces.join())

    @classmethod
    def from_bytes(cls, data: bytes, static: Mapping[str, object] | None = None,
                   digest: str | None = None, previous: Snapshot | None = None) -> Snapshot:
        """Verify, parse and index bundle bytes; BundleError when they cannot serve.
        Flags unchanged since `previous` are reused from it (see safeflags.sdk.intake)."""
        # type(), not isinstance(): a hostile object's __class__ is not consulted.
        if not issubclass(type(data), (bytes, bytearray, memoryview)):
            raise BundleError(f"a bundle is bytes, not {type(data).__name__}")
        try:  # through the buffer, so a bytes subclass's own __bytes__ is never called
            data = bytes(memoryview(data))
        except Exception as exc:  # a released memoryview, a buffer that will not export
            raise BundleError(f"bundle bytes cannot be read: {type(exc).__name__}") from None
        actual = hashlib.sha256(data).hexdigest()
        if digest is not None and parse_digest(digest) != actual:
            raise BundleError(f"bundle digest mismatch: expected sha256-{parse_digest(digest)}, "
                              f"got sha256-{actual} ({len(data)} bytes): corrupt or truncated")
        if previous is not None:
            cut = chunks.cut(data)
            if cut is not None:
                return intake.build(cls, cut, static, "sha256-" + actual, previous)
            fresh = cls.from_bytes(data, static=static, digest=digest)
            fresh.warm([k for k in previous._entries if k in fresh.flags])  # what was hot stays prepared
            return fresh
        try:
            bundle = bundle_pb2.Bundle.FromString(data)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise BundleError(f"corrupt or truncated bundle ({len(data)} bytes): {exc}") from None
        except Exception as exc:  # whatever else the protobuf runtime raises on hostile bytes
            raise BundleError(f"corrupt bundle ({len(data)} bytes): {type(exc).__name__}") from None
        if bundle.format_version == 0:
            raise BundleError(f"not a safeflags bundle ({len(data)} bytes, no format version): empty or truncated")
        try:
            snapshot = cls(bundle, static=static, digest="sha256-" + actual)
            snapshot._hold(chunks.cut(data))
            return snapshot
        except BundleError:
            raise
        except Exception as exc:  # the contract is BundleError only; tests/security/test_fuzz.py hunts these
            raise BundleError(f"bundle cannot be indexed ({len(data)} bytes): {type(exc).__name__}: "
                              f"{_describe(exc)}") from None

    @classmethod
    def from_pieces(cls, pieces: Pieces, static: Mapping[str, object] | None = None, *, digest: str,
                    previous: Snapshot | None = None) -> Snapshot:
        """A snapshot of the bundle `pieces` assemble to, which must have `digest`;
        flags unchanged since `previous` are reused from it (see safeflags.sdk.intake)."""
        return intake.from_pieces(cls, pieces, static, digest, previous)

    def _hold(self, cut: chunks.Cut | None) -> None:
        """Keep the pieces (and each chunk's digest and key range) for the next update's diff."""
        if cut is None:
            return
        self.pieces = cut.pieces
        self._chunk_shas = tuple(hashlib.sha256(c).digest() for c in cut.pieces.chunks)
        self._chunk_bounds = dict(zip(self._chunk_shas, cut.bounds, strict=True))

    def chunk_index(self) -> dict[bytes, bytes]:
        """sha256 (32 bytes) -> chunk bytes of the pieces this snapshot holds."""
        if self.pieces is None:
            return {}
        return dict(zip(self._chunk_shas, self.pieces.chunks, strict=True))

    @classmethod
    def not_ready(cls) -> Snapshot:
        """The placeholder before any bundle: every flag serves its code default."""
        return cls(bundle_pb2.Bundle(format_version=FORMAT_VERSION), digest="", ready=False)

    def __len__(self) -> int:
        return len(self.flags)

    def entry(self, key: str) -> PreparedFlag | None:
        """The prepared flag `key`, None when the bundle has no such flag."""
        entry = self._entries.get(key)
        if entry is None:
            held = self._unbound.get(key)
            if held is not None:  # prepared by an earlier snapshot: only its helper changes (a few µs)
                before, plan = held
                entry = PreparedFlag(before.key, before.type, before.flag, before.values, before.variants,
                                     before.spec, before.error, rebound(before.fast, plan, self._prereq),
                                     before.details)
                self._bound[entry.key] = plan
            else:
                flag = self.flags.get(key)
                if flag is None:
                    return None
                entry = self._prepare(flag)
            # Stored under the bundle's own str: `key` may be a str subclass.
            self._entries[entry.key] = entry
            if entry.error is None:
                self.fast[entry.type][entry.key] = entry.fast
            else:
                self._broken.add(entry.key)
            self._unbound.pop(entry.key, None)
        return entry

    def warm(self, keys: Iterable[str] | None = None) -> int:
        """Prepare `keys` (all flags by default) now; the number that are broken. A flag an
        earlier snapshot prepared counts as prepared (see `entry`), so warming a snapshot
        built from a warm one costs what changed, not what it holds."""
        if keys is not None:
            return sum(1 for k in keys if (e := self.entry(k)) and e.error)
        if len(self._entries) + len(self._unbound) < len(self.flags):
            for key in self.flags:
                if key not in self._entries and key not in self._unbound:
                    self.entry(key)
        return len(self._broken)

    def outcome_fn(self, entry: PreparedFlag) -> Callable[..., Any]:
        """A function `(ctx, _stack=(), _served=None) -> Resolution` for a non-constant flag (for `details`)."""
        fn = self._outcome_fns.get(entry.key)
        if fn is None:
            assert entry.spec is not None
            fn = self._compile(entry.spec, entry.values, detail=True)
            self._outcome_fns[entry.key] = fn
        return fn

    def reference(self, flag: bundle_pb2.CompiledFlag, ctx: object, stack: tuple[str, ...] = (),
                  errors: list[str] | None = None, *, served: PrerequisiteMemo | None = None) -> Resolution:
        """The reference interpreter's outcome: the request context with the
        pinned static values over it (they win, as in the fast path).
        `served`: the request's prerequisites so far, when a prerequisite asks."""
        merged = {**normalize_context(ctx), **self.static}
        return evaluate(flag, merged, self.env if served is None else self.env._replace(served=served), stack, errors)

    def note(self, problem: str) -> None:
        """Count an evaluation problem that did not stop evaluation; log it once."""
        if len(problem) > MAX_PROBLEM_CHARS:  # it may quote a request value, through an exception's repr
            problem = f"{problem[:MAX_PROBLEM_CHARS]}… ({len(problem):,} characters)"
        with self._problem_lock:
            if problem not in self.problems and len(self.problems) >= MAX_PROBLEMS:
                problem = "(other problems)"
            first = problem not in self.problems
            self.problems[problem] = self.problems.get(problem, 0) + 1
        if first:
            log.warning("safeflags: %s (bundle %s)", problem, self.digest)

    def _prepare(self, flag: bundle_pb2.CompiledFlag) -> PreparedFlag:
        values = tuple(raw(v) for v in flag.values)
        variants = tuple(v or None for v in flag.variants) or (None,) * len(values)
        spec: SpecializedFlag | None = None
        reads: set[str] = set()
        try:
            check_flag(flag, len(self.env.names), len(self.env.strings))
            spec = specialize_flag(flag, self.pinned, self.env, lambda k: self._local_read(k, reads))
            if spec.constant is not None:
                fast = values[spec.constant.value_index]
            else:
                fast = self._compile(spec, values, detail=False, reads=reads)
        except FlagError as exc:
            return PreparedFlag(flag.key, flag.type, flag, values, variants, None, exc, None)
        except Exception as exc:  # a bug or an exotic bundle: this flag alone is broken
            err = FlagError(f"{flag.key}: cannot prepare flag: {exc!r}")
            return PreparedFlag(flag.key, flag.type, flag, values, variants, None, err, None)
        finally:
            self._note_reads(flag.key, reads)
        return PreparedFlag(flag.key, flag.type, flag, values, variants, spec, None, fast)

    def _compile(self, spec: SpecializedFlag, values: tuple[object, ...], detail: bool,
                 reads: set[str] | None = None) -> Callable[..., object]:
        key = spec.flag.key
        try:
            fn = compile_flag(spec, values, self.env.names, self.env.strings, self._prereq, detail)
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            pass  # a tree Python's parser cannot take: interpret it instead
        else:
            plan: Rebinding = tuple((i, None) for i, d in enumerate(fn.__defaults__ or ()) if d is self._prereq)
            graph = self._inline(spec, values, fn, detail, reads)
            if graph is not None:
                fn, plan = graph, tuple((i, plan) for i, d in enumerate(graph.__defaults__ or ()) if d is fn)
            if plan:
                self._mark_bound(key, plan, detail)
            return fn
        flag = spec.flag
        ref = weakref.ref(self)
        self._mark_bound(key, None, detail)

        def interpreted(ctx: object, _stack: tuple[str, ...] = (), _served: PrerequisiteMemo | None = None) -> object:
            snapshot = ref()
            if snapshot is None:
                raise SnapshotRetired(flag.key)
            out = snapshot.reference(flag, ctx, _stack, served=_served)
            return out if detail else values[out.value_index]

        return interpreted

    def _mark_bound(self, key: str, plan: Rebinding | None, detail: bool) -> None:
        if detail:
            self._bound_details.add(key)
        else:
            self._bound[key] = plan

    def _inline(self, spec: SpecializedFlag, values: tuple[object, ...], memo: Callable[..., object],
                detail: bool, reads: set[str] | None = None) -> FunctionType | None:
        """One function for `spec` and the prerequisite graph below it, when
        the graph has no cuts (graph.reached); None to keep `memo`."""
        seen = set() if reads is None else reads
        try:
            below = reached(spec, lambda k: self._spec_read(k, seen))
            if not below:
                return None
            return cast(FunctionType, compile_graph(spec, values, self.env.names, self.env.strings, below, memo,
                                                    detail))
        except Exception:  # a graph Python's parser cannot take, a value strict_equal refuses: keep the memo
            return None

    def _note_reads(self, key: str, reads: set[str]) -> None:
        """Index what preparing `key` read, by what was read. Sets are replaced, never
        changed: a snapshot built from this one shares them (safeflags.sdk.intake)."""
        if not reads:
            return
        readers = self._readers
        with self._readers_lock:  # two threads preparing flags that read the same key must not lose one
            for read in reads:
                known = readers.get(read)
                if known is None or key not in known:
                    readers[read] = frozenset((key,)) if known is None else known | {key}

    def _spec_read(self, key: str, reads: set[str]) -> SpecializedFlag | None:
        reads.add(key)
        return self._specialized(key)

    def _local_read(self, key: str, reads: set[str]) -> tuple[object] | None:
        reads.add(key)
        return self._local_constant(key)

    def _specialized(self, key: str) -> SpecializedFlag | None:
        """Flag `key` specialised as `_prepare` does, None when missing or
        broken; memoised, and never compiled, so reading a graph cannot recurse."""
        if key in self._specs:
            return self._specs[key]
        spec: SpecializedFlag | None = None
        flag = self.flags.get(key)
        reads: set[str] = set()
        if flag is not None:
            try:
                check_flag(flag, len(self.env.names), len(self.env.strings))
                spec = specialize_flag(flag, self.pinned, self.env, lambda k: self._local_read(k, reads))
            except Exception:
                spec = None  # broken: the memo path reports it
        self._note_reads(key, reads)
        self._specs[key] = spec
        return spec

    def _local_constant(self, key: str) -> tuple[object] | None:
        """`(value,)` when flag `key` is a constant on its own (static context
        only, its own prerequisites unresolved), else None. One level only, so
        folding a prerequisite never depends on the order flags were prepared
        in and can never recurse through a cycle."""
        if key in self._local:
            return self._local[key]
        found: tuple[object] | None = None
        flag = self.flags.get(key)
        if flag is not None:
            try:
                check_flag(flag, len(self.env.names), len(self.env.strings))
                spec = specialize_flag(flag, self.pinned, self.env)
                if spec.constant is not None:
                    found = (decoded(flag.values[spec.constant.value_index]),)
            except Exception:
                found = None  # broken: left to evaluation, which reports it
        self._local[key] = found
        return found

    def _flag_is(self, key: str, expected: object, ctx: Mapping[str, object], path: tuple[str, ...],
                 served: PrerequisiteMemo) -> bool:
        """Prerequisite check for generated code: the interpreter's rules and
        its memo of what each prerequisite served in this request."""
        flag = self.flags.get(key)
        problem = served.check(key, path, flag is not None)
        if problem is not None or flag is None:
            self.note(problem or key)
            return False
        depth = len(path)
        found = served.recall(key, depth)
        if found is not None:
            value = found[0]
        else:
            entry = self.entry(key)
            if entry is None or entry.error is not None:
                self.note(f"prerequisite {key!r} is broken: {entry.error if entry else 'missing'}")
                return False
            mark = None
            if entry.spec is None or entry.spec.constant is None:
                mark = served.begin(depth)
                if mark is None:
                    self.note(BUDGET_SPENT)
                    return False
            value = FAILED
            try:
                value = self._served_value(entry, ctx, path, served)
            except Exception as exc:
                self.note(f"prerequisite {key!r} failed: {exc!r}")
            finally:
                if mark is not None:
                    served.end(key, depth, mark, value)
        if value is FAILED:
            return False
        try:
            return strict_equal(value, expected)
        except Exception as exc:
            self.note(f"prerequisite {key!r} failed: {exc!r}")
            return False

    def _served_value(self, entry: PreparedFlag, ctx: Mapping[str, object], path: tuple[str, ...],
                      served: PrerequisiteMemo) -> object:
        """What prepared flag `entry` serves in `ctx` as a prerequisite at the end of `path`, decoded."""
        if entry.spec is not None and entry.spec.constant is not None:
            value = entry.values[entry.spec.constant.value_index]
        else:
            try:
                value = entry.fast(ctx, path, served)
            except Exception:  # a value the fast path does not take: ask the reference
                value = entry.values[self.reference(entry.flag, ctx, path, served=served).value_index]
        if entry.type == T.FLAG_TYPE_JSON:
            value = json.loads(cast(str, value))  # JSON values are canonical text
        return value


def _index(flags: Iterable[bundle_pb2.CompiledFlag]) -> dict[str, bundle_pb2.CompiledFlag]:
    """Key -> flag; the bundle promises keys sorted and unique, and a bundle
    that breaks the promise was not written by our compiler."""
    index: dict[str, bundle_pb2.CompiledFlag] = {}
    previous = ""
    for flag in flags:
        key = flag.key
        if key <= previous and index:
            raise BundleError(f"flags not sorted by key or duplicated at {key!r}: corrupt bundle")
        index[key] = flag
        previous = key
    return index
