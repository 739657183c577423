"""A bounded fuzz of the SDK's two promises over hostile bundles: loading
raises BundleError and nothing else, and no call ever raises.

The bundles start valid: the example repository, plus one flag per literal
kind (semver and timestamp comparisons, a regex, a split, a prerequisite),
through the real compiler. Each example then mutates one of them — bytes
flipped, set, inserted, deleted or cut off; or fields anywhere in the tree
set to hostile values through the protobuf API (enum numbers the schema does
not name, indexes out of range, NaN, strings that are not literals, subtrees
moved, fields cleared) — loads it with a hostile static context, and asks for
every flag with hostile request contexts. How many examples run is the
Hypothesis profile's business (tests/conftest.py), never this file's.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeflags import BundleError, Evaluator, Reason, Snapshot
from safeflags.v1 import bundle_pb2
from tests.helpers.hostile import BadStr, EvilKey, RaisingMapping
from tests.helpers.repo import FlagRepo
from tests.helpers.strategies import Hostile, LyingStr, context_of, huge_int

LITERALS = """
sf.string {
  owner: 'team-mobile',
  description: 'Every literal kind the compiler lowers, for the fuzz.',
  default: 'off',
  variants: [sf.variant('a', 'on'), sf.variant('b', 'beta')],
  overrides: [
    sf.when(sf.dim.app_version.lt('5.2.0-rc.1')).serve('off'),
    sf.when(sf.dim.account_created_at.ge('2024-02-29T12:30:00.25+05:30')).serve('on'),
    sf.when(sf.dim.email.regex('^[a-z]+@(example|test)\\\\.com$')).serve('on'),
    sf.when(sf.all([sf.dim.seats.gt(10), sf.dim.cart_total.le(99.5)])).serve('beta'),
    sf.when(sf.flagIs('billing.new_invoice_path')).serveVariant('a'),
    sf.when(sf.dim.client.eq('ios')).split(unit='user_id', arms={ a: 30, b: 70 }),
  ],
  rollout: sf.ramps.standard(unit='workspace_id', stage=2, serve='on'),
}
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    repo = FlagRepo(tmp_path_factory.mktemp("fuzz"), with_examples=True)
    repo.write("mobile.literals", LITERALS)
    result = repo.compile(jobs=1)
    assert not result.errors, [e.format() for e in result.errors]
    return result.data


def catalog(data: bytes) -> bundle_pb2.Bundle:
    return bundle_pb2.Bundle.FromString(data)


# --- hostile input ----------------------------------------------------------



class LyingMapping(Mapping[str, object]):
    """Names keys it then says it does not have, and pairs that are not pairs."""

    def __getitem__(self, key: str) -> object:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(["region", "service"])

    def __len__(self) -> int:
        return 2

    def items(self) -> Any:
        return [("region",), 7]






class KeyedBy(Mapping[object, object]):
    """A mapping over keys no dict could hold (they do not hash)."""

    def __init__(self, pairs: list[tuple[object, object]]):
        self.pairs = pairs

    def __getitem__(self, key: object) -> object:
        return next(v for k, v in self.pairs if k is key)

    def __iter__(self) -> Iterator[object]:
        return iter([k for k, _ in self.pairs])

    def __len__(self) -> int:
        return len(self.pairs)


class HostileContext(dict[str, object]):
    def get(self, key: object, default: object = None) -> object:
        raise RuntimeError("get")

    def __contains__(self, key: object) -> bool:
        raise RuntimeError("contains")


STATIC_NAMES = ["cloud", "region", "environment", "service", "service_version", "arch"]
RUNTIME_NAMES = ["workspace_id", "user_id", "email", "org_tier", "country", "client", "app_version",
                 "account_created_at", "seats", "cart_total", "is_internal", "beta_opt_in"]
odd = st.one_of(st.none(), st.builds(Hostile), st.just(LyingStr("us-east-1")), st.builds(huge_int),
                st.just(["us-east-1"]), st.just({"a": [1]}), st.just(b"x"), st.floats(allow_nan=True),
                st.integers(), st.text(max_size=6), st.just("2024-W01-1"), st.just("1.0.0-01"))
plain_static = st.dictionaries(st.sampled_from([*STATIC_NAMES, "seats"]),
                               st.one_of(st.sampled_from(["us-east-1", "aws", "prod", "billing", "2.14.0", "arm64"]),
                                         odd), max_size=5)
