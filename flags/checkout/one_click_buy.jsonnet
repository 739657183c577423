local sf = import 'safeflags.libsonnet';

sf.experiment(
  variants=[
    sf.variant('control', false, 'Current three-step checkout'),
    sf.variant('treatment', true, 'One-click buy for saved cards'),
  ],
  arms={ control: 50, treatment: 50 },
  unit='user_id',
  when=sf.dim.country.in_(['US', 'CA']),
) {
  owner: 'team-growth',
  co_owners: ['team-checkout'],
  description: 'Does one-click buy raise checkout conversion for returning buyers?',
  expires: '2027-01-15',
  tags: ['experiment', 'conversion'],
  default: false,
  // Employees always see the new flow, ahead of the split.
  overrides: [
    sf.when(sf.dim.email.suffix('@safeflags.dev', ignoreCase=true)).serveVariant('treatment')
    .describe('Internal users dogfood the treatment.'),
  ] + super.overrides,
}
