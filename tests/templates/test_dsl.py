"""The template library (safeflags/templates/*.libsonnet): each construct evaluated
through go-jsonnet, compared with the exact JSON of docs/flag-schema.md."""
from __future__ import annotations

import json
from typing import Any

import _gojsonnet
import pytest

from tests.helpers.repo import TEMPLATES

CATALOG: dict[str, Any] = {
    "dimensions": {
        "region": {"type": "enum", "values": ["us-west-2", "us-east-1", "eu-west-1", "us-gov-west-1"], "static": True},
        "environment": {"type": "enum", "values": ["dev", "prod"], "static": True},
        "workspace_id": {"type": "string", "values": [], "static": False},
        "user_id": {"type": "string", "values": [], "static": False},
        "email": {"type": "string", "values": [], "static": False},
        "app_version": {"type": "semver", "values": [], "static": False},
        "account_created_at": {"type": "timestamp", "values": [], "static": False},
        "seats": {"type": "int", "values": [], "static": False},
    }
}

FLAG = "owner: 'team-a', description: 'd'"


def evaluate(body: str, catalog: dict[str, Any] = CATALOG) -> Any:
    src = "local sf = import 'safeflags.libsonnet';\n" + body
    out = _gojsonnet.evaluate_snippet(
        "test.jsonnet", src, jpathdir=[str(TEMPLATES)], ext_codes={"safeflags_catalog": json.dumps(catalog)}
    )
    return json.loads(out)


def failure(body: str) -> str:
    with pytest.raises(RuntimeError) as info:
        evaluate(body)
    return str(info.value)


# --- conditions --------------------------------------------------------------

CONDITIONS = [
    ("sf.dim.region.in_(['us-east-1', 'eu-west-1'])",
     {"op": "in", "dim": "region", "values": ["us-east-1", "eu-west-1"]}),
    ("sf.dim.region.notIn(['us-gov-west-1'])", {"op": "not_in", "dim": "region", "values": ["us-gov-west-1"]}),
    ("sf.dim.environment.eq('prod')", {"op": "in", "dim": "environment", "values": ["prod"]}),
    ("sf.dim.seats.lt(10)", {"op": "lt", "dim": "seats", "value": 10}),
    ("sf.dim.seats.le(10)", {"op": "le", "dim": "seats", "value": 10}),
    ("sf.dim.app_version.gt('5.2.0')", {"op": "gt", "dim": "app_version", "value": "5.2.0"}),
    ("sf.dim.account_created_at.ge('2024-01-01T00:00:00Z')",
     {"op": "ge", "dim": "account_created_at", "value": "2024-01-01T00:00:00Z"}),
    ("sf.dim.workspace_id.prefix('ws-test-')",
     {"op": "prefix", "dim": "workspace_id", "value": "ws-test-", "ignore_case": False}),
    ("sf.dim.email.suffix('@example.com', ignoreCase=true)",
     {"op": "suffix", "dim": "email", "value": "@example.com", "ignore_case": True}),
    ("sf.dim.email.contains('+qa')", {"op": "contains", "dim": "email", "value": "+qa", "ignore_case": False}),
    ("sf.dim.email.regex('^qa[0-9]+@', true)",
     {"op": "regex", "dim": "email", "value": "^qa[0-9]+@", "ignore_case": True}),
    ("sf.dim.user_id.present()", {"op": "present", "dim": "user_id"}),
    ("sf.dim.user_id.percent(12.5)", {"op": "percent", "dim": "user_id", "percent": 12.5}),
    ("sf.dim.user_id.percent(50, salt='beta')", {"op": "percent", "dim": "user_id", "percent": 50, "salt": "beta"}),
    ("sf.always", {"op": "always"}),
    ("sf.never", {"op": "never"}),
    ("sf.all([sf.always, sf.dim.seats.gt(5)])",
     {"op": "all", "of": [{"op": "always"}, {"op": "gt", "dim": "seats", "value": 5}]}),
    ("sf.any([sf.never])", {"op": "any", "of": [{"op": "never"}]}),
    ("sf.not(sf.dim.user_id.present())", {"op": "not", "of": [{"op": "present", "dim": "user_id"}]}),
    ("sf.flagIs('billing.new_path')", {"op": "flag", "flag": "billing.new_path", "value": True}),
    ("sf.flagIs('storage.migration', 'AB')", {"op": "flag", "flag": "storage.migration", "value": "AB"}),
]


