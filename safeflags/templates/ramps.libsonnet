// Staged rollouts: `sf.ramps.<template>(...)` returns the `rollout` object of
// docs/flag-schema.md. Moving a flag forward is a one-number change (`stage`),
// which is what `safeflags ramp` edits and what reviewers read in a diff.
//
// Every template takes the same tail of options:
//   unit          dimension hashed into the bucket (required), e.g. 'workspace_id'
//   stage         1-based current stage; 0 = not started
//   salt          bucketing salt; the compiler defaults it to the flag key
//   serve         value served inside the rollout (non-bool flags; bool serves true)
//   serveVariant  or: the name of the variant served inside the rollout
//   schedule      planned start of each stage, a list aligned with the stages
//                 (ISO timestamps, null for an unplanned stage) -> `not_before`
//   bake          minimum time after the previous stage reached the services
//                 before a stage may start ('30m', '24h', '7d'): one duration
//                 for every stage, or a list aligned with the stages (null to
//                 skip one) -> `bake`; `safeflags schedule --bake` otherwise
//
// Every flag of a repository runs this code, so it is written for the engine
// as much as for the reader (benchmarks/templates.py measures it): constant
// stage lists are file-level locals (built once per evaluation, not per flag);
// optional fields are `[if cond then 'name']: value` rather than `+ {...}`;
// no `%` formatting (std.format is interpreted Jsonnet, ~0.3 ms a call), no
// std.all/std.set/std.count/slices outside failure messages (interpreted
// too); `!std.member(list, false)` is the native form of std.all, and
// `std.type(x) == 'number'` is what std.isNumber(x) runs, without the call.
// An assert's message is evaluated only when the assert fails.
local c = import 'conditions.libsonnet';

local mkStage(percent, name=null, scope=null, notBefore=null, bake=null) =
  assert std.type(percent) == 'number' :
         'sf.ramps.stage: percent must be a number, got %s' % std.manifestJsonMinified(percent);
  {
    // std.manifestJsonEx(x, '', '', ':') is what std.manifestJsonMinified(x) calls.
    name: if name != null then name else std.manifestJsonEx(percent, '', '', ':') + '%',
    percent: percent,
    [if scope != null then 'scope']: scope,
    [if notBefore != null then 'not_before']: notBefore,
    [if bake != null then 'bake']: bake,
  };

local isStage(s) =
  std.type(s) == 'object' && std.objectHasEx(s, 'percent', false) && std.objectHasEx(s, 'name', false);

// The fixed templates' stages, built once.
local standardStages = [mkStage(p) for p in [1, 5, 25, 50, 100]];
local cautiousStages = [mkStage(p) for p in [0.1, 1, 5, 10, 25, 50, 100]];

local build(fn, template, stages, unit, current, salt, serve, serveVariant, schedule, bake) =
  local n = std.length(stages);
  assert std.type(unit) == 'string' :
         '%s: unit is the dimension to bucket on, e.g. unit=\'workspace_id\'' % fn;
  assert std.type(current) == 'number' && std.floor(current) == current && current >= 0 && current <= n :
         '%s: stage must be a whole number from 0 (not started) to %d (%s), got %s'
         % [fn, n, stages[n - 1].name, std.manifestJsonMinified(current)];
  assert schedule == null || (std.type(schedule) == 'array' && std.length(schedule) <= n) :
         '%s: schedule is a list of at most %d planned start times, one per stage (null to skip one)'
         % [fn, n];
  assert bake == null || std.type(bake) == 'string' || (std.type(bake) == 'array' && std.length(bake) <= n) :
         '%s: bake is one duration for every stage, or a list of at most %d, one per stage (null to skip one)'
         % [fn, n];
  assert serve == null || serveVariant == null :
         '%s: give serve (a value) or serveVariant (a variant name), not both' % fn;
  {
    template: template,
    stages:
      if schedule == null && bake == null then stages
      else
        local m = if schedule == null then 0 else std.length(schedule);
        local all = std.type(bake) == 'string';
        local b = if bake == null || all then 0 else std.length(bake);
        [
          local nb = if i < m then schedule[i] else null;
          local bk = if all then bake else if i < b then bake[i] else null;
          if nb == null && bk == null then stages[i]
          else stages[i] { [if nb != null then 'not_before']: nb, [if bk != null then 'bake']: bk }
          for i in std.range(0, n - 1)
        ],
    stage: current,
    unit: unit,
    [if salt != null then 'salt']: salt,
    [if serve != null || serveVariant != null then 'serve']:
      if serve != null then { value: serve } else { variant: serveVariant },
  };

