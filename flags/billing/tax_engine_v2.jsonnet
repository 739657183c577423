local sf = import 'safeflags.libsonnet';

// At 100 % since mid-September: remove the flag and the v1 code path.
sf.bool {
  owner: 'team-billing',
  description: 'Compute sales tax with the v2 engine (per-line jurisdiction lookup).',
  expires: '2026-12-15',
  fully_rolled_out_since: '2026-09-15',
  tags: ['tax', 'cleanup'],
  default: false,
  rollout: sf.ramps.standard(unit='workspace_id', stage=5),
}
