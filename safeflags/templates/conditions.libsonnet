// Conditions: the `when` of override rules and the `scope` of rollout stages.
//
// Each constructor returns exactly one condition object of docs/flag-schema.md.
// Users reach them through safeflags.libsonnet (`sf.dim.<name>.in_([...])`,
// `sf.all([...])`, ...). This file knows no catalog, so other libraries (the
// ramps) can build a condition on a dimension named by a string.
//
// Every flag runs this code: checks use the engine's native functions
// (`std.type(x) == 'object'` is what std.isObject does, one call fewer;
// std.objectHasEx(o, f, false) is std.objectHas; `!std.member(l, false)` is
// a native std.all), and an assert's message is built only when it fails.
local isCondition(c) = std.type(c) == 'object' && std.objectHasEx(c, 'op', false);

local membership(op, fn, dim, vs) =
  assert std.type(vs) == 'array' :
         'sf.dim.%s.%s takes a list of values: sf.dim.%s.%s([%s]), got %s'
         % [dim, fn, dim, fn, std.manifestJsonMinified(vs), std.manifestJsonMinified(vs)];
  { op: op, dim: dim, values: vs };

local combine(op, cs) =
  assert std.type(cs) == 'array' : 'sf.%s takes a list of conditions: sf.%s([a, b, ...])' % [op, op];
  assert !std.member([isCondition(c) for c in cs], false) :
         'sf.%s: every element must be a condition, e.g. sf.dim.region.in_([...])' % op;
  { op: op, of: cs };

local compare(op, dim, v) = { op: op, dim: dim, value: v };
local match(op, dim, s, ignoreCase) = { op: op, dim: dim, value: s, ignore_case: ignoreCase };
local percent(dim, p, salt) = { op: 'percent', dim: dim, percent: p, [if salt != null then 'salt']: salt };

{
  isCondition:: isCondition,

  always:: { op: 'always' },
  never:: { op: 'never' },

  // Set membership. `eq(v)` is `in` with one value: the contract has one
  // membership operator, so reviewers and validators see one shape.
  in_(dim, vs):: membership('in', 'in_', dim, vs),
  notIn(dim, vs):: membership('not_in', 'notIn', dim, vs),
  eq(dim, v):: { op: 'in', dim: dim, values: [v] },

  // lt, le, gt, ge. The dimension's declared type (int, float, semver,
  // timestamp) decides how the compiler compares, so a version or an instant
  // is written as a string: '2.14.0', '2024-01-01T00:00:00Z'.
  compare(op, dim, v):: compare(op, dim, v),

  // prefix, suffix, contains, regex (a search, Python/RE2 syntax).
  match(op, dim, s, ignoreCase=false):: match(op, dim, s, ignoreCase),

  present(dim):: { op: 'present', dim: dim },

  percent(dim, p, salt=null):: percent(dim, p, salt),

  all(cs):: combine('all', cs),
  any(cs):: combine('any', cs),
  not(c)::
    assert isCondition(c) : 'sf.not takes one condition, e.g. sf.not(sf.dim.is_internal.eq(true))';
    { op: 'not', of: [c] },

  flagIs(key, value=true):: { op: 'flag', flag: key, value: value },

  // The accessor behind `sf.dim.<name>`: every operator, bound to one
  // dimension (built once per dimension and evaluation, then shared).
  dimension(name):: {
    in_(vs):: membership('in', 'in_', name, vs),
    notIn(vs):: membership('not_in', 'notIn', name, vs),
    eq(v):: { op: 'in', dim: name, values: [v] },
    lt(v):: compare('lt', name, v),
    le(v):: compare('le', name, v),
    gt(v):: compare('gt', name, v),
    ge(v):: compare('ge', name, v),
    prefix(s, ignoreCase=false):: match('prefix', name, s, ignoreCase),
    suffix(s, ignoreCase=false):: match('suffix', name, s, ignoreCase),
    contains(s, ignoreCase=false):: match('contains', name, s, ignoreCase),
    regex(s, ignoreCase=false):: match('regex', name, s, ignoreCase),
    present():: { op: 'present', dim: name },
    percent(p, salt=null):: percent(name, p, salt),
  },
}
