local sf = import 'safeflags.libsonnet';

sf.experiment(
  variants=[
    sf.variant('control', 'Place order'),
    sf.variant('pay_now', 'Pay now'),
    sf.variant('complete_purchase', 'Complete purchase'),
  ],
  // A list keeps the arms in this order (an object would list them by name).
  arms=[
    { variant: 'control', weight: 80 },
    { variant: 'pay_now', weight: 10 },
    { variant: 'complete_purchase', weight: 10 },
  ],
  unit='user_id',
  salt='cta-copy-2026q4',
) {
  owner: 'team-growth',
  description: 'Wording of the final checkout button.',
  expires: '2026-12-31',
  tags: ['experiment', 'copy'],
  default: 'Place order',
}
