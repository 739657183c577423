"""The one "did you mean": typos found, unrelated names never offered."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeflags.compile.suggest import did_you_mean, hint

# The flag keys of this repository's search namespace, and one elsewhere.
KEYS = ["billing.new_invoice_path", "search.max_query_terms", "search.personalized_ranking",
        "search.reranker_explanations"]


@pytest.mark.parametrize(("word", "candidates", "expected"), [
    ("weigths", ["type", "static", "description", "values", "weights"], "weights"),
    ("tpye", ["type", "static", "description", "values", "weights"], "type"),
    ("strin", ["string", "enum", "int", "float", "bool", "semver", "timestamp"], "string"),
    ("regoin", ["region", "cloud", "environment"], "region"),
    ("Region", ["region", "cloud"], "region"),
    ("SF3O1", ["SF301", "SF302", "SF401"], "SF301"),
    ("team-biling", ["team-billing", "team-search"], "team-billing"),
    ("ap-south-2", ["ap-south-1", "ap-southeast-2", "eu-west-1"], "ap-south-1"),
    ("rulez", ["local_validators", "rules", "approvers", "help_url"], "rules"),
    # A dotted key is compared part by part: one typo in either part.
    ("billing.new_invoce_path", KEYS, "billing.new_invoice_path"),
    ("serch.max_query_terms", KEYS, "search.max_query_terms"),
])
def test_a_typo_finds_the_name(word: str, candidates: list[str], expected: str) -> None:
    assert did_you_mean(word, candidates) == expected
    assert hint(word, candidates) == f"did you mean {expected!r}?"


@pytest.mark.parametrize(("word", "candidates"), [
    # Same namespace, unrelated name: a shared prefix is no typo.
    ("search.semantic_reranker", KEYS),
    ("search.semantic_reranker", ["search.semantic"]),
    ("billing.new_invoice_path", ["billing", "new_invoice_path"]),
    ("kubernetes", ["region", "cloud", "environment"]),
    ("ab", ["xy"]),
    ("weights", []),
])
def test_nothing_close_suggests_nothing(word: str, candidates: list[str]) -> None:
    assert did_you_mean(word, candidates) is None
    assert hint(word, candidates) is None


def test_the_closest_wins_and_ties_are_settled_by_spelling_then_order() -> None:
    assert did_you_mean("tier", ["tiers", "tier_"]) == "tier_"  # equally close and equally alike: sorted first
    assert did_you_mean("weigth", ["weight", "weights"]) == "weight"  # one edit beats two
    assert did_you_mean("us-east-3", ["us-east-2", "us-east-1"]) == "us-east-1"


def test_any_iterable_of_names() -> None:
    assert did_you_mean("tpye", {"type": 1, "values": 2}) == "type"
    assert did_you_mean("tpye", (n for n in ["type"])) == "type"


NAME = st.text(alphabet="abcdeABCDE._-0123", min_size=0, max_size=12)


@given(word=NAME, candidates=st.lists(NAME, max_size=8), include=st.booleans())
def test_a_suggestion_is_a_candidate_and_never_the_word(word: str, candidates: list[str], include: bool) -> None:
    pool = [*candidates, word] if include else candidates
    near = did_you_mean(word, pool)
    assert near is None or (near in pool and near != word)


@given(word=NAME, candidates=st.lists(NAME, max_size=8), data=st.data())
def test_the_order_of_candidates_does_not_matter(word: str, candidates: list[str], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(candidates))
    assert did_you_mean(word, shuffled) == did_you_mean(word, candidates)


@given(word=st.text(alphabet="abcdefgh", min_size=3, max_size=12), at=st.integers(min_value=0))
def test_one_swap_of_neighbours_is_always_found(word: str, at: int) -> None:
    i = at % (len(word) - 1)
    typo = word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if typo != word:
        assert did_you_mean(typo, [word, "zzzzzzzzzzzzzzzz"]) == word