@pytest.mark.parametrize(("body", "expected"), CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_condition(body: str, expected: Any) -> None:
    assert evaluate(body) == expected


def test_dim_offers_exactly_the_catalog() -> None:
    assert evaluate("std.objectFieldsAll(sf.dim)") == sorted(CATALOG["dimensions"])


def test_unknown_dimension_fails_at_the_users_line() -> None:
    message = failure("sf.dim.reigon.in_(['us-east-1'])")
    assert "Field does not exist: reigon" in message
    assert "test.jsonnet:2:" in message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("sf.dim.region.in_('us-east-1')",
         'sf.dim.region.in_ takes a list of values: sf.dim.region.in_(["us-east-1"]), got "us-east-1"'),
        ("sf.dim.region.notIn('x')", 'sf.dim.region.notIn takes a list of values'),
        ("sf.all(sf.always)", "sf.all takes a list of conditions: sf.all([a, b, ...])"),
        ("sf.any([true])", "sf.any: every element must be a condition"),
        ("sf.not([sf.always])", "sf.not takes one condition"),
        ("sf.when(true).serve(1)", "sf.when takes a condition, e.g. sf.when(sf.dim.region.in_([...])), got true"),
    ],
)
def test_condition_misuse(body: str, message: str) -> None:
    assert message in failure(body)


# --- flags -------------------------------------------------------------------

@pytest.mark.parametrize(
    ("ctor", "type_", "kind"),
    [
        ("sf.bool", "bool", "release"),
        ("sf.string", "string", "config"),
        ("sf.int", "int", "config"),
        ("sf.float", "float", "config"),
        ("sf.json", "json", "config"),
    ],
)
def test_flag_constructors(ctor: str, type_: str, kind: str) -> None:
    assert evaluate(f"{ctor} {{ {FLAG}, default: null }}") == {
        "type": type_, "kind": kind, "owner": "team-a", "description": "d", "default": None,
    }


def test_kind_can_be_overridden() -> None:
    assert evaluate(f"sf.string {{ {FLAG}, kind: 'release', default: 'a' }}")["kind"] == "release"


def test_plain_flag_sets_nothing() -> None:
    assert evaluate(f"sf.flag {{ {FLAG}, type: 'int', kind: 'config', default: 3 }}") == {
        "type": "int", "kind": "config", "owner": "team-a", "description": "d", "default": 3,
    }


def test_no_default_is_invented() -> None:
    # The compiler reports the missing field at the flag's own line.
    assert "default" not in evaluate(f"sf.bool {{ {FLAG} }}")


def test_kill_switch() -> None:
    assert evaluate(f"sf.killSwitch {{ {FLAG} }}") == {
        "type": "bool", "kind": "operational", "owner": "team-a", "description": "d", "default": False,
    }


def test_config_with_bounds_and_schema() -> None:
    bounded = evaluate(f"sf.int {{ {FLAG}, default: 5, bounds: sf.bounds(min=1, max=10) }}")
    assert bounded["bounds"] == {"min": 1, "max": 10}
    assert evaluate("sf.bounds(max=2.5)") == {"max": 2.5}
    flag = evaluate(f"sf.json {{ {FLAG}, default: {{a: 1}}, schema: {{type: 'object'}} }}")
    assert (flag["default"], flag["schema"]) == ({"a": 1}, {"type": "object"})


