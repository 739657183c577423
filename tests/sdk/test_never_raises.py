"""The client's promise: no key, context or code default makes it raise."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeflags import Evaluator, Reason, Snapshot
from tests.helpers.strategies import NAMES, Hostile, LyingStr, bundles, odd_values, values_for


class HostileMapping(dict):  # type: ignore[type-arg]
    def get(self, key: object, default: object = None) -> object:
        raise RuntimeError("get")


anything = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8), st.binary(max_size=4),
              st.builds(Hostile), st.builds(object), st.just(LyingStr("a.one")), odd_values),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=6,
)
contexts = st.one_of(
    anything,
    st.dictionaries(st.sampled_from(NAMES), st.sampled_from(NAMES).flatmap(values_for), max_size=6),
    st.dictionaries(st.sampled_from(NAMES), anything, max_size=4).map(HostileMapping),
)
keys = st.one_of(st.sampled_from(["a.one", "a.two", "b.three", "b.four", "", "missing"]), anything,
                 st.just(["unhashable"]), st.builds(Hostile))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles(), st.one_of(st.none(), st.dictionaries(st.sampled_from(NAMES), anything, max_size=4)),
       st.lists(st.tuples(keys, anything, contexts), min_size=1, max_size=6))
def test_client_never_raises(bundle: tuple, static: object, calls: list) -> None:
    _, proto = bundle
    client = Evaluator(Snapshot(proto, static=static))  # type: ignore[arg-type]
    for key, default, ctx in calls:
        for getter in (client.get_bool, client.get_string, client.get_int, client.get_float, client.get_json):
            getter(key, default, ctx)
            getter(key, default, ctx)  # again, on the memoised fast path
        d = client.details(key, default, ctx)
        if d.reason is Reason.ERROR:
            assert d.value is default
        client.details(key, default, ctx, expect="bool")
        client.details(key, default, ctx, expect=Hostile())  # type: ignore[arg-type]
        client.explain(key, ctx)
    # Hostile input is handled by design, not by the last-resort catch-all.
    assert not [kind for _, kind in client.status().errors if kind.startswith("GENERAL:")]


@settings(deadline=None)
@given(keys, anything, contexts)
def test_client_without_bundle_never_raises(key: object, default: object, ctx: object) -> None:
    client = Evaluator()
    assert client.get_bool(key, default, ctx) is default  # type: ignore[arg-type]
    assert client.details(key, default, ctx).reason is Reason.ERROR  # type: ignore[arg-type]
