"""Attack: a regex condition that backtracks. One `get_bool` on a 25-character
value once took 11 s under `^(a|a?)+$`, doubling per character and holding
the GIL, so the whole process stopped; a bundle built by hand skipped the
compiler's check. Every regex is now RE2's, in `validate` and in the SDK:

- `validate` accepts exactly what RE2 compiles (plus a length limit);
- every match node is evaluated by RE2, compiled once when the flag loads,
  by the interpreter, the generated code and static pre-evaluation alike;
- a pattern RE2 does not compile breaks its own flag only (code default, ERROR).

Nothing here measures time (benchmarks/redos.py prints the figures): the
tests assert the mechanism, the engine each flag holds and that Python's
`re` never sees a flag's pattern, and compare every answer with RE2's own.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FunctionType
from typing import Any

import pytest
import re2  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st

from safeflags.compile.parse import regex as validator
from safeflags.sdk.details import ErrorCode, Reason
from safeflags.sdk.evaluator import Evaluator
from safeflags.sdk.interpret import evaluate
from safeflags.sdk.kernel import regex as engine
from safeflags.sdk.snapshot import Snapshot
from tests.helpers.builder import Builder
from tests.helpers.repo import FlagRepo, bool_flag

# Each passed the old hand-written subset check and backtracked exponentially in Python's re.
FOUND = [r"^(a|a?)+$", r"(a|a)*$", r"(?:a?){25}a{25}", r"(a{1,1000}){1,1000}$"]
CATASTROPHIC = [
    # nested quantifiers
    r"(a+)+$", r"(a*)*$", r"(a+)*b", r"((a+)+)+$", r"(x+x+)+y", r"^(\w+\s?)*$", r"^([a-zA-Z0-9]+\s?)*$",
    r"(\d+)*\.", r"^(([a-z])+.)+[A-Z]([a-z])+$", r"^([a-z0-9_.-]+)+@example\.com$", r"((ab)*)*c",
    # overlapping alternations
    r"(a|aa)+$", r"(a|aa)+", r"(a|a?)+b", r"(a|b|ab)*c", r"^(a|ab|b)*$", r"(\w|\d)+$", r"(.|\s)*$", r"(?i)(A|a)+$",
    # repeated wildcards
    r"(.*a){20}", r"(.*a){12}$", r"(.*,){30}x", r"^(.*?,){11}P",
    # large counted repeats (RE2 refuses counts above 1000, nested counts multiplied)
    r"a{1000}", r"(?:a?){500}a{500}", r"(a{1,30}){1,30}$", r"[a-z]{1,1000}[0-9]", r"a{1001}", r"(a{100}){100}",
]
CORPUS = FOUND + CATASTROPHIC
INPUTS = [  # 10 kB each: the near-misses that make a backtracking engine try every split
    "a" * 10_000 + "!", "x" * 10_000 + "y!", "ab" * 5_000 + "!", "a " * 5_000 + "!", "a," * 5_000,
    "a" * 10_000 + "@example.co",
]
# Constructs RE2 does not have, with the word the refusal uses.
NOT_RE2 = {
    r"(a)\1": "backreferences", r"(?P<x>a)(?P=x)": "backreferences", r"foo(?=bar)": "lookaround",
    r"foo(?!bar)": "lookaround", r"(?<=a)b": "lookaround", r"(?<!a)b": "lookaround", r"(?>a+)b": "atomic groups",
    r"a*+b": "possessive", r"a++b": "possessive", r"[a-z]+\Z": r"\z", r"(?(1)a|b)": "conditional",
}

B = Builder()


def re2_compiles(pattern: str, ignore_case: bool = False) -> bool:
    """What RE2 itself (its public API) compiles within the SDK's budget: at
    most MAX_MEM bytes and MAX_PROGRAM instructions per pattern."""
    from safeflags.sdk.kernel.regex import MAX_MEM, MAX_PROGRAM

    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.log_errors = False
    options.max_mem = MAX_MEM
    try:
        compiled = re2.compile(pattern, options)
    except re2.error:
        return False
    return bool(compiled.programsize <= MAX_PROGRAM)


def re2_says(pattern: str, text: str, ignore_case: bool = False) -> bool:
    options = re2.Options()
    options.case_sensitive = not ignore_case
    return re2.search(pattern, text, options) is not None


def snapshot_of(patterns: list[str], ignore_case: bool = False, dim: str = "plan",
                static: dict[str, object] | None = None) -> Snapshot:
    """One bool flag `rx.p<i>` per pattern, true when `dim` matches it, and `rx.plain` beside them."""
    flags = [B.flag(f"rx.p{i:03d}", "bool", [False, True], [B.rule(B.match(dim, "regex", p, ignore_case), value=1)])
             for i, p in enumerate(patterns)]
    flags.append(B.flag("rx.plain", "bool", [False, True], [B.rule(B.in_("plan", "pro"), value=1)]))
    return Snapshot(B.bundle(flags), static=static)


def generated(snap: Snapshot, key: str) -> FunctionType:
    """The generated function serving `key`, asserting it is one (not the interpreter behind a closure)."""
    fn = snap.fast_bool[key]
    assert isinstance(fn, FunctionType) and fn.__code__.co_filename == "<safeflags flag>"
    return fn


def held_patterns(fn: FunctionType) -> list[engine.Regex]:
    """The compiled patterns a generated function holds (bound as its parameter defaults)."""
    return [d.__self__ for d in fn.__defaults__ or () if isinstance(getattr(d, "__self__", None), engine.Regex)]


def interpreted(snap: Snapshot, key: str, ctx: dict[str, object]) -> bool:
    """The reference interpreter's answer for bool flag `key`."""
    flag = snap.flags[key]
    return bool(flag.values[evaluate(flag, ctx, snap.env).value_index].bool_value)


