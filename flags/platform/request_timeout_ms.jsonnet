local sf = import 'safeflags.libsonnet';

sf.int {
  owner: 'team-platform',
  description: 'Upstream request timeout of the API gateway, in milliseconds.',
  tags: ['gateway', 'tuning'],
  default: 2000,
  bounds: sf.bounds(min=100, max=30000),
  overrides: [
    sf.when(sf.dim.environment.eq('dev')).serve(10000)
    .describe('Debuggers attached in dev need slack.'),
    sf.when(sf.dim.service.eq('search-api')).serve(5000)
    .describe('Faceted queries on large workspaces take up to 4 s at p99.'),
  ],
}
