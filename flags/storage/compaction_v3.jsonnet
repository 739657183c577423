local sf = import 'safeflags.libsonnet';

sf.string {
  owner: 'team-storage',
  kind: 'release',
  description: 'Compaction strategy of the chunk store: v3 merges cold chunks by age.',
  expires: '2027-02-28',
  tags: ['compaction'],
  variants: [
    sf.variant('v2', 'size-tiered'),
    sf.variant('v3', 'age-tiered'),
  ],
  default: 'size-tiered',
  overrides: [
    sf.when(sf.dim.environment.eq('staging')).serveVariant('v3')
    .describe('Staging runs v3 ahead of prod.'),
  ],
  // A pilot in one region, then prod by workspace. Each stage waits for a
  // full compaction cycle (a week). The pilot's 5 % lies inside the next
  // stage's 10 %, so no workspace flips back.
  rollout: sf.ramps.custom(
    stages=[
      sf.ramps.stage(5, name='pilot us-west-2', scope=sf.dim.region.eq('us-west-2')),
      10,
      25,
      50,
      100,
    ],
    unit='workspace_id',
    stage=2,
    serveVariant='v3',
    schedule=['2026-10-27T09:00:00Z', '2026-11-03T09:00:00Z', '2026-11-10T09:00:00Z', '2026-11-17T09:00:00Z'],
  ),
  requires: [sf.requires(service='chunkstore', minVersion='3.0.0')],
}