@contextmanager
def python_re_patterns() -> Iterator[list[str]]:
    """Every pattern handed to Python's `re` while the block runs."""
    seen: list[str] = []
    original: Callable[..., Any] = re._compile  # type: ignore[attr-defined]

    def recording(pattern: Any, flags: Any) -> Any:
        seen.append(pattern)
        return original(pattern, flags)

    re._compile = recording  # type: ignore[attr-defined]
    try:
        yield seen
    finally:
        re._compile = original  # type: ignore[attr-defined]


# --- validate: exactly what RE2 compiles ---------------------------------------

@pytest.mark.parametrize("pattern", [*CORPUS, *NOT_RE2])
def test_the_validator_accepts_exactly_what_re2_compiles(pattern: str) -> None:
    for ignore_case in (False, True):
        assert (validator.check(pattern, ignore_case) is None) is re2_compiles(pattern, ignore_case), pattern


@pytest.mark.parametrize("pattern, why", sorted(NOT_RE2.items()))
def test_constructs_re2_lacks_are_refused_with_the_reason(pattern: str, why: str) -> None:
    message = validator.check(pattern)
    assert message is not None and "RE2" in message and why in message


def test_the_length_limit_is_kept() -> None:
    # A long pattern that compiles to few instructions (one character class).
    assert validator.check("[" + "a" * (validator.MAX_LENGTH - 2) + "]") is None
    assert "longer than" in (validator.check("a" * (validator.MAX_LENGTH + 1)) or "")


def test_validate_accepts_the_found_patterns_and_locates_the_refused(tmp_path: Path) -> None:
    repo = FlagRepo(tmp_path / "repo")
    files = {}
    for i, pattern in enumerate([*FOUND, *NOT_RE2]):
        # A Jsonnet verbatim string: the pattern as written, no escaping.
        files[pattern] = repo.write(f"rx.p{i:02d}", bool_flag(
            f"overrides: [sf.when(sf.dim.email.regex(@'{pattern}')).serve(true)],"))
    result = repo.compile(jobs=1)
    refused = {e.file: e for e in result.errors}
    for pattern, rel in files.items():
        if re2_compiles(pattern):
            assert rel not in refused, refused[rel].format()
        else:
            err = refused[rel]
            assert (err.code, err.line) == ("SF109", 6), err.format()
            assert err.column > 1 and "invalid regular expression (RE2 syntax)" in err.message
    assert len(refused) == len(result.errors)  # nothing else went wrong


# --- the SDK: RE2 on every path, compiled at load --------------------------------

