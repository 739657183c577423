// safeflags: the template library for flag files.
//
//   local sf = import 'safeflags.libsonnet';
//   sf.bool {
//     owner: 'team-billing',
//     description: 'Route invoices through the new pipeline.',
//     default: false,
//     rollout: sf.ramps.standard(unit='workspace_id', stage=2),
//   }
//
// A flag file evaluates to one object of docs/flag-schema.md; docs/dsl.md is
// the reference of this library. Everything here is hidden (`::`), so only
// the fields a flag file sets reach the output.
local c = import 'conditions.libsonnet';
local ramps = import 'ramps.libsonnet';

// A flag base: its type and kind. `default` has no fallback on purpose: what a
// flag serves when nothing matches is a decision its author writes down. A
// missing one is left to the compiler, which reports it at the flag's line
// (an object assert here could only point into this library).
local flag(type, kind) = { type: type, kind: kind };

local variant(name, value, description=null) =
  { name: name, value: value, [if description != null then 'description']: description };

// The flag type of a list of variant values, for sf.experiment.
local typeOf(values) =
  local types = [std.type(v) for v in values];
  local all(type) = !std.member([t == type for t in types], false);
  if all('boolean') then 'bool'
  else if all('string') then 'string'
  else if all('number') then
    if !std.member([std.floor(v) == v for v in values], false) then 'int' else 'float'
  else 'json';

// What `arms` of a split accepts: {name: weight, ...} (listed by name) or an
// explicit list of {variant, weight} to keep an order of your choosing.
local armList(a) =
  if std.type(a) == 'object' then [{ variant: k, weight: a[k] } for k in std.objectFields(a)]
  else a;

// Descriptions for the canonical states of a two-system migration.
local migrationStates = {
  A: 'old system only',
  AB: 'write both, read the old system',
  BA: 'write both, read the new system',
  B: 'new system only',
};
local canonicalStates = ['A', 'AB', 'BA', 'B'];
local statesVariants(states) =
  [variant(s, s, std.get(migrationStates, s)) for s in states];
local canonicalVariants = statesVariants(canonicalStates);  // built once

{
  // The release this library came with (the compiler's: they ship in one
  // package). A vendored copy keeps it, so a report can say what it was
  // copied from; bump it only by copying a newer release.
  version:: '0.1.0',

  // --- flags --------------------------------------------------------------
  // Objects to extend: `sf.bool { owner: ..., description: ..., default: ... }`.
  flag:: {},  // no type or kind: set both yourself
  bool:: flag('bool', 'release'),
  string:: flag('string', 'config'),
  int:: flag('int', 'config'),
  float:: flag('float', 'config'),
  json:: flag('json', 'config'),

  // An operational switch that turns a feature off in an incident: flip
  // `default` to true (or add an override for one region) to kill.
  killSwitch:: flag('bool', 'operational') { default: false },

  // Variants served by a weighted split over `unit`, for requests matching
  // `when`. The type follows the variant values unless given. To pin some
  // requests to one arm first: `overrides: [pinRule] + super.overrides`.
  experiment(variants, arms, unit='user_id', when=c.always, salt=null, type=null)::
    local values = [v.value for v in variants];
    flag(if type != null then type else typeOf(values), 'experiment') {
      variants: variants,
      overrides: [$.when(when).split(unit, arms, salt)],
    },

  // A string flag whose variants are the ordered states of a migration; the
  // current state is the default (every request is in the same state).
  migration(states=canonicalStates, state)::
    assert std.member(states, state) :
           'sf.migration: state %s is not one of the states %s'
           % [std.manifestJsonMinified(state), std.manifestJsonMinified(states)];
    flag('string', 'migration') {
      variants: if states == canonicalStates then canonicalVariants else statesVariants(states),
      default: state,
    },

  variant(name, value, description=null):: variant(name, value, description),

  bounds(min=null, max=null)::
    { [if min != null then 'min']: min, [if max != null then 'max']: max },

  // --- conditions ---------------------------------------------------------
  // sf.dim.<name> exists for each dimension of safeflags.yaml, nothing else:
  // a misspelt dimension fails here, at the line that uses it.
  dim:: {
    [name]: c.dimension(name)
    for name in std.objectFields(std.extVar('safeflags_catalog').dimensions)
  },
  all(cs):: c.all(cs),
  any(cs):: c.any(cs),
  not(cond):: c.not(cond),
  always:: c.always,
  never:: c.never,
  flagIs(key, value=true):: c.flagIs(key, value),

  // --- override rules -----------------------------------------------------
  // sf.when(cond).serve(v) | .serveVariant(name) | .split(unit, arms, salt),
  // each optionally followed (or preceded) by .describe('why').
  when(cond)::
    assert c.isCondition(cond) :
           'sf.when takes a condition, e.g. sf.when(sf.dim.region.in_([...])), got %s'
           % std.manifestJsonMinified(cond);
    // `serve` is both the builder method and the output field: `:::` makes
    // the field visible where the method was hidden.
    {
      local rule = self,
      when: cond,
      serve(value):: rule { serve::: { value: value } },
      serveVariant(name):: rule { serve::: { variant: name } },
      split(unit, arms, salt=null)::
        rule {
          serve::: {
            split: { unit: unit, arms: armList(arms), [if salt != null then 'salt']: salt },
          },
        },
      describe(why):: rule { description: why },
    },

  // --- rollouts -----------------------------------------------------------
  ramps:: ramps,

  // --- requirements and hygiene -------------------------------------------
  prereq(key, value=true):: { flag: key, value: value },
  requires(service, minVersion):: { service: service, min_version: minVersion },
  suppress(code, reason):: { code: code, reason: reason },
}
