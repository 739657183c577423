local sf = import 'safeflags.libsonnet';

sf.float {
  owner: 'team-platform',
  description: 'Sustained API requests per second allowed per workspace.',
  tags: ['gateway', 'rate-limit'],
  default: 12.5,
  bounds: sf.bounds(min=0.5, max=1000),
  overrides: [
    sf.when(sf.not(sf.dim.workspace_id.present())).serve(2.5)
    .describe('Anonymous traffic gets the lowest limit.'),
    sf.when(sf.dim.org_tier.eq('enterprise')).serve(250.5),
    sf.when(sf.dim.org_tier.eq('pro')).serve(60.5),
  ],
}
