"""Attacks on loading a bundle: hostile bytes-like objects and static
contexts are refused with BundleError and nothing else; an enum number the
schema does not name, in any enum field a flag can hold, breaks that flag
alone at load (PARSE_ERROR, one log line), never each call with a traceback.
The fuzz over the same promises is tests/security/test_fuzz.py."""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from safeflags import BundleError, ErrorCode, Evaluator, Reason, Snapshot
from safeflags.sdk.check import unknown_enum
from safeflags.v1 import bundle_pb2
from tests.helpers.builder import Builder
from tests.helpers.hostile import BadStr, EvilKey, RaisingMapping
from tests.helpers.strategies import Hostile, LyingStr

b = Builder()
SEED = b.flag("a.seed", "bool", [False, True], [
    b.rule(b.cmp("age", ">=", 18), value=1, label="number"),
    b.rule(b.any_(b.cmp("app_version", "<", "2.0.0", "semver"), b.cmp("signup", ">", 1_704_067_200, "timestamp")),
           value=1),
    b.rule(b.not_(b.match("plan", "regex", "^p")), value=0),
    b.rule(b.match("plan", "prefix", "pro"), split=b.split("user_id", "s", [(0, 50_000), (1, 100_000)]),
           reason="split"),
], variants=["off", "on"])
OTHER = b.flag("a.other", "string", ["x", "y"], [b.rule(b.in_("plan", "pro"), value=1)])
DATA = b.data([SEED, OTHER])




class PairlessMapping(dict[str, object]):
    def items(self) -> Any:
        return [("region",), 7]






class Unhashables(Mapping[object, object]):
    """Keys no dict can hold."""

    def __getitem__(self, key: object) -> object:
        return "us-east-1"

    def __iter__(self) -> Iterator[object]:
        return iter([BadStr("region"), ["env"], {"a": 1}])

    def __len__(self) -> int:
        return 3


class NoBytes(bytes):
    def __bytes__(self) -> bytes:
        raise RuntimeError("bytes")


def released() -> memoryview:
    view = memoryview(DATA)
    view.release()
    return view


@pytest.mark.parametrize("static", [
    pytest.param(RaisingMapping(), id="every-read-raises"),
    pytest.param(PairlessMapping(region="x"), id="items-not-pairs"),
    pytest.param([("region", "us-east-1")], id="a-list"),
    pytest.param("region=us-east-1", id="a-string"),
    pytest.param(Hostile(), id="hostile-object"),
])
@pytest.mark.parametrize("load", [Snapshot.from_bytes, Evaluator.from_bytes], ids=["snapshot", "evaluator"])
def test_an_unreadable_static_context_is_a_bundle_error(load: Any, static: object) -> None:
    with pytest.raises(BundleError, match="static context"):
        load(DATA, static=static)


@pytest.mark.parametrize("static, pinned, ignored", [
    pytest.param({1: "x", (1, 2): "y", None: "z", b"region": "w"}, {}, 4, id="keys-that-are-not-str"),
    pytest.param({EvilKey(): "x"}, {}, 1, id="key-whose-eq-and-repr-raise"),
    pytest.param(Unhashables(), {"region": "us-east-1"}, 2, id="unhashable-keys"),
    pytest.param({LyingStr("region"): "us-east-1"}, {"region": "us-east-1"}, 0, id="str-subclass-key"),
    pytest.param({"region": ["us-east-1"], "env": {"a": [1]}}, {"region": ["us-east-1"], "env": {"a": [1]}}, 0,
                 id="unhashable-values"),
])
def test_odd_keys_and_values_load_and_serve(static: Mapping[object, object], pinned: dict[str, object],
                                            ignored: int) -> None:
    evaluator = Evaluator.from_bytes(DATA, static=static)  # type: ignore[arg-type]
    status = evaluator.status()
    assert dict(status.static) == pinned
    assert len(status.ignored_static) == ignored and all(type(n) is str for n in status.ignored_static)
    assert type(next(iter(status.static), "")) is str  # pinned under the characters, not the subclass
    assert evaluator.get_bool("a.seed", None, {"age": 20}) is True
    assert evaluator.get_string("a.other", "d", {"plan": "pro"}) == "y"
    assert not status.errors


def test_a_hostile_value_pinned_breaks_no_load() -> None:
    evaluator = Evaluator.from_bytes(DATA, static={"region": Hostile(), "env": Hostile(), "tier": 10**5000})
    assert evaluator.get_bool("a.seed", None, {"age": 20}) is True


