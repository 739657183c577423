local sf = import 'safeflags.libsonnet';

// Compliance: card data from the GovCloud region may only go to the
// FedRAMP-authorised processor. Not a rollout, so no expiry.
sf.string {
  owner: 'team-billing',
  co_owners: ['team-security'],
  description: 'Card payment processor used to charge invoices.',
  tags: ['compliance', 'payments'],
  variants: [
    sf.variant('stripe', 'stripe', 'Default processor'),
    sf.variant('fedpay', 'fedpay', 'FedRAMP Moderate authorised processor'),
  ],
  default: 'stripe',
  overrides: [
    sf.when(sf.dim.region.in_(['us-gov-west-1'])).serveVariant('fedpay')
    .describe('FedRAMP: GovCloud traffic must not leave the authorised boundary.'),
  ],
}
