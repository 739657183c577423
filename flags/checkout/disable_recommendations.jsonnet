local sf = import 'safeflags.libsonnet';

// Flip `default` to true to stop calling the recommendation service from
// checkout (the page renders without the "you may also like" row).
sf.killSwitch {
  owner: 'team-checkout',
  description: 'Kill switch: skip product recommendations on the checkout page.',
  tags: ['kill-switch', 'incident'],
}
