"""Properties the compiler relies on, over random flags and contexts:

- the compiled trees (lower + optimise + pack) agree with the reference
  interpreter over the semantic FlagSpec;
- packing is deterministic: the same flags in any order give the same bytes.

Flags are generated as the JSON a flag file evaluates to and go through the
real parser (stage 2), so the parser is exercised too; Jsonnet (stage 1) is
covered by the example-repository and located-error tests.
"""
from __future__ import annotations

import functools
import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeflags.compile.config import RepoConfig, load_config
from safeflags.compile.lower import Lowerer
from safeflags.compile.pack import pack
from safeflags.compile.parse.spec import parse_flag
from safeflags.compile.reference import Reference
from safeflags.sdk import interpret
from safeflags.sdk.values import decoded

CATALOG = """
version: 1
dimensions:
  region: {type: enum, values: [east, west, gov], static: true}
  service: {type: string, static: true}
  service_version: {type: semver, static: true}
  user: {type: string}
  tier: {type: enum, values: [free, pro, ent]}
  seats: {type: int}
  score: {type: float}
  beta: {type: bool}
  email: {type: string}
  app: {type: semver}
  created: {type: timestamp}
owners:
  team-a: {}
"""

KEYS = ["t.f0", "t.f1", "t.f2", "t.f3"]
USERS = ["u1", "u2", "u3", "alice", "bob", "", "u-42"]
EMAILS = ["a@corp.example", "b@gmail.example", "ADMIN@CORP.EXAMPLE", "x"]
# What a flag file may write (semver in full); a request may also say 2.0 or v2.0.0.
VERSIONS = ["1.0.0", "1.2.0", "2.0.0-rc.1", "2.0.0", "10.1.3"]
REQUEST_VERSIONS = [*VERSIONS, "2.0", "v2.0.0"]
TIMES = ["2026-01-01", "2026-06-01T12:00:00Z", "2027-01-01T00:00:00+00:00"]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> RepoConfig:
    root = tmp_path_factory.mktemp("props")
    (root / "safeflags.yaml").write_text(CATALOG)
    return load_config(root)


# Strategies are built once per flag index: building (and validating) a fresh recursive
# strategy for each draw cost more than the examples themselves.
@functools.cache
def leaf(index: int) -> st.SearchStrategy[dict[str, Any]]:
    later = KEYS[index + 1:]
    options = [
        st.builds(lambda op, vs: {"op": op, "dim": "region", "values": vs},
                  st.sampled_from(["in", "not_in"]),
                  st.lists(st.sampled_from(["east", "west", "gov"]), min_size=1, max_size=2)),
        st.builds(lambda op, vs: {"op": op, "dim": "tier", "values": vs},
                  st.sampled_from(["in", "not_in"]),
                  st.lists(st.sampled_from(["free", "pro", "ent"]), min_size=1, max_size=3)),
        st.builds(lambda vs: {"op": "in", "dim": "user", "values": vs},
                  st.lists(st.sampled_from(USERS), min_size=1, max_size=3)),
        st.builds(lambda op, v: {"op": op, "dim": "seats", "value": v},
                  st.sampled_from(["lt", "le", "gt", "ge"]), st.integers(-2, 12)),
        st.builds(lambda vs: {"op": "in", "dim": "seats", "values": vs},
                  st.lists(st.integers(0, 5), min_size=1, max_size=3)),
        st.builds(lambda op, v: {"op": op, "dim": "score", "value": v},
                  st.sampled_from(["lt", "ge"]), st.floats(-1, 1, allow_nan=False)),
        st.builds(lambda v: {"op": "in", "dim": "beta", "values": [v]}, st.booleans()),
        st.builds(lambda op, v: {"op": op, "dim": "app", "value": v},
                  st.sampled_from(["lt", "le", "gt", "ge"]), st.sampled_from(VERSIONS)),
        st.builds(lambda vs: {"op": "in", "dim": "app", "values": vs},
                  st.lists(st.sampled_from(VERSIONS), min_size=1, max_size=2)),
        st.builds(lambda op, v: {"op": op, "dim": "created", "value": v},
                  st.sampled_from(["lt", "ge"]), st.sampled_from(TIMES)),
        st.builds(lambda op, v, ic: {"op": op, "dim": "email", "value": v, "ignore_case": ic},
                  st.sampled_from(["prefix", "suffix", "contains", "regex"]),
                  st.sampled_from(["a", "@corp.example", "corp", "^[ab]@", "X"]), st.booleans()),
        st.builds(lambda d: {"op": "present", "dim": d}, st.sampled_from(["user", "seats", "region"])),
        st.builds(lambda p, salt: {"op": "percent", "dim": "user", "percent": p, **({"salt": salt} if salt else {})},
                  st.sampled_from([0, 0.5, 10, 50, 99.999, 100]), st.sampled_from([None, "shared"])),
        st.builds(lambda op: {"op": op}, st.sampled_from(["always", "never"])),
    ]
    if later:
        options.append(st.builds(lambda k, v: {"op": "flag", "flag": k, "value": v},
                                 st.sampled_from(later), st.booleans()))
    return st.one_of(options)


@functools.cache
def condition(index: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        leaf(index),
        lambda inner: st.one_of(
            st.builds(lambda op, xs: {"op": op, "of": xs},
                      st.sampled_from(["all", "any"]), st.lists(inner, max_size=3)),
            st.builds(lambda x: {"op": "not", "of": [x]}, inner),
        ),
        max_leaves=6,
    )


