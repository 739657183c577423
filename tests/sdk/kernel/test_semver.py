"""Semantic versions are semver 2.0.0 exactly (grammar, section 9 and 10;
precedence, section 11), plus the two documented spellings: a leading "v",
and missing minor and patch parts. The `semver` package is the oracle: on
generated strings, valid and invalid, it and the kernel accept the same ones
and order every pair the same way."""
from __future__ import annotations

import itertools

import semver as oracle_package
from hypothesis import example, given
from hypothesis import strategies as st

from safeflags.sdk.kernel import semver

# semver.org section 11, item 4: each is lower than the next.
PRECEDENCE = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
              "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "1.10.0", "2.0.0-0", "2.0.0-1", "2.0.0-10", "2.0.0-A",
              "2.0.0-a", "2.0.0", "10.0.0"]


def oracle(text: str) -> oracle_package.Version | None:
    """The package's reading, with the kernel's documented spellings: a "v" and short versions."""
    body = text[1:] if text.startswith("v") else text
    try:
        return oracle_package.Version.parse(body, optional_minor_and_patch=True)
    except (ValueError, TypeError):
        return None


def compare(a: str, b: str) -> int:
    ka, kb = semver.parse(a), semver.parse(b)
    assert ka is not None and kb is not None
    return (ka > kb) - (ka < kb)


def test_section_11_precedence() -> None:
    for lower, higher in itertools.pairwise(PRECEDENCE):
        assert compare(lower, higher) == -1, (lower, higher)
        assert compare(higher, lower) == 1, (lower, higher)


def test_build_metadata_is_ignored_for_precedence() -> None:
    assert compare("1.0.0+build.1", "1.0.0+build.2") == 0
    assert compare("1.0.0-rc.1+exp.sha.5114f85", "1.0.0-rc.1") == 0


def test_the_documented_spellings() -> None:
    assert semver.parse("v2.14.0") == semver.parse("2.14.0") == semver.parse("2.14") == semver.parse("v2.14")
    assert semver.parse("2-rc.1") == semver.parse("2.0.0-rc.1")


def test_what_semver_forbids_is_not_a_version() -> None:
    for text in ["1.0.0-01", "1.0.0-alpha.01", "01.0.0", "1.01.0", "1.0.01", "1.0.0-", "1.0.0-a..b", "1.0.0+",
                 "1.0.0+a..b", "1.0.0-a_b", "V1.0.0", "vv1.0.0", "=1.0.0", " 1.0.0", "1.0.0 ", "1.0.0\n",
                 "\u0661.0.0", "1.0.0-\u00e9", "1..0", "1.0.0.0", "", "v", "-1.0.0"]:
        assert semver.parse(text) is None, text
    for text in ["1.0.0-0a", "1.0.0-0", "1.0.0-00a", "1.0.0+01", "1.0.0+-", "1.0.0-x-y-z.--", "0.0.0"]:
        assert semver.parse(text) is not None, text


def test_a_text_longer_than_the_bound_is_not_a_version() -> None:
    long_ok = "1.0.0-" + "a" * (semver.MAX_LENGTH - 6)
    assert semver.parse(long_ok) is not None
    assert semver.parse(long_ok + "a") is None
    assert semver.parse("1" * 5000 + ".0.0") is None  # past int()'s digit limit: no raise either


# Pieces that straddle every rule: leading zeros, empty identifiers, other
# scripts' digits, separators in the wrong place.
NUMBERS = st.sampled_from(["0", "1", "2", "9", "10", "11", "01", "00", "007", "123", "\u0663", "1a", ""])
IDENTIFIERS = st.one_of(
    st.sampled_from(["alpha", "beta", "rc", "0", "1", "2", "11", "01", "00", "0a", "00a", "a-b", "-", "--", "A",
                     "Z", "a1", "1a", "", " ", "\u00e9", "x_y", "9" * 20]),
    st.text(alphabet="0123456789abzAZ-", max_size=4),
)
texts = st.builds(
    lambda prefix, core, pre, build, suffix: prefix + core + pre + build + suffix,
    st.sampled_from(["", "", "", "v", "V", "=", " "]),
    st.lists(NUMBERS, min_size=1, max_size=4).map(".".join),
    st.one_of(st.just(""), st.lists(IDENTIFIERS, min_size=1, max_size=4).map(lambda ids: "-" + ".".join(ids))),
    st.one_of(st.just(""), st.lists(IDENTIFIERS, min_size=1, max_size=3).map(lambda ids: "+" + ".".join(ids))),
    st.sampled_from(["", "", "", "\n", " ", "+", "-", ".", "-rc"]),
)

# Valid versions only, from small pools, so pairs often tie on a prefix.
VALID_NUMBERS = st.sampled_from(["0", "1", "2", "10"])
VALID_IDENTIFIERS = st.sampled_from(["alpha", "beta", "rc", "0", "1", "2", "11", "a-1", "A", "b", "0a", "-"])
versions = st.builds(
    lambda v, core, pre, build: v + core + pre + build,
    st.sampled_from(["", "v"]),
    st.lists(VALID_NUMBERS, min_size=1, max_size=3).map(".".join),
    st.one_of(st.just(""), st.lists(VALID_IDENTIFIERS, min_size=1, max_size=3).map(lambda i: "-" + ".".join(i))),
    st.sampled_from(["", "", "+build.7", "+01"]),
)


@given(st.one_of(texts, versions, st.text(max_size=12)))
@example("1.0.0-01")
@example("1.0.0-0a")
@example("2.14")
def test_acceptance_agrees_with_the_semver_package(text: str) -> None:
    assert (semver.parse(text) is not None) == (oracle(text) is not None), text
    assert semver.is_valid(text) == (oracle(text) is not None)


@given(versions, versions)
@example("1.0.0-alpha.1", "1.0.0-alpha.beta")
@example("1.0.0-rc.1+b", "1.0.0-rc.1")
def test_ordering_agrees_with_the_semver_package(a: str, b: str) -> None:
    left, right = oracle(a), oracle(b)
    assert left is not None and right is not None, (a, b)
    assert compare(a, b) == left.compare(right), (a, b)
