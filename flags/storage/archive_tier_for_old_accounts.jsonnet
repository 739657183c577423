local sf = import 'safeflags.libsonnet';

sf.bool {
  owner: 'team-storage',
  description: 'Move attachments untouched for a year to the archive tier.',
  expires: '2027-01-31',
  tags: ['cost'],
  default: false,
  overrides: [
    sf.when(sf.all([
      sf.dim.account_created_at.lt('2023-01-01T00:00:00Z'),
      sf.not(sf.dim.org_tier.eq('enterprise')),
    ])).serve(true)
    .describe('Accounts older than the retention contract change; enterprise contracts exclude archiving.'),
  ],
}
