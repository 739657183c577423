"""The evaluator: `evaluator.get_bool("billing.new_path", False, ctx)` over one
snapshot. `safeflags.Client` (the delivery client) is an Evaluator that also
keeps its snapshot current from a bundle store.

It never raises. A missing flag, a flag of another type, a malformed flag, an
invalid context or any unexpected fault serves the caller's code default with
reason ERROR; the fault is counted (see `status()`) and reported once per
(flag, kind) to the "safeflags" logger and the optional `on_error(key, exc)`
hook.

Types are strict: `get_bool` serves bool flags, `get_string` string flags,
`get_int` int flags, `get_float` float flags only (an int flag is a
TYPE_MISMATCH: widening would hide a flag declared with the wrong type), and
`get_json` JSON flags, as a fresh decoded copy per call.

Contexts are mappings of dimension name to value; None means empty. A
context that is not a mapping is INVALID_CONTEXT for flags that read it;
constant (STATIC) flags do not read it and serve their value.

Swapping bundles is one attribute assignment of an immutable snapshot, and
every call reads that attribute once, so a call sees the old bundle or the
new one, never a mix.
"""
from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from safeflags.sdk.codegen import normalize_context
from safeflags.sdk.details import (
    ErrorCode,
    EvaluationDetails,
    EvaluationError,
    Reason,
    Resolution,
)
from safeflags.sdk.snapshot import PreparedFlag, Snapshot
from safeflags.v1 import common_pb2 as T

if TYPE_CHECKING:
    from safeflags.sdk.explain import Explanation

log = logging.getLogger("safeflags")

ErrorHook = Callable[[str, BaseException], object]

MAX_TRACKED = 1000
"""Distinct (flag, kind) error counters kept; callers passing endless unknown
keys must not grow memory without bound."""

MAX_KEY_KEPT = 200
"""Characters of a flag key (and of an error kind) kept in a counter or a log
line: with MAX_TRACKED, what hostile keys can make the counters hold is bounded
in bytes (under 1 MB), not only in entries."""

MAX_MESSAGE_KEPT = 1000
"""Characters of an error message logged (it may quote a key or a request value)."""

TYPE_NAMES: dict[int, str] = {T.FLAG_TYPE_BOOL: "bool", T.FLAG_TYPE_STRING: "string", T.FLAG_TYPE_INT: "int",
              T.FLAG_TYPE_FLOAT: "float", T.FLAG_TYPE_JSON: "json"}
TYPES_BY_NAME: dict[str, int] = {name: t for t, name in TYPE_NAMES.items()}

_loads = json.loads


@dataclass(frozen=True)
class ClientStatus:
    """What the client serves from and what went wrong, for health endpoints."""

    ready: bool
    digest: str
    source_revision: str
    compiler_version: str
    format_version: int
    flags: int
    static: Mapping[str, object]
    ignored_static: tuple[str, ...]
    errors: Mapping[tuple[str, str], int] = field(default_factory=dict)
    problems: Mapping[str, int] = field(default_factory=dict)
    fast_path_fallbacks: int = 0


