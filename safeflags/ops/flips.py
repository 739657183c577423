"""Recent flips, by scope: which flag changes between consecutive published
versions of a channel change what a process with a given static context serves.

Both bundles of a pair are specialised to the static context with the SDK's
partial evaluator (safeflags.sdk.partial, the pre-evaluation a service does at
load), and each flag's specialised form is compared: the rules that can still
match, their conditions, their values or splits, and the default. A change
that only touches other scopes specialises to the same form and is not listed.

Cheap first: a flag whose compiled bytes are the same in both bundles serves
the same, so only flags whose bytes differ are decoded and specialised. The
bundles are split into per-flag byte slices at the wire level, without
decoding 25,000 messages, and each bundle is read and split once.

Prerequisites stay symbolic (a flag that gates on another is compared as
written); the prerequisite itself is listed when it flips. A channel's first
version has nothing before it and is not compared.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise

from safeflags.compile.config import DimensionConfig
from safeflags.compile.lower import LoweredFlag
from safeflags.ops.bundle_diff import FlagDiff, SplitBundle, diff, diff_split, split
from safeflags.ops.context import ContextError, parse_pairs
from safeflags.ops.times import parse_duration, parse_time
from safeflags.sdk.interpret import Env
from safeflags.sdk.kernel.errors import BundleError, SafeflagsError
from safeflags.sdk.partial import SpecializedFlag, pinned_dims, specialize_flag
from safeflags.sdk.render import render_expr, render_value
from safeflags.sdk.values import decoded
from safeflags.store import BundleStore
from safeflags.store.layout import Record
from safeflags.v1 import bundle_pb2, common_pb2, spec_pb2
from safeflags.validation.exposure import estimate


class FlipsError(SafeflagsError):
    """A flips query that cannot be answered as asked (bad --since, bad --static)."""


@dataclass(frozen=True)
class Flip:
    """One flag whose specialised form changed from `previous` to `version`.

    `change` is "added", "removed" or "modified". Exposures are the share of
    the scope's traffic served something other than the flag's default, in
    [0, 1]; None where the estimate could not be made. `rules_before` and
    `rules_after` are the specialised forms as text, one line per rule."""

    key: str
    change: str
    version: int
    previous: int
    published: str
    publisher: str
    source_revision: str
    exposure_before: float | None
    exposure_after: float | None
    rules_before: tuple[str, ...] = field(default=())
    rules_after: tuple[str, ...] = field(default=())


class BundleReader:
    """Reads a channel's bundles from a store by digest, verified, each split once: a bundle is
    found against the one read before it (bundle_diff), so only the records that differ are parsed."""

    def __init__(self, store: BundleStore) -> None:
        self.store = store
        self._cache: dict[str, SplitBundle] = {}

    def _bytes(self, digest: str) -> bytes:
        data = self.store.bundle(digest)
        actual = "sha256-" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise BundleError(f"bundle {digest} in {self.store.url} has digest {actual}")
        return data

    def get(self, digest: str) -> SplitBundle:
        found = self._cache.get(digest)
        if found is None:
            found = self._cache[digest] = split(self._bytes(digest))
        return found

    def step(self, old_digest: str, digest: str) -> tuple[SplitBundle, SplitBundle, list[FlagDiff]]:
        """Both bundles and the flags whose bytes differ between them."""
        old = self.get(old_digest)
        known = self._cache.get(digest)
        if known is not None:
            return old, known, diff_split(old, known)
        new, changes = diff(old, self._bytes(digest))
        self._cache[digest] = new
        return old, new, changes


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`30m`, `24h`, `7d` (before `now`) or an RFC 3339 time, as an aware UTC datetime."""
    span = parse_duration(text)
    if span is not None:
        return (now or datetime.now(UTC)) - span
    try:
        return parse_time(text)
    except ValueError as exc:
        why = "is neither a duration (30m, 24h, 7d) nor an RFC 3339 time" if "offset" not in str(exc) else str(exc)
        raise FlipsError(f"--since {text!r} {why}") from None