statics = st.one_of(
    st.none(), plain_static, plain_static,
    st.builds(RaisingMapping), st.builds(LyingMapping),
    st.just({1: "us-east-1", (1, 2): "aws", None: "prod", b"region": "x"}),
    st.just({LyingStr("region"): "us-east-1", EvilKey(): "x"}),
    st.just(KeyedBy([(BadStr("region"), "us-east-1"), (["unhashable"], "x")])),
    st.just([("region", "us-east-1")]), st.just("region"), st.builds(Hostile),
)
contexts = st.one_of(
    context_of([*RUNTIME_NAMES, *STATIC_NAMES, "other"]),
    context_of(RUNTIME_NAMES).map(HostileContext),
    st.dictionaries(st.sampled_from(RUNTIME_NAMES), odd, max_size=4),
    st.one_of(st.none(), st.just([("user_id", "u-1")]), st.text(max_size=3), st.integers(), st.builds(Hostile)),
)
keys_too = st.lists(st.one_of(st.sampled_from(["", "missing.flag", "billing"]), st.just(LyingStr("mobile.literals")),
                              st.builds(Hostile), st.just(["unhashable"])), max_size=2)


# --- mutation ---------------------------------------------------------------

@st.composite
def byte_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    buf = bytearray(data)
    # Mostly one small change: most random bytes break the protobuf framing,
    # and a bundle that still parses is where the checks after parsing are tried.
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 4]))):
        where = draw(st.integers(0, max(len(buf) - 1, 0)))
        kind = draw(st.sampled_from(["flip", "flip", "set", "set", "insert", "delete", "truncate"]))
        if kind == "truncate":
            del buf[where:]
        elif not buf:
            buf.extend(draw(st.binary(min_size=1, max_size=4)))
        elif kind == "flip":
            buf[where] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            buf[where] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, 0x08, 0x12, 0x1A]))
        elif kind == "insert":
            buf[where:where] = draw(st.binary(min_size=1, max_size=8))
        else:
            del buf[where:where + draw(st.integers(1, 16))]
    return bytes(buf)


def fields(message: Any) -> list[tuple[Any, Any]]:
    """(message, field descriptor) for every field of every message present in the tree."""
    found = [(message, fd) for fd in message.DESCRIPTOR.fields]
    for fd, value in message.ListFields():
        if fd.message_type is None or fd.message_type.GetOptions().map_entry:
            continue
        for item in value if fd.is_repeated else (value,):
            found.extend(fields(item))
    return found


def messages_of(root: Any, full_name: str) -> list[Any]:
    out = [root] if root.DESCRIPTOR.full_name == full_name else []
    for fd, value in root.ListFields():
        if fd.message_type is not None and not fd.message_type.GetOptions().map_entry:
            for item in value if fd.is_repeated else (value,):
                out.extend(messages_of(item, full_name))
    return out


HOSTILE_STRINGS = ["", "é", "\x00", "x" * 300, "(a+)+$", "[", "1.0.0-01", "2023-W01-1", "20230101",
                   "2023-01-01T00:00:00Z", "mobile.literals", "billing.new_invoice_path", "\u2028", "null", "{"]


def scalar(draw: st.DrawFn, fd: Any, current: object) -> object:
    """A hostile value of the field's own wire type (protobuf refuses any other)."""
    t = fd.type
    if t == fd.TYPE_ENUM:
        top = max(fd.enum_type.values_by_number)
        return draw(st.sampled_from([-1, 0, 1, top, top + 1, 77, 2**31 - 1, -(2**31)]))
    if t == fd.TYPE_UINT32:
        return draw(st.sampled_from([0, 1, 2, 5, 12, 99, 100_000, 100_001, 2**32 - 1]))
    if t in (fd.TYPE_INT64, fd.TYPE_INT32):
        return draw(st.sampled_from([0, -1, 1, 2**31 - 1, 2**53 + 1, 2**63 - 1, -(2**63)]))
    if t == fd.TYPE_DOUBLE:
        return draw(st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324, 100.0, 1e9, -1.0]))
    if t == fd.TYPE_BOOL:
        return not current
    return draw(st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=8)))


