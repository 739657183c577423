local sf = import 'safeflags.libsonnet';

sf.int {
  owner: 'team-search',
  description: 'Terms kept from a query before the rest are dropped.',
  tags: ['query', 'tuning'],
  default: 32,
  bounds: sf.bounds(min=1, max=256),
  overrides: [
    sf.when(sf.any([
      sf.dim.org_tier.eq('enterprise'),
      sf.dim.email.contains('+searchlab', ignoreCase=true),
    ])).serve(128),
  ],
}
