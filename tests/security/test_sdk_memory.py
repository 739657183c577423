"""Memory a request or a bundle can make the SDK keep: every cache that
outlives a request is bounded in bytes, not only in entries.

Requests choose the versions, timestamps and flag keys they send (and, through
a hostile mapping, the text of the exceptions evaluation meets); the parse
caches, the error counters and the problem counts must not keep them. Measured
with tracemalloc: what is still allocated once the requests are gone."""
from __future__ import annotations

import gc
import logging
import tracemalloc
from collections.abc import Callable, Iterator, Mapping

import pytest

from safeflags import ErrorCode, Evaluator, Snapshot
from safeflags.sdk import codegen, evaluator, snapshot
from safeflags.sdk.kernel import parse_cache, semver, timestamps
from tests.helpers.builder import Builder

REQUESTS = 5_000
VALUE_CHARS = 100_000
RETAINED_BOUND = 4 << 20
"""What 5,000 requests of 100 kB values may leave behind, all caches together
(without the bounds they kept 1.4 GB)."""

b = Builder()
FLAGS = [
    b.flag("mem.version", "bool", [False, True], [b.rule(b.cmp("app_version", ">=", "2.0.0", "semver"), value=1)]),
    b.flag("mem.signup", "bool", [False, True], [b.rule(b.cmp("signup", ">=", 1_704_067_200, "timestamp"), value=1)]),
    b.flag("mem.needs", "bool", [False, True], [b.rule(b.all_(b.flag_is("mem.version", True),
                                                              b.flag_is("mem.signup", True)), value=1)]),
]


class Exploding(Mapping[str, object]):
    """A context whose every read raises an exception quoting `text`."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __getitem__(self, key: str) -> object:
        raise RuntimeError(self.text)

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError(self.text)

    def __len__(self) -> int:
        return 1


@pytest.fixture
def quiet_log(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the SDK keeps is measured, not the records pytest's log capture keeps.
    monkeypatch.setattr(logging.getLogger("safeflags"), "disabled", True)


def retained(work: Callable[[], object]) -> int:
    """Bytes still allocated after `work` (and the garbage it left) is gone."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def serve_hostile_requests(client: Evaluator) -> None:
    filler = "9" * VALUE_CHARS
    for i in range(REQUESTS):
        version = f"1.0.0-{i}.a{filler}"  # distinct each time, and every one a version but for its length
        signup = f"2024-01-01T00:00:00.{filler}{i}Z"
        ctx = {"app_version": version, "signup": signup}
        client.get_bool("mem.version", None, ctx)
        client.get_bool("mem.signup", None, ctx)
        client.get_bool("mem.needs", None, ctx)
        client.details("mem.needs", None, ctx)
        client.snapshot.reference(client.snapshot.flags["mem.needs"], ctx)
        client.get_bool(f"missing.{i}.{filler}", None, ctx)  # an unknown key, counted
        client.get_bool("mem.needs", None, Exploding(f"{i}{filler}"))  # a problem whose message quotes it


@pytest.mark.usefixtures("quiet_log")
def test_hostile_request_values_are_not_kept() -> None:
    client = Evaluator(Snapshot(b.bundle(FLAGS)))
    # Code generation happens once per flag, before measuring; the counters fill while measured.
    assert client.get_bool("mem.needs", None, {"app_version": "2.1.0", "signup": "2024-02-01"}) is True
    client.details("mem.needs", None, {})
    kept = retained(lambda: serve_hostile_requests(client))
    assert kept < RETAINED_BOUND, f"{kept:,} bytes retained"
    # The requests were served and counted, so the bound is not met by doing nothing.
    status = client.status()
    assert status.errors[("(other flags)", ErrorCode.FLAG_NOT_FOUND.value)] == REQUESTS - evaluator.MAX_TRACKED
    assert len(status.problems) == snapshot.MAX_PROBLEMS + 1 and "(other problems)" in status.problems


def test_counters_keep_the_start_of_a_hostile_key(caplog: pytest.LogCaptureFixture) -> None:
    client = Evaluator(Snapshot(b.bundle(FLAGS)))
    key = "missing." + "k" * VALUE_CHARS
    caplog.set_level(logging.WARNING, "safeflags")
    details = client.details(key, "dflt")
    assert (details.value, details.error_code, details.flag_key) == ("dflt", ErrorCode.FLAG_NOT_FOUND, key)
    [(name, _kind)] = client.status().errors
    assert name.startswith(key[:evaluator.MAX_KEY_KEPT]) and len(name) < evaluator.MAX_KEY_KEPT + 40
    [record] = [r for r in caplog.records if r.name == "safeflags"]
    assert len(record.getMessage()) < evaluator.MAX_KEY_KEPT + evaluator.MAX_MESSAGE_KEPT + 200


