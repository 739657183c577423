local sf = import 'safeflags.libsonnet';

sf.bool {
  owner: 'team-search',
  description: 'Boost results from collections the user opened recently.',
  expires: '2027-05-01',
  tags: ['ranking', 'beta'],
  default: false,
  overrides: [
    sf.when(sf.all([
      sf.flagIs('search.semantic_reranker', true),
      sf.dim.org_tier.in_(['pro', 'enterprise']),
    ])).serve(true)
    .describe('Personalisation reuses the reranker embeddings.'),
    sf.when(sf.all([
      sf.dim.beta_opt_in.eq(true),
      sf.dim.user_id.percent(50, salt='search-beta-2026'),
    ])).serve(true)
    .describe('Half of the beta programme, shared bucket across search betas.'),
  ],
}