@pytest.mark.parametrize("pattern", CORPUS)
def test_catastrophic_patterns_are_matched_by_re2_on_10kb_inputs(pattern: str) -> None:
    snap = snapshot_of([pattern])
    client = Evaluator(snap)
    key = "rx.p000"
    entry = snap.entry(key)
    assert entry is not None
    if not re2_compiles(pattern):  # a large count: refused by RE2, so its flag alone is broken
        assert entry.error is not None and "RE2" in str(entry.error)
        got = client.details(key, "code default", {"plan": INPUTS[0]})
        assert (got.value, got.reason, got.error_code) == ("code default", Reason.ERROR, ErrorCode.PARSE_ERROR)
        assert client.get_bool("rx.plain", None, {"plan": "pro"}) is True
        return
    assert entry.error is None
    (held,) = held_patterns(generated(snap, key))
    assert (held.pattern, type(held.engine)) == (pattern, re2._re2.RE2)
    assert engine.compiled(pattern, False) is held  # the interpreter's pattern is the same object
    with python_re_patterns() as seen:
        for text in ["aaaa!", *INPUTS]:  # a short one first: a backtracking path fails here, not hangs below
            want = re2_says(pattern, text)
            ctx = {"plan": text}
            assert client.get_bool(key, None, ctx) is want
            assert client.details(key, None, ctx).value is want
            assert interpreted(snap, key, ctx) is want
            assert seen == []  # no path handed anything to Python's re


@pytest.mark.parametrize("pattern", sorted(NOT_RE2))
def test_a_hand_built_bundle_with_a_pattern_re2_lacks_breaks_only_that_flag(pattern: str) -> None:
    client = Evaluator(snapshot_of([pattern]))
    got = client.details("rx.p000", "code default", {"plan": "aaa"})
    assert (got.value, got.reason, got.error_code) == ("code default", Reason.ERROR, ErrorCode.PARSE_ERROR)
    assert "RE2 does not compile" in (got.error_message or "")
    assert client.get_bool("rx.p000", None, {"plan": "aaa"}) is None
    assert client.get_bool("rx.plain", None, {"plan": "pro"}) is True


def test_each_pattern_is_compiled_once_when_its_flag_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []

    class Counting(engine.Regex):
        def __init__(self, pattern: str, ignore_case: bool = False) -> None:
            made.append(pattern)
            super().__init__(pattern, ignore_case)

    pattern = r"^compiled-once-[0-9]+$"
    monkeypatch.setattr(engine, "Regex", Counting)
    engine.compiled.cache_clear()
    try:
        snap = snapshot_of([pattern])
        client = Evaluator(snap)
        snap.entry("rx.p000")
        assert made == [pattern]
        for i in range(20):
            ctx = {"plan": f"compiled-once-{i}"}
            assert client.get_bool("rx.p000", None, ctx) is True
            assert client.details("rx.p000", None, ctx).value is True
            assert interpreted(snap, "rx.p000", ctx) is True
        assert made == [pattern]
    finally:
        engine.compiled.cache_clear()  # drop the Counting objects


# --- semantics: what RE2 says, on every path ------------------------------------

# (pattern, value, ignore_case): where Python's re and RE2 part ways, and the anchors.
BEHAVIOUR = [
    (r"[[:alpha:]]", "é", False), (r"[[:alpha:]]", "a", False), (r"^[[:alpha:]]+$", "abc", False),
    (r"[[:^alpha:]]", "é", False), (r"\d", "٣", False), (r"\d", "3", False), (r"^\d+$", "١٢٣", False),
    (r"\pN", "٣", False), (r"\w", "é", False), (r"\s", "\u00a0", False),
    (r"^pro$", "pro", False), (r"^pro$", "pro\n", False), (r"^pro", "x\npro", False), (r"(?m)^pro$", "x\npro\n", False),
    (r"pro\z", "pro", False), (r"pro\z", "pro\n", False), (r"\Apro", "pro", False),
    (r"\bfoo\b", "a foo b", False), (r"\bfoo\b", "afoob", False), (r"\bfoo\b", "éfooé", False),
    (r"\Bfoo", "éfoo", False), (r".", "\n", False), (r"(?s).", "\n", False),
    (r"^PRO$", "pro", True), (r"ß", "ẞ", True), (r"k", "\u212a", True), (r"(?i)straße", "STRASSE", False),
    (r"@example\.com$", "ann@EXAMPLE.com", True), (r"^.$", "\U0001f600", False),
]


@pytest.mark.parametrize("pattern, value, ignore_case", BEHAVIOUR)
def test_the_sdk_answers_what_re2_answers(pattern: str, value: str, ignore_case: bool) -> None:
    want = re2_says(pattern, value, ignore_case)
    snap = snapshot_of([pattern], ignore_case)
    snap.entry("rx.p000")
    generated(snap, "rx.p000")
    ctx = {"plan": value}
    assert Evaluator(snap).get_bool("rx.p000", None, ctx) is want  # generated code
    assert interpreted(snap, "rx.p000", ctx) is want  # the reference interpreter
    # Static pre-evaluation: over a pinned static dimension the flag is decided at load.
    pinned = snapshot_of([pattern], ignore_case, dim="region", static={"region": value})
    got = Evaluator(pinned).details("rx.p000", None)
    assert (got.value, got.reason) == (want, Reason.STATIC)


