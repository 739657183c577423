local sf = import 'safeflags.libsonnet';

// Switched off as a whole on 2026-10-28 (INC-2291: reranker latency doubled
// p99 of search-api). Everyone gets `default` until the fix ships; the ramp
// keeps its stage so re-enabling resumes where it was.
sf.bool {
  owner: 'team-search',
  description: 'Rerank the top 50 keyword results with the semantic model.',
  expires: '2027-06-30',
  tags: ['ranking', 'ml'],
  enabled: false,
  default: false,
  rollout: sf.ramps.standard(unit='workspace_id', stage=4, salt='semantic-reranker'),
  overrides: [
    sf.when(sf.dim.workspace_id.prefix('ws-test-')).serve(true)
    .describe('Search relevance test workspaces.'),
  ],
}
