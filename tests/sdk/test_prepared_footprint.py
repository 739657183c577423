"""A prepared flag keeps what serving needs and no specialised rules; the slow
paths that read those rules (details, explain) specialise the flag again, and
get what they got when the rules were kept, also for flags reused by intake."""
from __future__ import annotations

import gc

from google.protobuf.message import Message  # type: ignore[import-untyped]

from safeflags.sdk.evaluator import Evaluator
from safeflags.sdk.partial import SpecializedFlag, SpecializedRule
from tests.sdk.test_intake import KEYS, build, version

CTXS: list[dict[str, object]] = [{}, {"plan": "pro"}, {"plan": "free"}]


def test_a_prepared_flag_holds_no_specialised_rules_and_no_message_of_its_own() -> None:
    snap = build(version(), None)
    snap.warm()
    for key in snap.flags:
        entry = snap.entry(key)
        assert entry is not None and entry.error is None
        held = gc.get_referents(entry)
        assert not [o for o in held if isinstance(o, (SpecializedFlag, SpecializedRule))], key
        # The one message it refers to is the snapshot's own, not a copy or a sub-message.
        assert [o for o in held if isinstance(o, Message)] == [snap.flags[key]], key


def test_spec_is_what_preparing_decided() -> None:
    snap = build(version(), None)
    for key in [*KEYS[:3], "y.low", "y.mid", "y.top"]:
        entry, spec = snap.entry(key), snap.spec(key)
        assert entry is not None and spec is not None
        assert spec.constant == entry.constant
        assert spec.flag.key == key
    assert snap.spec("no.such.flag") is None


def test_details_and_explain_of_reused_flags_equal_a_fresh_snapshot() -> None:
    first = build(version(), None)
    first.warm()
    flags = version(low="off")  # y.low changes: y.mid and y.top are prepared again, the k* flags reused
    reused = build(flags, first)
    fresh = build(flags, None)
    assert reused.entry(KEYS[0]) is first.entry(KEYS[0])
    served, expected = Evaluator(reused), Evaluator(fresh)
    for key in [KEYS[0], KEYS[-1], "y.low", "y.mid", "y.top"]:
        for ctx in CTXS:
            assert served.details(key, None, ctx) == expected.details(key, None, ctx), (key, ctx)
            assert served.explain(key, ctx).render() == expected.explain(key, ctx).render(), (key, ctx)