@pytest.mark.parametrize("data", [
    pytest.param(bytearray(DATA), id="bytearray"),
    pytest.param(memoryview(DATA), id="memoryview"),
    pytest.param(NoBytes(DATA), id="bytes-subclass-whose-dunder-bytes-raises"),
])
def test_bytes_like_bundles_load_through_their_buffer(data: Any) -> None:
    assert Evaluator.from_bytes(data).get_bool("a.seed", None, {"age": 20}) is True


@pytest.mark.parametrize("data", [
    pytest.param(released(), id="released-memoryview"),
    pytest.param(DATA.decode("latin-1"), id="str"),
    pytest.param(None, id="none"),
    pytest.param(Hostile(), id="hostile-object"),
    pytest.param(DATA[:-3], id="truncated"),
    pytest.param(b"", id="empty"),
])
def test_what_is_not_a_bundle_is_a_bundle_error(data: Any) -> None:
    with pytest.raises(BundleError):
        Snapshot.from_bytes(data)


@pytest.mark.parametrize("digest", [BadStr("sha256-" + "0" * 64), Hostile(), 7, "sha256-xyz"])
def test_a_hostile_expected_digest_is_a_bundle_error(digest: object) -> None:
    with pytest.raises(BundleError, match="digest"):
        Snapshot.from_bytes(DATA, digest=digest)  # type: ignore[arg-type]


# --- enum numbers the schema does not name ----------------------------------

def enum_fields(desc: Any, seen: set[str] | None = None) -> set[str]:
    """Every enum field a CompiledFlag can hold, read from the descriptors."""
    seen = set() if seen is None else seen
    if desc.full_name in seen:
        return set()
    seen.add(desc.full_name)
    found = {fd.full_name for fd in desc.fields if fd.enum_type is not None}
    for fd in desc.fields:
        if fd.message_type is not None:
            found |= enum_fields(fd.message_type, seen)
    return found


def instances(message: Any) -> Iterator[tuple[Any, Any]]:
    """(message, enum field) for each enum field of each message in the tree."""
    for fd in message.DESCRIPTOR.fields:
        if fd.enum_type is not None:
            yield message, fd
    for fd, value in message.ListFields():
        if fd.message_type is not None:
            for item in value if fd.is_repeated else (value,):
                yield from instances(item)


ENUM_FIELDS = sorted(enum_fields(bundle_pb2.CompiledFlag.DESCRIPTOR))


def test_the_seed_flag_holds_every_enum_field_of_the_schema() -> None:
    """So the test below covers a new enum field the day the schema gains one."""
    assert {fd.full_name for _, fd in instances(SEED)} == set(ENUM_FIELDS)
    assert len(ENUM_FIELDS) >= 5  # type, reason, compare op and kind, match op
    assert unknown_enum(SEED) is None


@pytest.mark.parametrize("number", [77, -1, 2**31 - 1])
@pytest.mark.parametrize("field", ENUM_FIELDS)
def test_an_unknown_enum_number_breaks_its_flag_at_load(field: str, number: int,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    flag = bundle_pb2.CompiledFlag()
    flag.CopyFrom(SEED)
    hits = [(m, fd) for m, fd in instances(flag) if fd.full_name == field]
    for message, fd in hits:
        setattr(message, fd.name, number)
    evaluator = Evaluator.from_bytes(b.data([flag, OTHER]))
    assert evaluator.snapshot.warm() == 1  # this flag, and it alone
    caplog.set_level(logging.WARNING, logger="safeflags")
    for _ in range(3):
        assert evaluator.get_bool("a.seed", None, {"age": 20, "plan": "pro", "user_id": "u"}) is None
        d = evaluator.details("a.seed", "code", {"age": 20})
        assert (d.value, d.reason, d.error_code) == ("code", Reason.ERROR, ErrorCode.PARSE_ERROR)
        assert f"= {number}" in (d.error_message or "") or "unknown flag type" in (d.error_message or "")
    assert evaluator.get_string("a.other", "d", {"plan": "pro"}) == "y"
    records = [r for r in caplog.records if "a.seed" in r.getMessage()]
    assert len(records) == 1 and records[0].exc_info is None  # once, and no traceback
    assert [kind for _, kind in evaluator.status().errors] == ["PARSE_ERROR"]


def test_unknown_enum_names_the_field_it_found() -> None:
    flag = bundle_pb2.CompiledFlag()
    flag.CopyFrom(SEED)
    flag.rules[1].when.any.items[0].compare.kind = 77
    assert unknown_enum(flag) == "rules[1].when.any.items[0].compare.kind = 77"
