local sf = import 'safeflags.libsonnet';

sf.int {
  owner: 'team-billing',
  description: 'Invoices sent per batch by the monthly invoice mailer.',
  tags: ['invoicing', 'tuning'],
  default: 500,
  bounds: sf.bounds(min=50, max=5000),
  overrides: [
    sf.when(sf.dim.environment.notIn(['prod'])).serve(50)
    .describe('Small batches outside prod keep the test inboxes readable.'),
    sf.when(sf.all([sf.dim.org_tier.eq('enterprise'), sf.dim.seats.gt(1000)])).serve(100)
    .describe('Very large customers throttle inbound mail; send them smaller batches.'),
  ],
}