def test_variant() -> None:
    assert evaluate("[sf.variant('a', 1), sf.variant('b', 2, 'two')]") == [
        {"name": "a", "value": 1},
        {"name": "b", "value": 2, "description": "two"},
    ]


def test_migration() -> None:
    assert evaluate(f"sf.migration(state='AB') {{ {FLAG} }}") == {
        "type": "string",
        "kind": "migration",
        "owner": "team-a",
        "description": "d",
        "default": "AB",
        "variants": [
            {"name": "A", "value": "A", "description": "old system only"},
            {"name": "AB", "value": "AB", "description": "write both, read the old system"},
            {"name": "BA", "value": "BA", "description": "write both, read the new system"},
            {"name": "B", "value": "B", "description": "new system only"},
        ],
    }


def test_migration_custom_states_keep_their_order() -> None:
    flag = evaluate(f"sf.migration(states=['old', 'shadow', 'new'], state='shadow') {{ {FLAG} }}")
    assert flag["variants"] == [{"name": "old", "value": "old"}, {"name": "shadow", "value": "shadow"},
                                {"name": "new", "value": "new"}]
    assert flag["default"] == "shadow"


def test_migration_unknown_state() -> None:
    assert 'sf.migration: state "C" is not one of the states ["A","AB","BA","B"]' in failure(
        f"sf.migration(state='C') {{ {FLAG} }}"
    )


def test_experiment() -> None:
    body = f"""sf.experiment(
      variants=[sf.variant('control', false), sf.variant('treatment', true)],
      arms={{treatment: 40, control: 60}},
    ) {{ {FLAG}, default: false }}"""
    assert evaluate(body) == {
        "type": "bool",
        "kind": "experiment",
        "owner": "team-a",
        "description": "d",
        "default": False,
        "variants": [{"name": "control", "value": False}, {"name": "treatment", "value": True}],
        "overrides": [{
            "when": {"op": "always"},
            "serve": {"split": {"unit": "user_id", "arms": [
                {"variant": "control", "weight": 60}, {"variant": "treatment", "weight": 40},
            ]}},
        }],
    }


def test_experiment_audience_salt_and_pinned_rules_first() -> None:
    body = f"""sf.experiment(
      variants=[sf.variant('a', 'x'), sf.variant('b', 'y')],
      arms=[{{variant: 'b', weight: 50}}, {{variant: 'a', weight: 50}}],
      unit='workspace_id', when=sf.dim.environment.eq('prod'), salt='s1',
    ) {{ {FLAG}, default: 'x', overrides: [sf.when(sf.always).serveVariant('b')] + super.overrides }}"""
    assert evaluate(body)["overrides"] == [
        {"when": {"op": "always"}, "serve": {"variant": "b"}},
        {
            "when": {"op": "in", "dim": "environment", "values": ["prod"]},
            "serve": {"split": {"unit": "workspace_id", "salt": "s1", "arms": [
                {"variant": "b", "weight": 50}, {"variant": "a", "weight": 50},
            ]}},
        },
    ]


@pytest.mark.parametrize(
    ("values", "type_"),
    [("false, true", "bool"), ("'a', 'b'", "string"), ("1, 2", "int"), ("1, 2.5", "float"),
     ("{a: 1}, [1]", "json")],
)
def test_experiment_type_follows_variant_values(values: str, type_: str) -> None:
    body = f"""local vs = [{values}];
      sf.experiment(variants=[sf.variant('v%d' % i, vs[i]) for i in [0, 1]], arms={{v0: 50, v1: 50}})
      {{ {FLAG}, default: vs[0] }}"""
    assert evaluate(body)["type"] == type_


def test_experiment_explicit_type() -> None:
    body = f"""sf.experiment(variants=[sf.variant('a', 1), sf.variant('b', 2)], arms={{a: 50, b: 50}}, type='float')
      {{ {FLAG}, default: 1 }}"""
    assert evaluate(body)["type"] == "float"


# --- override rules ----------------------------------------------------------

