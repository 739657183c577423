local sf = import 'safeflags.libsonnet';

sf.bool {
  owner: 'team-platform',
  description: 'Serve static API responses from the v2 edge cache.',
  expires: '2027-04-30',
  tags: ['edge', 'performance'],
  default: false,
  // us-west-2 first, then the other US regions, then Europe and Asia-Pacific;
  // the last stage turns it on everywhere, GCP included.
  rollout: sf.ramps.regionWaves(
    canary='us-west-2',
    waves=[
      ['us-east-1', 'us-east-2', 'ca-central-1'],
      ['eu-west-1', 'eu-central-1', 'ap-northeast-1', 'ap-southeast-2'],
    ],
    unit='workspace_id',
    stage=2,
    schedule=['2026-11-02T16:00:00Z', '2026-11-09T16:00:00Z', '2026-11-16T16:00:00Z', '2026-11-23T16:00:00Z'],
  ),
  overrides: [
    sf.when(sf.dim.region.eq('us-gov-west-1')).serve(false)
    .describe('The v2 cache is not deployed in GovCloud.'),
  ],
}