class Evaluator:
    """Evaluates flags from the current snapshot. With no snapshot, every
    call serves the code default with ERROR / PROVIDER_NOT_READY."""

    def __init__(self, snapshot: Snapshot | None = None, *, static: Mapping[str, object] | None = None,
                 on_error: ErrorHook | None = None):
        self._snap = snapshot if snapshot is not None else Snapshot.not_ready()
        self._static: Mapping[str, object] = dict(static) if static is not None else self._snap.static_context
        self._on_error = on_error
        self._errors: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._fallbacks = 0

    @classmethod
    def from_bytes(cls, data: bytes, static: Mapping[str, object] | None = None, digest: str | None = None,
                   on_error: ErrorHook | None = None) -> Evaluator:
        """A client serving `data`; BundleError when the bytes cannot serve."""
        # The snapshot's copy of `static`, read once: a mapping is never read again.
        return cls(Snapshot.from_bytes(data, static=static, digest=digest), on_error=on_error)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], static: Mapping[str, object] | None = None,
                  digest: str | None = None, on_error: ErrorHook | None = None) -> Evaluator:
        with open(path, "rb") as fh:
            return cls.from_bytes(fh.read(), static=static, digest=digest, on_error=on_error)

    @property
    def snapshot(self) -> Snapshot:
        return self._snap

    @property
    def static_context(self) -> Mapping[str, object]:
        """The static context every snapshot this evaluator loads is specialised
        to: the one it was built with, else the first snapshot's."""
        return dict(self._static)

    freeze_on_swap = False
    """After each swap, move every object the collector tracks to its permanent generation
    (`gc.freeze()`), so that full collections no longer walk the snapshot: at 25,000 warmed
    flags a full collection drops from ~200 ms to under 1 ms (benchmarks/intake.py). Off for a
    plain Evaluator and on for the delivery client (`Client(gc_freeze=False)` turns it off),
    because it is process-wide: cyclic garbage that survived into the oldest generation and
    exists at the moment of a swap (the application's) is then never collected; the young
    generations are collected first, which is cheap and catches most of it. A snapshot
    itself holds no reference cycle, so a replaced one is freed by reference counting, frozen
    or not."""

    def swap(self, snapshot: Snapshot) -> None:
        """Serve `snapshot` from the next call on (atomic: one assignment)."""
        if not isinstance(snapshot, Snapshot):
            raise TypeError(f"swap() takes a Snapshot, not {type(snapshot).__name__}")
        self._snap = snapshot
        if self.freeze_on_swap:
            gc.collect(1)
            gc.freeze()

    def load_bytes(self, data: bytes, digest: str | None = None) -> Snapshot:
        """Build a snapshot with this client's static context, reusing what is unchanged
        since the current one, and swap it in. Raises BundleError and keeps the current
        snapshot when `data` is bad."""
        current = self._snap
        snapshot = Snapshot.from_bytes(data, static=self._static, digest=digest,
                                       previous=current if current.ready else None)
        self.swap(snapshot)
        return snapshot

    # The get_* methods are the hot path: one dict lookup serves a prepared
    # flag (a constant, or a generated function); anything else, including
    # the first call for a flag, goes through _resolve, which never raises.

    def get_bool(self, key: str, code_default: Any, ctx: Any = None) -> Any:
        try:
            v = self._snap.fast_bool[key]
            if v is True or v is False:
                return v
            return v(ctx)
        except Exception:
            return self._resolve(key, code_default, ctx, T.FLAG_TYPE_BOOL).value

    def get_string(self, key: str, code_default: Any, ctx: Any = None) -> Any:
        try:
            v = self._snap.fast_string[key]
            if v.__class__ is str:
                return v
            return v(ctx)
        except Exception:
            return self._resolve(key, code_default, ctx, T.FLAG_TYPE_STRING).value

    def get_int(self, key: str, code_default: Any, ctx: Any = None) -> Any:
        try:
            v = self._snap.fast_int[key]
            if v.__class__ is int:
                return v
            return v(ctx)
        except Exception:
            return self._resolve(key, code_default, ctx, T.FLAG_TYPE_INT).value

    def get_float(self, key: str, code_default: Any, ctx: Any = None) -> Any:
        try:
            v = self._snap.fast_float[key]
            if v.__class__ is float:
                return v
            return v(ctx)
        except Exception:
            return self._resolve(key, code_default, ctx, T.FLAG_TYPE_FLOAT).value

    def get_json(self, key: str, code_default: Any, ctx: Any = None) -> Any:
        try:
            v = self._snap.fast_json[key]
            return _loads(v if v.__class__ is str else v(ctx))
        except Exception:
            return self._resolve(key, code_default, ctx, T.FLAG_TYPE_JSON).value

    def details(self, key: str, code_default: Any, ctx: Any = None, *, expect: str | None = None) -> EvaluationDetails:
        """Value, variant, reason and error of one evaluation. `expect` ("bool",
        "string", "int", "float", "json") turns a flag of another type into a
        TYPE_MISMATCH, as the typed getters do."""
        want = TYPES_BY_NAME.get(expect) if isinstance(expect, str) else None
        if expect is not None and want is None:
            return self._error(key, code_default, ErrorCode.GENERAL,
                               EvaluationError(ErrorCode.GENERAL, f"unknown expected type {expect!r}"))
        return self._resolve(key, code_default, ctx, want)

    def status(self) -> ClientStatus:
        snap = self._snap
        with self._lock:
            errors = dict(self._errors)
        return ClientStatus(
            ready=snap.ready, digest=snap.digest, source_revision=snap.source_revision,
            compiler_version=snap.compiler_version, format_version=snap.format_version, flags=len(snap),
            static=dict(snap.static), ignored_static=tuple(snap.ignored_static), errors=errors,
            problems=dict(snap.problems), fast_path_fallbacks=self._fallbacks,
        )

    def explain(self, key: str, ctx: Any = None) -> Explanation:
        """Why `key` serves what it serves in `ctx`: see safeflags.sdk.explain."""
        from safeflags.sdk.explain import explain  # only the CLI and debugging need it

        snap = self._snap
        return explain(snap, self._resolve(key, None, ctx, None, snap), ctx)

    def _resolve(self, key: Any, default: Any, ctx: Any, want: int | None,
                 snap: Snapshot | None = None) -> EvaluationDetails:
        snap = snap if snap is not None else self._snap
        try:
            return self._evaluate(snap, key, default, ctx, want)
        except Exception as exc:  # a bug or a hostile value: this call alone serves the default
            return self._error(key, default, ErrorCode.GENERAL, exc)

    def _evaluate(self, snap: Snapshot, key: Any, default: Any, ctx: Any, want: int | None) -> EvaluationDetails:
        if not snap.ready:
            return self._error(key, default, ErrorCode.PROVIDER_NOT_READY, "no bundle loaded yet")
        entry = snap.entry(key) if isinstance(key, str) else None
        if entry is None:
            return self._error(key, default, ErrorCode.FLAG_NOT_FOUND,
                               f"no flag {_name(key)!r} in bundle {snap.digest}")
        if entry.error is not None:
            return self._error(key, default, ErrorCode.PARSE_ERROR, entry.error)
        if want is not None and entry.type != want:
            return self._error(key, default, ErrorCode.TYPE_MISMATCH,
                               f"flag {key!r} is a {TYPE_NAMES.get(entry.type)} flag, asked for {TYPE_NAMES[want]}")
        assert entry.spec is not None
        outcome = entry.spec.constant
        if outcome is None:
            try:
                context = normalize_context(ctx)
            except EvaluationError as exc:
                return self._error(key, default, exc.code, exc)
            try:
                outcome = snap.outcome_fn(entry)(context)
            except Exception:  # a value the generated code does not take inline
                self._fallbacks += 1
                outcome = snap.reference(entry.flag, context)
        if entry.type == T.FLAG_TYPE_JSON:
            # JSON values are canonical text, decoded afresh so no caller can change another's value.
            value = _loads(cast(str, entry.values[outcome.value_index]))
            return self._details(entry.key, value, entry, outcome)
        details = entry.details.get(outcome)
        if details is None:
            details = entry.details[outcome] = self._details(entry.key, entry.values[outcome.value_index], entry,
                                                             outcome)
        return details

    @staticmethod
    def _details(key: str, value: object, entry: PreparedFlag, outcome: Resolution) -> EvaluationDetails:
        return EvaluationDetails(key, value, entry.variants[outcome.value_index], outcome.reason,
                                 rule_index=outcome.rule_index)

    def _error(self, key: Any, default: Any, code: ErrorCode, problem: BaseException | str) -> EvaluationDetails:
        exc = problem if isinstance(problem, BaseException) else EvaluationError(code, problem)
        name = _name(key)
        try:
            message = str(exc) or type(exc).__name__
        except Exception:
            message = type(exc).__name__
        with contextlib.suppress(Exception):  # reporting must never turn a served default into a raise
            self._report(name, code, exc, message)
        return EvaluationDetails(name, default, None, Reason.ERROR, code, message)

    def _report(self, name: str, code: ErrorCode, exc: BaseException, message: str) -> None:
        # Unexpected exceptions are told apart by type, so one new failure mode
        # is reported even when another was reported for the same flag before.
        unexpected = code is ErrorCode.GENERAL and not isinstance(exc, EvaluationError)
        kind = f"GENERAL:{type(exc).__name__}" if unexpected else code.value
        # A caller may pass any string as a key: counters and logs keep its start only.
        shown, kind, message = _kept(name), _kept(kind), _kept(message, MAX_MESSAGE_KEPT)
        with self._lock:
            counter = (shown, kind)
            if counter not in self._errors and len(self._errors) >= MAX_TRACKED:
                counter = ("(other flags)", kind)
            first = counter not in self._errors
            self._errors[counter] = self._errors.get(counter, 0) + 1
        if not first:
            return
        if code is ErrorCode.GENERAL:
            log.error("safeflags: flag %r failed, serving the code default (reported once): %s",
                      shown, message, exc_info=exc)
        else:
            log.warning("safeflags: flag %r: %s: %s (serving the code default; reported once)",
                        shown, code.value, message)
        if self._on_error is not None:
            try:
                self._on_error(name, exc)
            except Exception:
                log.debug("safeflags: on_error hook failed", exc_info=True)


def _name(key: object) -> str:
    # Never call a hostile object's __repr__/__str__: its type name is enough.
    return key if type(key) is str else f"<{type(key).__name__}>"


def _kept(text: str, limit: int = MAX_KEY_KEPT) -> str:
    """`text`, or its first `limit` characters and its length."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"
