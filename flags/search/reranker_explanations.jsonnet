local sf = import 'safeflags.libsonnet';

sf.bool {
  owner: 'team-search',
  description: 'Show "why this result" explanations produced by the semantic reranker.',
  expires: '2027-06-30',
  tags: ['ranking', 'ui'],
  default: false,
  // Explanations only exist where the reranker runs.
  prerequisites: [sf.prereq('search.semantic_reranker')],
  overrides: [
    sf.when(sf.dim.is_internal.eq(true)).serve(true),
  ],
  rollout: sf.ramps.standard(unit='workspace_id', stage=1),
}
