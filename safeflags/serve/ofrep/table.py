"""The bulk answer of one (bundle, static context) without generating code.

A bulk answer evaluates every flag once for one context, so preparing each
flag for the fast path (checking, specialising, generating and compiling its
functions: ~0.3 ms and several KB a flag) costs far more than it saves:
about 20 s and ~145 MB per static context at 25,000 flags. A Table does what
`Snapshot.entry` does up to, and not including, code generation, and keeps
only what the answers need:

- per bundle (`Checked`, shared by every static context): each flag's
  structural check (`check_flag`), which does not depend on the context;
- per static context: each flag specialised to it (`specialize_flag`, with
  prerequisites that are constants on their own folded in, as the snapshot's
  `_local_constant` does). A flag that is then a constant, or broken, is one
  answer for every request: its OFREP item is serialised once. Any other
  flag is evaluated per request by the SDK's reference interpreter (what
  `Snapshot.reference` does: the oracle every fast path is tested against and
  falls back to), and its serialised items are kept per outcome.

Every item is built by the same `protocol.evaluation` from the same
EvaluationDetails the in-process Evaluator returns, so the bytes equal the
single-flag route's. tests/serve/test_ofrep_table.py compares them with the
SDK on generated bundles.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from safeflags.sdk.check import check_flag
from safeflags.sdk.codegen import normalize_context
from safeflags.sdk.details import ErrorCode, EvaluationDetails, EvaluationError, FlagError, Reason, Resolution
from safeflags.sdk.inputs import read_static
from safeflags.sdk.interpret import evaluate
from safeflags.sdk.partial import pinned_dims, specialize_flag
from safeflags.sdk.snapshot import Snapshot
from safeflags.sdk.values import decoded, raw
from safeflags.serve.ofrep.protocol import dump_item, evaluation
from safeflags.v1 import bundle_pb2, common_pb2

_JSON = common_pb2.FLAG_TYPE_JSON
MAX_OUTCOMES = 64
"""Serialised items kept per flag evaluated per request (one per distinct outcome; a flag has few)."""


class Checked:
    """The structural check of each flag of one bundle, made once for every static context."""

    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self._problems: dict[str, Exception | None] = {}
        self._dims, self._strings = len(snapshot.env.names), len(snapshot.env.strings)
        self._message: bundle_pb2.Bundle | None = None

    @property
    def message(self) -> bundle_pb2.Bundle:
        """The bundle as one parsed message, for every context's Evaluator to index: read once,
        since a snapshot that does not hold its parse makes a new one on each `bundle` read."""
        if self._message is None:
            self._message = self.snapshot.bundle
        return self._message

    def problem(self, flag: bundle_pb2.CompiledFlag) -> Exception | None:
        """What `check_flag` raises for `flag`, None when it passes."""
        key = flag.key
        try:
            return self._problems[key]
        except KeyError:
            pass
        found: Exception | None = None
        try:
            check_flag(flag, self._dims, self._strings)
        except Exception as exc:
            found = exc
        self._problems[key] = found
        return found


@dataclass(slots=True)
class Live:
    """A flag whose outcome depends on the request: evaluated per request."""

    key: str
    flag: bundle_pb2.CompiledFlag
    values: tuple[object, ...]
    variants: tuple[str | None, ...]
    items: dict[Resolution, bytes] = field(default_factory=dict)


Row = bytes | Live


class Table:
    """Every flag of one bundle for one static context: a serialised item, or a Live flag."""

    def __init__(self, checked: Checked, static: Mapping[str, object]):
        snapshot = checked.snapshot
        self.snapshot, self.digest = snapshot, snapshot.digest
        self._checked = checked
        self._pinned = pinned_dims(read_static(static)[0], snapshot.dimensions)
        self._local: dict[str, tuple[object] | None] = {}
        self._lock = threading.Lock()  # items of Live rows are filled by concurrent answers
        self.rows: list[Row] = [self._row(flag) for flag in snapshot.flags.values()]
        self._local.clear()  # only needed while specialising

    @property
    def live(self) -> int:
        """How many flags are evaluated per request."""
        return sum(1 for row in self.rows if row.__class__ is Live)

    def items(self, ctx: Mapping[str, object]) -> Iterator[bytes]:
        """The serialised OFREP item of every flag, in key order, for request context `ctx`
        (which holds the static values this table is specialised to, as Catalog.request makes it)."""
        try:
            context: Mapping[str, object] | None = normalize_context(ctx)
            invalid: EvaluationError | None = None
        except EvaluationError as exc:
            context, invalid = None, exc
        # Snapshot.reference, with the merge of the pinned values made once for every flag.
        merged = {**context, **self.snapshot.static} if context is not None else {}
        env = self.snapshot.env
        for row in self.rows:
            if row.__class__ is bytes:
                yield row
                continue
            assert isinstance(row, Live)
            if context is None:
                assert invalid is not None
                yield _failure(row.key, invalid.code, invalid)
                continue
            try:
                outcome = evaluate(row.flag, merged, env)
            except Exception as exc:  # the Evaluator serves this call the default, as GENERAL
                yield _failure(row.key, ErrorCode.GENERAL, exc)
                continue
            item = row.items.get(outcome)
            if item is None:
                item = self._item(row, outcome)
            yield item

    def _item(self, row: Live, outcome: Resolution) -> bytes:
        try:
            item = _success(row.key, row.values, row.variants, outcome, row.flag.type)
        except Exception as exc:
            return _failure(row.key, ErrorCode.GENERAL, exc)
        with self._lock:
            if len(row.items) < MAX_OUTCOMES:
                row.items[outcome] = item
        return item

    def _row(self, flag: bundle_pb2.CompiledFlag) -> Row:
        """What Snapshot._prepare makes of `flag`, short of generating code."""
        key = flag.key
        try:
            values = tuple(raw(v) for v in flag.values)
            variants = tuple(v or None for v in flag.variants) or (None,) * len(values)
        except Exception as exc:  # Snapshot.entry raises, and the Evaluator serves the default
            return _failure(key, ErrorCode.GENERAL, exc)
        try:
            problem = self._checked.problem(flag)
            if problem is not None:
                raise problem
            spec = specialize_flag(flag, self._pinned, self.snapshot.env, self._local_constant)
        except FlagError as exc:
            return _failure(key, ErrorCode.PARSE_ERROR, exc)
        except Exception as exc:
            return _failure(key, ErrorCode.PARSE_ERROR, FlagError(f"{key}: cannot prepare flag: {exc!r}"))
        if spec.constant is None:
            return Live(key, flag, values, variants)
        try:
            return _success(key, values, variants, spec.constant, flag.type)
        except Exception as exc:
            return _failure(key, ErrorCode.GENERAL, exc)

    def _local_constant(self, key: str) -> tuple[object] | None:
        """`(value,)` when flag `key` is a constant on its own: Snapshot._local_constant's rule."""
        if key in self._local:
            return self._local[key]
        found: tuple[object] | None = None
        flag = self.snapshot.flags.get(key)
        if flag is not None:
            try:
                problem = self._checked.problem(flag)
                if problem is not None:
                    raise problem
                spec = specialize_flag(flag, self._pinned, self.snapshot.env)
                if spec.constant is not None:
                    found = (decoded(flag.values[spec.constant.value_index]),)
            except Exception:
                found = None
        self._local[key] = found
        return found


def _success(key: str, values: tuple[object, ...], variants: tuple[str | None, ...], outcome: Resolution,
             kind: int) -> bytes:
    value = values[outcome.value_index]
    if kind == _JSON:
        value = json.loads(value)  # type: ignore[arg-type]
    details = EvaluationDetails(key, value, variants[outcome.value_index], outcome.reason,
                                rule_index=outcome.rule_index)
    return dump_item(evaluation(details)[1])


def _failure(key: str, code: ErrorCode, exc: BaseException) -> bytes:
    """The item of Evaluator._error: the code default (None for OFREP) and the exception's message."""
    try:
        message = str(exc) or type(exc).__name__
    except Exception:
        message = type(exc).__name__
    return dump_item(evaluation(EvaluationDetails(key, None, None, Reason.ERROR, code, message))[1])