@st.composite
def flag_json(draw: st.DrawFn, index: int) -> dict[str, Any]:
    # Flags f0..f3 are bool except f1 (string with variants, for splits).
    is_string = index == 1
    flag: dict[str, Any] = {
        "type": "string" if is_string else "bool", "kind": "experiment" if is_string else "release",
        "owner": "team-a", "description": "generated", "default": "off" if is_string else draw(st.booleans()),
        "enabled": draw(st.sampled_from([True, True, True, False])),
    }
    if is_string:
        flag["variants"] = [{"name": "off", "value": "off"}, {"name": "a", "value": "A"}, {"name": "b", "value": "B"}]

    def serve() -> dict[str, Any]:
        if not is_string:
            return {"value": draw(st.booleans())}
        kind = draw(st.sampled_from(["value", "variant", "split"]))
        if kind == "value":
            return {"value": draw(st.sampled_from(["A", "B", "zzz"]))}
        if kind == "variant":
            return {"variant": draw(st.sampled_from(["a", "b"]))}
        w = draw(st.sampled_from([0.5, 10, 33.3, 50, 90]))
        return {"split": {"unit": "user", "arms": [{"variant": "a", "weight": w}, {"variant": "b", "weight": 100 - w}]}}

    flag["overrides"] = [{"when": draw(condition(index)), "serve": serve()} for _ in range(draw(st.integers(0, 3)))]
    if draw(st.booleans()):
        stages = [{"name": f"s{i}", "percent": p} for i, p in enumerate(draw(
            st.lists(st.sampled_from([0.1, 1, 5, 25, 50, 100]), min_size=1, max_size=4)))]
        for s in stages:
            if draw(st.booleans()):
                s["scope"] = {"op": "in", "dim": "region",
                              "values": draw(st.lists(st.sampled_from(["east", "west"]), min_size=1))}
        flag["rollout"] = {"stages": stages, "stage": draw(st.integers(0, len(stages))), "unit": "user",
                           **({"salt": "s"} if draw(st.booleans()) else {})}
        if is_string:
            flag["rollout"]["serve"] = {"variant": "a"}
    later = KEYS[index + 1:]
    if later and draw(st.booleans()):
        flag["prerequisites"] = [{"flag": draw(st.sampled_from(later)), "value": True}]
        if later and index == 0 and draw(st.booleans()):
            flag["prerequisites"][0]["flag"] = "t.f1"
            flag["prerequisites"][0]["value"] = draw(st.sampled_from(["A", "off"]))
    if draw(st.booleans()):
        flag["requires"] = [{"service": draw(st.sampled_from(["billing", "search"])),
                             "min_version": draw(st.sampled_from(VERSIONS))}]
    return flag


@functools.cache
def context() -> st.SearchStrategy[dict[str, Any]]:
    junk = st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=3), st.booleans(),
                     st.floats(allow_nan=False, width=16))
    values = {
        "region": st.sampled_from(["east", "west", "gov", "north"]),
        "service": st.sampled_from(["billing", "search", "other"]),
        "service_version": st.sampled_from([*REQUEST_VERSIONS, "garbage"]),
        "user": st.sampled_from(USERS) | st.integers(0, 10**6),
        "tier": st.sampled_from(["free", "pro", "ent"]),
        "seats": st.integers(-3, 14) | st.floats(-3, 14, allow_nan=False),
        "score": st.floats(-2, 2, allow_nan=False) | st.integers(-1, 1),
        "beta": st.booleans(),
        "email": st.sampled_from(EMAILS),
        "app": st.sampled_from(REQUEST_VERSIONS),
        "created": st.sampled_from(TIMES) | st.integers(1_700_000_000, 1_900_000_000),
    }
    return st.fixed_dictionaries({}, optional={k: v | junk for k, v in values.items()})


def compile_flags(config: RepoConfig, flags: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], bytes]:
    specs = {}
    for key, data in flags.items():
        rel = f"flags/{key.replace('.', '/')}.jsonnet"
        spec, errors = parse_flag(rel, key, data, json.dumps(data, indent=1), config)
        assert spec is not None, [e.format() for e in errors]
        specs[key] = spec
    lowerer = Lowerer(config.dimensions)
    _bundle, data, _ = pack([lowerer.flag(s) for s in specs.values()], config.dimension_protos(), "r", "test")
    return specs, data


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_compiled_trees_agree_with_the_reference(config: RepoConfig, data: st.DataObject) -> None:
    from safeflags.v1 import bundle_pb2

    flags = {key: data.draw(flag_json(i), label=key) for i, key in enumerate(KEYS)}
    specs, raw = compile_flags(config, flags)
    bundle = bundle_pb2.Bundle.FromString(raw)
    ref = Reference(specs, config.dimensions)
    by_key = {f.key: f for f in bundle.flags}
    env = interpret.Env([d.name for d in bundle.dimensions], list(bundle.strings), by_key)
    for ctx in data.draw(st.lists(context(), min_size=1, max_size=8), label="contexts"):
        for key in KEYS:
            want_value, want_reason = ref.evaluate(key, ctx)
            flag = by_key[key]
            out = interpret.evaluate(flag, ctx, env)
            got = decoded(flag.values[out.value_index])
            assert (got, str(out.reason)) == (want_value, want_reason), (key, ctx)


# Each example compiles its flags twice, and determinism needs fewer tries
# than semantics: half the profile's examples (tests/conftest.py).
@settings(max_examples=max(1, settings().max_examples // 2), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_pack_is_deterministic(config: RepoConfig, data: st.DataObject, seed: int) -> None:
    flags = {key: data.draw(flag_json(i), label=key) for i, key in enumerate(KEYS)}
    _, first = compile_flags(config, flags)
    shuffled = list(flags.items())
    random.Random(seed).shuffle(shuffled)
    _, second = compile_flags(config, dict(shuffled))
    assert first == second
