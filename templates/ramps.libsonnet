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
local c = import 'conditions.libsonnet';

local stage(percent, name=null, scope=null, notBefore=null) =
  assert std.isNumber(percent) :
         'sf.ramps.stage: percent must be a number, got %s' % std.manifestJsonMinified(percent);
  {
    name: if name != null then name else std.manifestJsonMinified(percent) + '%',
    percent: percent,
  }
  + (if scope != null then { scope: scope } else {})
  + (if notBefore != null then { not_before: notBefore } else {});

local isStage(s) = std.isObject(s) && std.objectHas(s, 'percent') && std.objectHas(s, 'name');

local build(fn, template, stages, unit, current, salt, serve, serveVariant, schedule) =
  local n = std.length(stages);
  local at(i) = if schedule != null && i < std.length(schedule) then schedule[i] else null;
  assert std.isString(unit) :
         '%s: unit is the dimension to bucket on, e.g. unit=\'workspace_id\'' % fn;
  assert std.isNumber(current) && std.floor(current) == current && current >= 0 && current <= n :
         '%s: stage must be a whole number from 0 (not started) to %d (%s), got %s'
         % [fn, n, stages[n - 1].name, std.manifestJsonMinified(current)];
  assert schedule == null || (std.isArray(schedule) && std.length(schedule) <= n) :
         '%s: schedule is a list of at most %d planned start times, one per stage (null to skip one)'
         % [fn, n];
  assert serve == null || serveVariant == null :
         '%s: give serve (a value) or serveVariant (a variant name), not both' % fn;
  {
    template: template,
    stages: [
      stages[i] + (if at(i) != null then { not_before: at(i) } else {})
      for i in std.range(0, n - 1)
    ],
    stage: current,
    unit: unit,
  }
  + (if salt != null then { salt: salt } else {})
  + (if serve != null then { serve: { value: serve } } else {})
  + (if serveVariant != null then { serve: { variant: serveVariant } } else {});

local percents(ps) = [stage(p) for p in ps];

{
  // One stage for `custom`: a percentage, optionally named, scoped and scheduled.
  stage(percent, name=null, scope=null, notBefore=null):: stage(percent, name, scope, notBefore),

  // 1 -> 5 -> 25 -> 50 -> 100 %
  standard(unit, stage, salt=null, serve=null, serveVariant=null, schedule=null)::
    build('sf.ramps.standard', 'standard', percents([1, 5, 25, 50, 100]),
          unit, stage, salt, serve, serveVariant, schedule),

  // 0.1 -> 1 -> 5 -> 10 -> 25 -> 50 -> 100 %
  cautious(unit, stage, salt=null, serve=null, serveVariant=null, schedule=null)::
    build('sf.ramps.cautious', 'cautious', percents([0.1, 1, 5, 10, 25, 50, 100]),
          unit, stage, salt, serve, serveVariant, schedule),

  // Region by region: stage 1 is the canary region(s) at 100 %, each wave adds
  // its regions to the ones before (scopes are cumulative), and a last stage
  // with no scope covers everywhere, including regions no wave names.
  regionWaves(canary, waves, unit, stage, salt=null, serve=null, serveVariant=null, schedule=null, dim='region')::
    local fn = 'sf.ramps.regionWaves';
    local first = if std.isArray(canary) then canary else [canary];
    local named = first + std.flattenArrays(waves);
    local twice = [r for r in std.set(named) if std.count(named, r) > 1];
    assert std.isArray(waves) && std.all([std.isArray(w) && std.length(w) > 0 for w in waves]) :
           "%s: waves is a list of region lists, e.g. [['us-east-1'], ['eu-west-1', 'eu-central-1']]" % fn;
    assert std.length(twice) == 0 :
           '%s: each region belongs to one wave only; repeated: %s' % [fn, std.join(', ', twice)];
    local upTo(k) = first + std.flattenArrays(waves[0:k]);
    build(fn, 'region_waves',
          [$.stage(100, 'canary', c.in_(dim, first))]
          + [$.stage(100, 'wave %d' % k, c.in_(dim, upTo(k))) for k in std.range(1, std.length(waves))]
          + [$.stage(100, 'everywhere')],
          unit, stage, salt, serve, serveVariant, schedule),

  // Any sequence: each stage a percentage or sf.ramps.stage(percent, name, scope, notBefore).
  custom(stages, unit, stage, salt=null, serve=null, serveVariant=null, schedule=null)::
    local fn = 'sf.ramps.custom';
    local all = [if std.isNumber(s) then $.stage(s) else s for s in stages];
    assert std.isArray(stages) && std.length(stages) > 0 :
           '%s: stages is a non-empty list, e.g. stages=[1, 10, 100]' % fn;
    assert std.all([isStage(s) for s in all]) :
           '%s: each stage is a percentage or sf.ramps.stage(percent, name=..., scope=...)' % fn;
    build(fn, 'custom', all, unit, stage, salt, serve, serveVariant, schedule),
}