{
  // One stage for `custom`: a percentage, optionally named, scoped and scheduled.
  stage(percent, name=null, scope=null, notBefore=null, bake=null):: mkStage(percent, name, scope, notBefore, bake),

  // 1 -> 5 -> 25 -> 50 -> 100 %
  standard(unit, stage, salt=null, serve=null, serveVariant=null, schedule=null, bake=null)::
    build('sf.ramps.standard', 'standard', standardStages,
          unit, stage, salt, serve, serveVariant, schedule, bake),

  // 0.1 -> 1 -> 5 -> 10 -> 25 -> 50 -> 100 %
  cautious(unit, stage, salt=null, serve=null, serveVariant=null, schedule=null, bake=null)::
    build('sf.ramps.cautious', 'cautious', cautiousStages,
          unit, stage, salt, serve, serveVariant, schedule, bake),

  // Region by region: stage 1 is the canary region(s) at 100 %, each wave adds
  // its regions to the ones before (scopes are cumulative), and a last stage
  // with no scope covers everywhere, including regions no wave names.
  regionWaves(canary, waves, unit, stage, salt=null, serve=null, serveVariant=null, schedule=null, bake=null,
              dim='region')::
    local fn = 'sf.ramps.regionWaves';
    local first = if std.type(canary) == 'array' then canary else [canary];
    local named = first + std.flattenArrays(waves);
    local sorted = std.sort(named);
    assert std.type(waves) == 'array'
           && !std.member([std.type(w) == 'array' && std.length(w) > 0 for w in waves], false) :
           "%s: waves is a list of region lists, e.g. [['us-east-1'], ['eu-west-1', 'eu-central-1']]" % fn;
    assert !std.member([sorted[i] == sorted[i + 1] for i in std.range(0, std.length(sorted) - 2)], true) :
           '%s: each region belongs to one wave only; repeated: %s'
           % [fn, std.join(', ', [r for r in std.set(named) if std.count(named, r) > 1])];
    // regions[k]: the canary and waves 1..k (first + waves[0] + ... + waves[k-1]).
    local regions = std.foldl(function(acc, w) acc + [acc[std.length(acc) - 1] + w], waves, [first]);
    build(fn, 'region_waves',
          [{ name: 'canary', percent: 100, scope: c.in_(dim, first) }]
          + [
            { name: 'wave ' + k, percent: 100, scope: c.in_(dim, regions[k]) }
            for k in std.range(1, std.length(waves))
          ]
          + [{ name: 'everywhere', percent: 100 }],
          unit, stage, salt, serve, serveVariant, schedule, bake),

  // Any sequence: each stage a percentage or sf.ramps.stage(percent, name, scope, notBefore, bake).
  custom(stages, unit, stage, salt=null, serve=null, serveVariant=null, schedule=null, bake=null)::
    local fn = 'sf.ramps.custom';
    local all = [if std.type(s) == 'number' then mkStage(s) else s for s in stages];
    assert std.type(stages) == 'array' && std.length(stages) > 0 :
           '%s: stages is a non-empty list, e.g. stages=[1, 10, 100]' % fn;
    assert !std.member([isStage(s) for s in all], false) :
           '%s: each stage is a percentage or sf.ramps.stage(percent, name=..., scope=...)' % fn;
    build(fn, 'custom', all, unit, stage, salt, serve, serveVariant, schedule, bake),
}
