"""One loaded bundle, ready to serve: verified, parsed, indexed, and
specialised for this process's static context.

Loading does only what must happen before the first request: digest check,
protobuf parse, format check, and a key index (25,000 flags load in a few
tens of milliseconds). Each flag is checked, pre-evaluated and compiled on
first use and memoised; `warm()` does it for all flags up front when a
service prefers paying at start-up. The memo is safe without a lock: two
threads preparing the same flag build equal entries and the last dict store
wins, and the bundle itself is never modified, so every result is a pure
function of (bundle, static context).
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

# protobuf ships no type information and types-protobuf is not a dependency (yet).
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from safeflags.sdk.check import check_flag
from safeflags.sdk.chunks import Pieces, split
from safeflags.sdk.codegen import compile_flag, compile_graph, normalize_context
from safeflags.sdk.details import FlagError, Resolution
from safeflags.sdk.graph import reached
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
_HEX = re.compile(r"[0-9a-f]{64}\Z")
T = common_pb2


def parse_digest(text: str) -> str:
    """Lower-case hex of a SHA-256 given as "sha256-<hex>" or "<hex>"."""
    # A str subclass is read as its characters, never through its own methods.
    exact = str.__str__(text) if issubclass(type(text), str) else None
    hexpart = exact.strip().lower().removeprefix("sha256-") if exact is not None else ""
    if not _HEX.match(hexpart):
        given = repr(exact) if exact is not None else f"of type {type(text).__name__}"
        raise BundleError(f"expected digest {given[:80]} is not a SHA-256 (sha256-<64 hex digits>)")
    return hexpart


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
        static, unnamed = _read_static(static)
        if bundle.format_version > FORMAT_VERSION:
            raise BundleError(f"bundle format {bundle.format_version} is newer than this SDK reads "
                              f"({FORMAT_VERSION}): upgrade safeflags")
        self.bundle = bundle
        self.ready = ready
        self.digest = digest or "sha256-" + hashlib.sha256(bundle.SerializeToString(deterministic=True)).hexdigest()
        self.format_version = bundle.format_version
        self.source_revision = bundle.source_revision
        self.compiler_version = bundle.compiler_version
        self.flags = _index(bundle.flags)
        dims = list(bundle.dimensions)
        self.static_context: Mapping[str, object] = static  # as given (str keys), for the next bundle
        self.env = Env(tuple(d.name for d in dims), bundle.strings, self.flags)
        self.pinned = pinned_dims(static, dims)
        self.static = {dims[i].name: v for i, v in self.pinned.items()}
        self.ignored_static = sorted([*(k for k in static if k not in self.static), *unnamed])
        # Per type, key -> constant value or generated function (see PreparedFlag.fast).
        self.fast_bool: dict[str, Any] = {}
        self.fast_string: dict[str, Any] = {}
        self.fast_int: dict[str, Any] = {}
        self.fast_float: dict[str, Any] = {}
        self.fast_json: dict[str, Any] = {}
        self.fast: dict[int, dict[str, Any]] = {T.FLAG_TYPE_BOOL: self.fast_bool, T.FLAG_TYPE_STRING: self.fast_string,
                     T.FLAG_TYPE_INT: self.fast_int, T.FLAG_TYPE_FLOAT: self.fast_float,
                     T.FLAG_TYPE_JSON: self.fast_json}
        self._entries: dict[str, PreparedFlag] = {}
        self._outcome_fns: dict[str, Callable[..., Any]] = {}
        self._local: dict[str, tuple[object] | None] = {}
        self._specs: dict[str, SpecializedFlag | None] = {}
        self.problems: dict[str, int] = {}
        self._problem_lock = threading.Lock()
        # The pieces the bundle was built from (safeflags.sdk.chunks), kept for the next update's diff.
        self.pieces: Pieces | None = None

    @classmethod
    def from_bytes(cls, data: bytes, static: Mapping[str, object] | None = None,
                   digest: str | None = None, previous: Snapshot | None = None) -> Snapshot:
        """Verify, parse and index bundle bytes; BundleError when they cannot serve."""
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
            snapshot.pieces = split(data)
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
        flags unchanged since `previous` are reused from it."""
        actual = pieces.digest()
        if parse_digest(digest) != actual.removeprefix("sha256-"):
            raise BundleError(f"assembled bundle digest mismatch: expected {digest}, got {actual}")
        snapshot = cls.from_bytes(pieces.join(), static=static, digest=digest)
        snapshot.pieces = pieces
        return snapshot

    def chunk_index(self) -> dict[bytes, bytes]:
        """sha256 (32 bytes) -> chunk bytes of the pieces this snapshot holds."""
        if self.pieces is None:
            return {}
        return {hashlib.sha256(c).digest(): c for c in self.pieces.chunks}

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
            flag = self.flags.get(key)
            if flag is None:
                return None
            entry = self._prepare(flag)
            # Stored under the bundle's own str: `key` may be a str subclass.
            self._entries[flag.key] = entry
            if entry.error is None:
                self.fast[entry.type][flag.key] = entry.fast
        return entry

    def warm(self, keys: Iterable[str] | None = None) -> int:
        """Prepare `keys` (all flags by default) now; the number that are broken."""
        return sum(1 for k in (self.flags if keys is None else keys) if (e := self.entry(k)) and e.error)

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
        try:
            check_flag(flag, len(self.env.names), len(self.env.strings))
            spec = specialize_flag(flag, self.pinned, self.env, self._local_constant)
            if spec.constant is not None:
                fast = values[spec.constant.value_index]
            else:
                fast = self._compile(spec, values, detail=False)
        except FlagError as exc:
            return PreparedFlag(flag.key, flag.type, flag, values, variants, None, exc, None)
        except Exception as exc:  # a bug or an exotic bundle: this flag alone is broken
            err = FlagError(f"{flag.key}: cannot prepare flag: {exc!r}")
            return PreparedFlag(flag.key, flag.type, flag, values, variants, None, err, None)
        return PreparedFlag(flag.key, flag.type, flag, values, variants, spec, None, fast)

    def _compile(self, spec: SpecializedFlag, values: tuple[object, ...], detail: bool) -> Callable[..., object]:
        try:
            fn = compile_flag(spec, values, self.env.names, self.env.strings, self._flag_is, detail)
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            pass  # a tree Python's parser cannot take: interpret it instead
        else:
            return self._inline(spec, values, fn, detail) or fn
        flag = spec.flag

        def interpreted(ctx: object, _stack: tuple[str, ...] = (), _served: PrerequisiteMemo | None = None) -> object:
            out = self.reference(flag, ctx, _stack, served=_served)
            return out if detail else values[out.value_index]

        return interpreted

    def _inline(self, spec: SpecializedFlag, values: tuple[object, ...], memo: Callable[..., object],
                detail: bool) -> Callable[..., object] | None:
        """One function for `spec` and the prerequisite graph below it, when
        the graph has no cuts (graph.reached); None to keep `memo`."""
        try:
            below = reached(spec, self._specialized)
            if not below:
                return None
            return compile_graph(spec, values, self.env.names, self.env.strings, below, memo, detail)
        except Exception:  # a graph Python's parser cannot take, a value strict_equal refuses: keep the memo
            return None

    def _specialized(self, key: str) -> SpecializedFlag | None:
        """Flag `key` specialised as `_prepare` does, None when missing or
        broken; memoised, and never compiled, so reading a graph cannot recurse."""
        if key in self._specs:
            return self._specs[key]
        spec: SpecializedFlag | None = None
        flag = self.flags.get(key)
        if flag is not None:
            try:
                check_flag(flag, len(self.env.names), len(self.env.strings))
                spec = specialize_flag(flag, self.pinned, self.env, self._local_constant)
            except Exception:
                spec = None  # broken: the memo path reports it
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


def _read_static(static: object) -> tuple[dict[str, object], list[str]]:
    """A plain copy of a static context: its str-keyed entries (a str subclass
    key as its characters), and a description of each other key, which can
    name no dimension and is reported as ignored. Reads the mapping once;
    BundleError when it cannot be read, whatever it raises."""
    if static is None:
        return {}, []
    if not issubclass(type(static), Mapping):
        raise BundleError(f"static context must be a mapping, not {type(static).__name__}")
    copy: dict[str, object] = {}
    unnamed: list[str] = []
    try:
        for key, value in list(static.items()):  # type: ignore[attr-defined]
            if type(key) is str:
                copy[key] = value
            elif issubclass(type(key), str):
                copy[str.__str__(key)] = value
            else:
                unnamed.append(_describe(key))
    except Exception as exc:
        raise BundleError(f"static context cannot be read: {type(exc).__name__} from its "
                          f"{type(static).__name__}") from None
    return copy, unnamed


def _describe(thing: object) -> str:
    """A short repr that cannot raise (a hostile object's own repr may)."""
    try:
        text = repr(thing)
    except Exception:
        text = None
    if type(text) is not str:
        return f"<{type(thing).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


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