RULES = [
    ("sf.when(sf.always).serve(false)", {"when": {"op": "always"}, "serve": {"value": False}}),
    ("sf.when(sf.always).serve({a: [1]})", {"when": {"op": "always"}, "serve": {"value": {"a": [1]}}}),
    ("sf.when(sf.never).serveVariant('b')", {"when": {"op": "never"}, "serve": {"variant": "b"}}),
    ("sf.when(sf.always).serve(1).describe('why')",
     {"when": {"op": "always"}, "serve": {"value": 1}, "description": "why"}),
    ("sf.when(sf.always).describe('why').serveVariant('x')",
     {"when": {"op": "always"}, "serve": {"variant": "x"}, "description": "why"}),
    ("sf.when(sf.always).split(unit='user_id', arms={b: 50, a: 50})",
     {"when": {"op": "always"},
      "serve": {"split": {"unit": "user_id",
                          "arms": [{"variant": "a", "weight": 50}, {"variant": "b", "weight": 50}]}}}),
    ("sf.when(sf.always).split('user_id', [{variant: 'b', weight: 100}], salt='s')",
     {"when": {"op": "always"},
      "serve": {"split": {"unit": "user_id", "salt": "s", "arms": [{"variant": "b", "weight": 100}]}}}),
]


@pytest.mark.parametrize(("body", "expected"), RULES, ids=[r[0] for r in RULES])
def test_rule(body: str, expected: Any) -> None:
    assert evaluate(body) == expected


# --- rollouts ----------------------------------------------------------------

def stages(*percents: float) -> list[dict[str, Any]]:
    return [{"name": f"{p:g}%", "percent": p} for p in percents]


def test_standard_ramp() -> None:
    assert evaluate("sf.ramps.standard(unit='workspace_id', stage=2)") == {
        "template": "standard",
        "stages": stages(1, 5, 25, 50, 100),
        "stage": 2,
        "unit": "workspace_id",
    }


def test_cautious_ramp() -> None:
    assert evaluate("sf.ramps.cautious(unit='user_id', stage=0)") == {
        "template": "cautious",
        "stages": stages(0.1, 1, 5, 10, 25, 50, 100),
        "stage": 0,
        "unit": "user_id",
    }


def test_region_waves_are_cumulative() -> None:
    body = """sf.ramps.regionWaves(canary='us-west-2', waves=[['us-east-1'], ['eu-west-1', 'us-gov-west-1']],
                                  unit='workspace_id', stage=3)"""

    def scope(*regions: str) -> dict[str, Any]:
        return {"op": "in", "dim": "region", "values": list(regions)}

    assert evaluate(body) == {
        "template": "region_waves",
        "stages": [
            {"name": "canary", "percent": 100, "scope": scope("us-west-2")},
            {"name": "wave 1", "percent": 100, "scope": scope("us-west-2", "us-east-1")},
            {"name": "wave 2", "percent": 100, "scope": scope("us-west-2", "us-east-1", "eu-west-1", "us-gov-west-1")},
            {"name": "everywhere", "percent": 100},
        ],
        "stage": 3,
        "unit": "workspace_id",
    }


def test_region_waves_several_canaries_and_another_dimension() -> None:
    body = """sf.ramps.regionWaves(canary=['dev'], waves=[], unit='user_id', stage=1, dim='environment')"""
    assert evaluate(body)["stages"] == [
        {"name": "canary", "percent": 100, "scope": {"op": "in", "dim": "environment", "values": ["dev"]}},
        {"name": "everywhere", "percent": 100},
    ]