def test_python_re_would_have_answered_otherwise() -> None:
    # The cases above are not vacuous: Python's re parts ways with RE2 on them.
    assert re.search(r"\d", "٣") and not re2_says(r"\d", "٣")
    assert re.search(r"^pro$", "pro\n") and not re2_says(r"^pro$", "pro\n")
    assert not re.search(r"\bfoo\b", "éfooé") and re2_says(r"\bfoo\b", "éfooé")
    client = Evaluator(snapshot_of([r"\d", r"^pro$"]))
    assert client.get_bool("rx.p000", None, {"plan": "٣"}) is False
    assert client.get_bool("rx.p001", None, {"plan": "pro\n"}) is False


@pytest.mark.parametrize("pattern", [r"\Z", r"a*+b", r"(?>a+)b"])
def test_what_re2_refuses_the_sdk_refuses(pattern: str) -> None:
    with pytest.raises(re2.error):
        re2.compile(pattern)
    assert validator.check(pattern) is not None
    got = Evaluator(snapshot_of([pattern])).details("rx.p000", False, {"plan": "ab"})
    assert (got.reason, got.error_code) == (Reason.ERROR, ErrorCode.PARSE_ERROR)


def test_a_lone_surrogate_is_one_character_on_both_paths() -> None:
    snap = snapshot_of([r"^.$", r"^..$"])
    client = Evaluator(snap)
    for key, want in (("rx.p000", True), ("rx.p001", False)):
        ctx = {"plan": "\ud800"}
        assert client.get_bool(key, None, ctx) is want
        assert interpreted(snap, key, ctx) is want
    assert client.status().fast_path_fallbacks == 0


# --- differential: random patterns and strings, the SDK against re2 ---------------

ATOMS = ["a", "b", "1", "é", "٣", " ", "A", "ß", ".", r"\d", r"\D", r"\w", r"\s", r"\b", r"\B", "[ab]", "[^a]",
         "[a-c]", "[[:alpha:]]", "[[:digit:]]", r"\pL", r"\pN", "^", "$", r"\z", r"\A", r"\n", r"\.", "(", ")", "|"]
QUANTIFIERS = ["*", "+", "?", "{2}", "{1,3}", "{0,}", "*?", "+?", "??", "{2,}?"]
FLAGS = ["(?i)", "(?s)", "(?m)", "(?U)", "(?is)"]


def patterns() -> st.SearchStrategy[str]:
    return st.recursive(
        st.sampled_from(ATOMS),
        lambda inner: st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map("|".join),
            inner.map(lambda p: f"({p})"),
            inner.map(lambda p: f"(?:{p})"),
            st.tuples(inner, st.sampled_from(QUANTIFIERS)).map(lambda t: f"(?:{t[0]}){t[1]}"),
            st.tuples(inner, st.sampled_from(QUANTIFIERS)).map("".join),  # sometimes not RE2: a**, ^*...
            st.tuples(st.sampled_from(FLAGS), inner).map("".join),
        ),
        max_leaves=8,
    )


TEXTS = st.lists(st.text(alphabet="ab1 é٣\nAßẞK.", max_size=12), min_size=1, max_size=4)


@given(pattern=patterns(), ignore_case=st.booleans(), texts=TEXTS)
def test_the_sdk_agrees_with_re2_on_random_patterns(pattern: str, ignore_case: bool, texts: list[str]) -> None:
    compiles = re2_compiles(pattern, ignore_case)
    assert (validator.check(pattern, ignore_case) is None) is compiles
    snap = snapshot_of([pattern], ignore_case)
    client = Evaluator(snap)
    entry = snap.entry("rx.p000")
    assert entry is not None and (entry.error is None) is compiles
    for text in texts:
        ctx = {"plan": text}
        if not compiles:
            assert client.details("rx.p000", None, ctx).error_code is ErrorCode.PARSE_ERROR
            continue
        want = re2_says(pattern, text, ignore_case)
        assert client.get_bool("rx.p000", None, ctx) is want, (pattern, text)
        assert interpreted(snap, "rx.p000", ctx) is want, (pattern, text)
