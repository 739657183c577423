local sf = import 'safeflags.libsonnet';

sf.bool {
  owner: 'team-mobile',
  co_owners: ['team-checkout'],
  description: 'Show Apple Pay / Google Pay express buttons in the mobile cart.',
  expires: '2027-02-01',
  default: false,
  overrides: [
    // 5.2.0 is the first app build that can render the express sheet.
    sf.when(sf.dim.app_version.lt('5.2.0')).serve(false)
    .describe('Older apps crash on the express sheet.'),
    sf.when(sf.dim.client.eq('web')).serve(false)
    .describe('Mobile only; web has its own flag.'),
  ],
  // Payments: a slow ramp, 0.1% -> 1% -> 5% -> 10% -> 25% -> 50% -> 100%.
  rollout: sf.ramps.cautious(unit='user_id', stage=3),
}