def test_custom_ramp_with_options() -> None:
    body = """sf.ramps.custom(
      stages=[sf.ramps.stage(100, name='dev', scope=sf.dim.environment.eq('dev'), notBefore='2026-01-01T00:00:00Z'),
              2.5, 100],
      unit='workspace_id', stage=1, salt='s', serve='on',
      schedule=[null, '2026-02-01T00:00:00Z'],
    )"""
    assert evaluate(body) == {
        "template": "custom",
        "stages": [
            {"name": "dev", "percent": 100, "scope": {"op": "in", "dim": "environment", "values": ["dev"]},
             "not_before": "2026-01-01T00:00:00Z"},
            {"name": "2.5%", "percent": 2.5, "not_before": "2026-02-01T00:00:00Z"},
            {"name": "100%", "percent": 100},
        ],
        "stage": 1,
        "unit": "workspace_id",
        "salt": "s",
        "serve": {"value": "on"},
    }


def test_ramp_serves_a_variant_or_false() -> None:
    assert evaluate("sf.ramps.standard(unit='u', stage=1, serveVariant='v3')")["serve"] == {"variant": "v3"}
    assert evaluate("sf.ramps.cautious(unit='u', stage=1, serve=false)")["serve"] == {"value": False}


def test_ramp_schedule_becomes_not_before() -> None:
    rollout = evaluate("sf.ramps.standard(unit='u', stage=0, schedule=['2026-03-01T09:00:00Z', null, 'x'])")
    assert [s.get("not_before") for s in rollout["stages"]] == ["2026-03-01T09:00:00Z", None, "x", None, None]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("sf.ramps.standard(unit='u', stage=6)",
         "sf.ramps.standard: stage must be a whole number from 0 (not started) to 5 (100%), got 6"),
        ("sf.ramps.standard(unit='u', stage=-1)", "sf.ramps.standard: stage must be a whole number from 0"),
        ("sf.ramps.standard(unit='u', stage=1.5)", "got 1.5"),
        ("sf.ramps.cautious(unit='u', stage=8)",
         "sf.ramps.cautious: stage must be a whole number from 0 (not started) to 7 (100%), got 8"),
        ("sf.ramps.regionWaves(canary='us-west-2', waves=[['us-east-1']], unit='u', stage=4)",
         "sf.ramps.regionWaves: stage must be a whole number from 0 (not started) to 3 (everywhere), got 4"),
        ("sf.ramps.custom(stages=[10, 100], unit='u', stage='2')", "to 2 (100%), got \"2\""),
        ("sf.ramps.standard(unit=null, stage=1)", "sf.ramps.standard: unit is the dimension to bucket on"),
        ("sf.ramps.standard(unit='u', stage=1, serve=true, serveVariant='on')",
         "give serve (a value) or serveVariant (a variant name), not both"),
        ("sf.ramps.standard(unit='u', stage=1, schedule=[null, null, null, null, null, null])",
         "schedule is a list of at most 5 planned start times"),
        ("sf.ramps.regionWaves(canary='us-west-2', waves=['us-east-1'], unit='u', stage=1)",
         "waves is a list of region lists"),
        ("sf.ramps.regionWaves(canary='us-west-2', waves=[['us-east-1'], ['us-west-2']], unit='u', stage=1)",
         "each region belongs to one wave only; repeated: us-west-2"),
        ("sf.ramps.custom(stages=[], unit='u', stage=0)", "stages is a non-empty list"),
        ("sf.ramps.custom(stages=[{percent: 5}], unit='u', stage=0)", "each stage is a percentage or sf.ramps.stage"),
    ],
)
def test_ramp_misuse(body: str, message: str) -> None:
    assert message in failure(body)


# --- prerequisites, requirements, suppressions -------------------------------

def test_prereq_requires_suppress() -> None:
    body = """{
      prerequisites: [sf.prereq('a.b'), sf.prereq('c.d', value='AB')],
      requires: [sf.requires(service='billing', minVersion='2.14.0')],
      suppress: [sf.suppress(code='SF401', reason='permanent switch')],
    }"""
    assert evaluate(body) == {
        "prerequisites": [{"flag": "a.b", "value": True}, {"flag": "c.d", "value": "AB"}],
        "requires": [{"service": "billing", "min_version": "2.14.0"}],
        "suppress": [{"code": "SF401", "reason": "permanent switch"}],
    }
