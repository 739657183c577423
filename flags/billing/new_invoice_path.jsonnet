local sf = import 'safeflags.libsonnet';

sf.bool {
  owner: 'team-billing',
  description: 'Route invoices through the new pipeline.',
  expires: '2027-03-01',
  tags: ['invoicing', 'compliance'],
  default: false,
  rollout: sf.ramps.standard(unit='workspace_id', stage=2),  // 1%, 5%, 25%, 50%, 100%
  overrides: [
    sf.when(sf.dim.region.in_(['us-gov-west-1'])).serve(false)
    .describe('The new pipeline is not FedRAMP-authorised yet.'),
    sf.when(sf.dim.workspace_id.in_(['ws-1234'])).serve(true)
    .describe('Design partner, opted in early.'),
  ],
  requires: [sf.requires(service='billing', minVersion='2.14.0')],
}