def test_problem_messages_are_cut() -> None:
    client = Evaluator(Snapshot(b.bundle(FLAGS)))
    assert client.get_bool("mem.needs", None, Exploding("x" * VALUE_CHARS)) is False
    problems = client.status().problems
    assert problems and all(len(p) < snapshot.MAX_PROBLEM_CHARS + 40 for p in problems)
    assert any("failed" in p and "xxxx" in p for p in problems)


@pytest.mark.parametrize("parse", [semver.parse, timestamps.to_epoch], ids=["semver", "timestamp"])
def test_parse_caches_are_bounded_in_bytes_by_short_texts(parse: Callable[[str], object]) -> None:
    # The most a cache can hold: more distinct texts than it keeps, each as long as it keeps, of the
    # widest characters, or with the largest results (a version of many short prerelease identifiers).
    longest = parse_cache.LONGEST

    def fill() -> None:
        for i in range(parse_cache.ENTRIES + 500):
            parse((f"{i}" + "\U0001f600" * longest)[:longest])
            parse((f"1.0.0-{i}" + ".ab" * longest)[:longest])

    parse_cache.clear()
    assert retained(fill) < parse_cache.MAX_BYTES
    assert semver.parse(("1.0.0-1" + ".ab" * longest)[:longest]) is not None  # the large results were made


def test_short_texts_are_still_cached() -> None:
    calls: list[str] = []

    @parse_cache.parse_cache(longest=8, entries=4)
    def parse(text: str) -> int:
        calls.append(text)
        return len(text)

    assert [parse("1.2.3"), parse("1.2.3"), parse("x" * 9), parse("x" * 9)] == [5, 5, 9, 9]
    assert calls == ["1.2.3", "x" * 9, "x" * 9]  # the short one parsed once, the long one each time


def test_the_code_cache_is_bounded_in_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codegen, "_CODE_CACHE", {})
    monkeypatch.setattr(codegen, "_code_cache_chars", 0)
    monkeypatch.setattr(codegen, "_CODE_CACHE_MAX_CHARS", 20_000)
    for width in range(1, 120):  # a new shape each time, each a longer source
        flag = b.flag(f"w.f{width}", "bool", [False, True],
                      [b.rule(b.all_(*[b.in_("plan", f"p{i}") for i in range(width)]), value=1)])
        Evaluator(Snapshot(b.bundle([flag]))).get_bool(f"w.f{width}", None, {"plan": "p0"})
        assert sum(len(s) for s in codegen._CODE_CACHE) == codegen._code_cache_chars <= 20_000
    huge = b.flag("w.huge", "bool", [False, True],
                  [b.rule(b.any_(*[b.in_("plan", f"p{i}") for i in range(3000)]), value=1)])
    assert Evaluator(Snapshot(b.bundle([huge]))).get_bool("w.huge", None, {"plan": "p2999"}) is True
    assert all(len(s) <= codegen._CODE_CACHE_LONGEST for s in codegen._CODE_CACHE)


def test_what_bundle_patterns_can_make_the_sdk_keep_is_bounded_in_bytes() -> None:
    from safeflags.sdk.kernel import regex

    # Every pattern gets RE2's per-pattern memory budget, and the interpreter's
    # memo holds at most MEMO_BYTES worth of them, however many a bundle has.
    assert regex.options(False).max_mem == regex.options(True).max_mem == regex.MAX_MEM
    assert regex.compiled.cache_info().maxsize * regex.MAX_MEM <= regex.MEMO_BYTES
    regex.compiled.cache_clear()
    for i in range(regex.MAX_CACHED * 3):
        regex.compiled(f"^flag-{i}-[a-z]+$", False)
    assert regex.compiled.cache_info().currsize == regex.MAX_CACHED
    # A pattern whose program exceeds the budget is refused, not given more memory.
    with pytest.raises(regex.RegexError):
        regex.Regex("(" + "[a-z0-9]{1,1000}" * 50 + ")")