def mutate_field(draw: st.DrawFn, bundle: bundle_pb2.Bundle) -> None:
    # A field of the schema first, then one place it occurs: each of the few
    # enum fields (Compare.kind, Match.op, ...) is tried as often as
    # Bundle.strings, whose items outnumber them a hundred to one.
    places: dict[str, list[tuple[Any, Any]]] = {}
    for message, fd in fields(bundle):
        places.setdefault(fd.full_name, []).append((message, fd))
    message, fd = draw(st.sampled_from(places[draw(st.sampled_from(sorted(places)))]))
    value = getattr(message, fd.name)
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        if draw(st.booleans()):
            message.ClearField(fd.name)
        else:
            value[draw(st.sampled_from(HOSTILE_STRINGS))] = scalar(draw, fd.message_type.fields_by_name["value"], 0)
    elif fd.is_repeated:
        action = draw(st.sampled_from(["clear", "drop", "add"]))
        if action == "clear" or (action == "drop" and len(value) <= 1):
            message.ClearField(fd.name)
        elif action == "drop":
            del value[draw(st.integers(0, len(value) - 1))]
        elif fd.message_type is None:
            value.append(scalar(draw, fd, None))
        else:
            donors = messages_of(bundle, fd.message_type.full_name)
            item = value.add()
            if donors:
                item.MergeFromString(draw(st.sampled_from(donors)).SerializeToString())
    elif fd.message_type is not None:
        donors = messages_of(bundle, fd.message_type.full_name)
        if draw(st.booleans()) and donors:
            # Through bytes: copying an ancestor into its own descendant must not alias.
            donor = draw(st.sampled_from(donors)).SerializeToString()
            getattr(message, fd.name).CopyFrom(type(value).FromString(donor))
        else:
            message.ClearField(fd.name)
    else:
        setattr(message, fd.name, scalar(draw, fd, value))


@st.composite
def field_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    bundle = catalog(data)
    for _ in range(draw(st.integers(1, 3))):
        mutate_field(draw, bundle)
    return bundle.SerializeToString()


# --- the promises -----------------------------------------------------------

def load(data: bytes, static: object, digest: str | None) -> Evaluator | None:
    """The client, or None when loading refused the bundle, as it may, with BundleError only."""
    try:
        snapshot = Snapshot.from_bytes(data, static=static, digest=digest)  # type: ignore[arg-type]
        evaluator = Evaluator.from_bytes(data, static=static, digest=digest)  # type: ignore[arg-type]
    except BundleError:
        return None
    assert snapshot.digest == evaluator.snapshot.digest
    return evaluator


def ask_everything(evaluator: Evaluator, extra_keys: list[object], ctxs: list[object]) -> None:
    keys: list[object] = [*evaluator.snapshot.flags, *extra_keys]
    for ctx in ctxs:
        for key in keys:
            for getter in (evaluator.get_bool, evaluator.get_string, evaluator.get_int, evaluator.get_float,
                           evaluator.get_json):
                getter(key, "code-default", ctx)  # type: ignore[arg-type]
            d = evaluator.details(key, "code-default", ctx)  # type: ignore[arg-type]
            if d.reason is Reason.ERROR:
                assert d.value == "code-default"


def digest_for(data: bytes, original: bytes, choice: int) -> str | None:
    return [None, "sha256-" + hashlib.sha256(data).hexdigest(), hashlib.sha256(original).hexdigest()][choice]


@given(st.data(), statics, st.lists(contexts, min_size=1, max_size=3), keys_too, st.integers(0, 2))
def test_flipped_bytes_load_or_raise_bundle_error(compiled: bytes, data: st.DataObject, static: object,
                                                  ctxs: list[object], extra: list[object], choice: int) -> None:
    mutated = data.draw(byte_mutations(compiled))
    evaluator = load(mutated, static, digest_for(mutated, compiled, choice))
    if evaluator is not None:
        ask_everything(evaluator, extra, ctxs)


@given(st.data(), statics, st.lists(contexts, min_size=1, max_size=3), keys_too)
def test_mutated_fields_load_or_raise_bundle_error(compiled: bytes, data: st.DataObject, static: object,
                                                   ctxs: list[object], extra: list[object]) -> None:
    mutated = data.draw(field_mutations(compiled))
    evaluator = load(mutated, static, None)
    if evaluator is not None:
        ask_everything(evaluator, extra, ctxs)


@given(st.data(), st.lists(contexts, min_size=1, max_size=3))
def test_a_mutated_flag_breaks_alone_and_by_design(compiled: bytes, data: st.DataObject, ctxs: list[object]) -> None:
    """A field mutation with a plain static context: whatever the mutation, the
    checks at load catch it (PARSE_ERROR) or the flag evaluates; the last-resort
    catch-all (GENERAL, a traceback in the log) is never what answers."""
    mutated = data.draw(field_mutations(compiled))
    evaluator = load(mutated, {"region": "us-east-1", "service": "billing", "service_version": "2.14.0"}, None)
    if evaluator is None:
        return
    ask_everything(evaluator, [], ctxs)
    assert not [kind for _, kind in evaluator.status().errors if kind.startswith("GENERAL")]


def test_the_seed_bundle_serves_cleanly(compiled: bytes) -> None:
    """The fuzz starts from bundles that load and serve without a single error."""
    evaluator = Evaluator.from_bytes(compiled, static={"region": "us-east-1"})
    assert len(evaluator.snapshot.flags) >= 20 and evaluator.snapshot.warm() == 0
    assert evaluator.get_string("mobile.literals", "x", {"app_version": "5.1.9"}) == "off"
    assert not evaluator.status().errors
