"""The bulk path's Table against the in-process SDK: for generated bundles
(prerequisites, cycles, splits, disabled and broken flags), static contexts
and request contexts, every flag's serialised OFREP item equals the one the
single-flag route makes from `Evaluator.details`. And the bulk-body cache."""
from __future__ import annotations

from collections.abc import Mapping

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeflags.sdk.evaluator import Evaluator
from safeflags.sdk.snapshot import Snapshot
from safeflags.serve.ofrep.bodies import Bodies
from safeflags.serve.ofrep.protocol import dump_item, evaluation
from safeflags.serve.ofrep.table import Checked, Table
from safeflags.v1 import bundle_pb2
from tests.helpers.builder import Builder
from tests.helpers.strategies import bundles, contexts, statics

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sdk_items(bundle: bundle_pb2.Bundle, static: Mapping[str, object], ctx: Mapping[str, object]) -> list[bytes]:
    evaluator = Evaluator(Snapshot(bundle, static=static))
    return [dump_item(evaluation(evaluator.details(key, None, ctx))[1]) for key in sorted(evaluator.snapshot.flags)]


def request_context(ctx: Mapping[str, object], static: Mapping[str, object]) -> dict[str, object]:
    # What Catalog.request hands a table: the request's attributes with the static values over them.
    return {**ctx, **static}


@SETTINGS
@given(bundles(), statics, st.lists(contexts, min_size=1, max_size=4))
def test_a_table_answers_what_the_sdk_answers(built: tuple[Builder, bundle_pb2.Bundle],
                                              static: dict[str, object], ctxs: list[dict[str, object]]) -> None:
    _, bundle = built
    base = Snapshot(bundle)  # the bundle's one parse, pinned to nothing, as Contexts keeps it
    table = Table(Checked(base), static)
    for ctx in ctxs:
        full = request_context(ctx, static)
        assert list(table.items(full)) == sdk_items(bundle, static, full)
        assert list(table.items(full)) == sdk_items(bundle, static, full)  # from the items it kept


@SETTINGS
@given(bundles(), st.lists(statics, min_size=2, max_size=3), contexts)
def test_static_contexts_sharing_one_bundles_checks_answer_apart(built: tuple[Builder, bundle_pb2.Bundle],
                                                                 many: list[dict[str, object]],
                                                                 ctx: dict[str, object]) -> None:
    _, bundle = built
    checked = Checked(Snapshot(bundle))
    tables = [Table(checked, static) for static in many]
    for static, table in zip(many, tables, strict=True):
        full = request_context(ctx, static)
        assert list(table.items(full)) == sdk_items(bundle, static, full)


def test_a_broken_flag_is_a_parse_error_and_the_rest_still_answer() -> None:
    b = Builder()
    good = b.flag("a.good", "bool", [False, True], [b.rule(b.in_("region", "eu-west-1"), value=1)])
    broken = b.flag("b.broken", "bool", [False, True], fallback=7)
    bundle = b.bundle([good, broken])
    table = Table(Checked(Snapshot(bundle)), {"region": "eu-west-1"})
    items = list(table.items({"region": "eu-west-1"}))
    assert items == sdk_items(bundle, {"region": "eu-west-1"}, {"region": "eu-west-1"})
    assert b'"errorCode":"PARSE_ERROR"' in items[1] and b'"value":true' in items[0]


def test_the_body_cache_is_bounded_in_bytes_and_forgets_other_bundles() -> None:
    bodies = Bodies(max_bytes=400)
    for i in range(8):
        bodies.put("sha256-a", f"ctx-{i}", b"x" * 90)
    assert bodies.size <= 400 and len(bodies) == 4
    assert bodies.get("sha256-a", "ctx-7") == b"x" * 90 and bodies.get("sha256-a", "ctx-0") is None
    bodies.put("sha256-a", "huge", b"x" * 200)  # over a quarter of the bound: never kept
    assert bodies.get("sha256-a", "huge") is None
    bodies.put("sha256-b", "ctx-0", b"y")
    bodies.keep_only("sha256-b")
    assert len(bodies) == 1 and bodies.size == 1 and bodies.get("sha256-b", "ctx-0") == b"y"
