"""The one "did you mean" of the project: the declared name closest to a
misspelt one, for the hints of every located error and finding.

Names here are identifiers (keys, dimension and enum values, rule codes,
teams), so closeness is counted in edits, with a swap of neighbours as one
edit (the commonest typo: `tpye`), case ignored, and a word may be at most a
third of its length away (one edit at least). A dotted name (`ns.flag`) is
compared part by part, each part within its own budget: `search.semantic_reranker`
shares its namespace with `search.max_query_terms` and nothing else, which is
no reason to suggest it.
"""
from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA


def _budget(part: str) -> int:
    return max(1, len(part) // 3)


def _part_distance(word: list[str], candidate: list[str]) -> int | None:
    """Edits summed over the dotted parts; None when the parts differ in
    number or one of them is further from its counterpart than its budget."""
    if len(word) != len(candidate):
        return None
    total = 0
    for a, b in zip(word, candidate, strict=True):
        d = OSA.distance(a, b, score_cutoff=_budget(a))
        if d > _budget(a):
            return None
        total += d
    return total


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `word`, or None when none is close enough.
    Never `word` itself; the same answer whatever order `candidates` come in
    (ties go to the more similar spelling, then the first in sorted order)."""
    pool = sorted({c for c in candidates if c != word})
    if not pool:
        return None
    query = word.lower()
    parts = query.split(".")
    # The whole-name distance is at most the sum of the parts' (the dots
    # align), so this cut-off, done in one pass of compiled code over what
    # may be every flag key, never drops a candidate the parts would accept.
    budget = sum(_budget(p) for p in parts)
    near = process.extract(query, [c.lower() for c in pool], scorer=OSA.distance, score_cutoff=budget, limit=None)
    best: tuple[int, float, str] | None = None
    for lowered, _, index in near:
        d = _part_distance(parts, lowered.split("."))
        if d is None:
            continue
        key = (d, -fuzz.ratio(word, pool[index]), pool[index])
        if best is None or key < best:
            best = key
    return best[2] if best else None


def hint(word: str, candidates: Iterable[str]) -> str | None:
    """`did you mean 'x'?`, or None: the hint line of a located error."""
    near = did_you_mean(word, candidates)
    return f"did you mean {near!r}?" if near is not None else None