def _published(record: Record) -> datetime | None:
    try:
        return datetime.fromisoformat(record.published.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def static_context(pairs: Sequence[str], dims: Sequence[common_pb2.Dimension]) -> dict[str, object]:
    """`DIM=VALUE` strings as a static context, each value typed as its dimension reads it."""
    try:
        return parse_pairs(pairs, {d.name: d for d in dims}, "--static", static_only=True)
    except ContextError as exc:
        raise FlipsError(str(exc)) from None


@dataclass(frozen=True)
class _Side:
    """One flag specialised in one bundle: its comparable form and what it needs for exposure."""

    form: tuple[object, ...]
    text: tuple[str, ...]
    lowered: LoweredFlag


def _specialise(bundle: SplitBundle, index: int, static: Mapping[str, object]) -> _Side:
    flag = bundle.flag(index)
    names = tuple(d.name for d in bundle.dims)
    env = Env(names, bundle.strings, {})
    spec = specialize_flag(flag, pinned_dims(static, bundle.dims), env)
    return _Side(*_form(flag, spec, names, bundle.strings), _lowered(flag, spec, names, bundle.strings))


def _value(flag: bundle_pb2.CompiledFlag, index: int) -> tuple[bytes, str]:
    v = flag.values[index]
    return v.SerializeToString(deterministic=True), render_value(decoded(v))


def _form(flag: bundle_pb2.CompiledFlag, spec: SpecializedFlag, names: Sequence[str],
          strings: Sequence[str]) -> tuple[tuple[object, ...], tuple[str, ...]]:
    """Comparable by content, never by index (value tables and interned strings may be renumbered)."""
    if spec.constant is not None:
        raw, shown = _value(flag, spec.constant.value_index)
        return ("constant", raw), (f"serve {shown}",)
    form: list[object] = []
    text: list[str] = []
    for rule in spec.rules:
        when = render_expr(rule.when, names, strings)
        if rule.split is None:
            assert rule.value is not None
            raw, shown = _value(flag, rule.value)
            form.append((when, raw))
            text.append(f"if {when}: serve {shown}")
        else:
            arms = tuple((_value(flag, a.value), a.upper) for a in rule.split.arms)
            unit = names[rule.split.unit] if rule.split.unit < len(names) else f"?dim{rule.split.unit}"
            form.append((when, unit, rule.split.salt, tuple((v[0], u) for v, u in arms)))
            shown = ", ".join(f"{v[1]} below {u}" for v, u in arms)
            text.append(f"if {when}: split by {unit} (salt {rule.split.salt!r}): {shown}")
    raw, shown = _value(flag, flag.fallback)
    form.append(("default", raw))
    text.append(f"else serve {shown}")
    return tuple(form), tuple(text)


def _inline_strings(message: object, strings: Sequence[str]) -> None:
    """Move interned string members back inline, as the compiler's lowered form has them."""
    assert hasattr(message, "ListFields")
    for desc, value in message.ListFields():
        if isinstance(message, bundle_pb2.InSet) and desc.name == "strings":
            message.values.extend(common_pb2.Value(string_value=strings[i]) for i in value)
            message.ClearField("strings")
        elif desc.message_type is not None:
            for item in (value,) if hasattr(value, "ListFields") else value:
                _inline_strings(item, strings)


def _lowered(flag: bundle_pb2.CompiledFlag, spec: SpecializedFlag, names: tuple[str, ...],
             strings: Sequence[str]) -> LoweredFlag:
    """The specialised flag as a rule list over the remaining dimensions, for the exposure estimate."""
    body = bundle_pb2.CompiledFlag(key=flag.key, type=flag.type, values=flag.values, variants=flag.variants,
                                   fallback=flag.fallback)
    if spec.constant is not None:
        body.rules.add(when=bundle_pb2.Expr(constant=True), value=spec.constant.value_index)
    else:
        for rule in spec.rules:
            out = body.rules.add(when=rule.when)
            if rule.split is None:
                assert rule.value is not None
                out.value = rule.value
            else:
                out.split.CopyFrom(rule.split)
    _inline_strings(body, strings)
    return LoweredFlag(body=body, gate=None, overrides=(), scopes=(), names=names)


def _catalog(dims: Sequence[common_pb2.Dimension]) -> dict[str, DimensionConfig]:
    out = {}
    for d in dims:
        kind = common_pb2.DimensionType.Name(d.type).removeprefix("DIMENSION_TYPE_").lower()
        out[d.name] = DimensionConfig.model_validate(
            {"type": kind, "static": d.static, "values": list(d.values), "weights": dict(d.weights)})
    return out


def _exposure(before: _Side | None, after: _Side | None, old: SplitBundle,
              new: SplitBundle) -> tuple[float, float] | None:
    spec = None
    if before is None and after is not None:
        # The bundle carries no kind: a new flag is judged from off, as a release flag is.
        body = after.lowered.body
        spec = spec_pb2.FlagSpec(type=body.type, default=body.values[body.fallback])
    try:
        exp = estimate(before.lowered if before else None, after.lowered if after else None,
                       _catalog(old.dims), _catalog(new.dims), spec)
    except Exception:  # an estimate is advice: a tree the domain cannot split leaves it unknown
        return None
    return exp.before, (exp.after if after is not None else 0.0)


def compare(old: SplitBundle, new: SplitBundle, changes: Sequence[FlagDiff], static: Mapping[str, object],
            prev: Record, rec: Record) -> list[Flip]:
    """The flips from `prev` to `rec` among the flags whose bytes differ: those whose
    specialised form differs, and those added or removed."""
    out = []
    publisher = rec.publisher
    for change in changes:
        before = _specialise(old, change.old, static) if change.old is not None else None
        after = _specialise(new, change.new, static) if change.new is not None else None
        if before is not None and after is not None and before.form == after.form:
            continue
        kind = "added" if before is None else "removed" if after is None else "modified"
        exposure = _exposure(before, after, old, new)
        out.append(Flip(change.key, kind, rec.version, prev.version, rec.published, publisher,
                        rec.source_revision, exposure[0] if exposure else None, exposure[1] if exposure else None,
                        before.text if before else (), after.text if after else ()))
    return out


def flips(store: BundleStore, channel: str, *, since: datetime | None = None,
          static: Sequence[str] = (), reader: BundleReader | None = None) -> list[Flip]:
    """Every flip between consecutive published versions of `channel` published at or after
    `since`, for a process pinning `static` (DIM=VALUE strings), oldest first."""
    reader = reader or BundleReader(store)
    records = [r for r in store.history(channel) if not r.abandoned]
    out: list[Flip] = []
    context: dict[str, object] | None = None
    for prev, rec in pairwise(records):
        at = _published(rec)
        if since is not None and (at is None or at < since):
            continue
        if prev.digest == rec.digest:
            continue
        old, new, changes = reader.step(prev.digest, rec.digest)
        if context is None:
            context = static_context(static, new.dims)
        out.extend(compare(old, new, changes, context, prev, rec))
    if context is None and static and records:
        static_context(static, reader.get(records[-1].digest).dims)  # a bad --static is an error, flips or not
    return out
