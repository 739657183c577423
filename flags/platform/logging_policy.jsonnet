local sf = import 'safeflags.libsonnet';

local policy(level, sampleRate) = {
  level: level,
  sample_rate: sampleRate,
  redact: ['email', 'card_number', 'iban'],
};

sf.json {
  owner: 'team-platform',
  co_owners: ['team-security'],
  description: 'Structured logging policy: level, sampling of debug lines, redacted fields.',
  tags: ['observability'],
  schema: {
    type: 'object',
    required: ['level', 'sample_rate', 'redact'],
    additionalProperties: false,
    properties: {
      level: { enum: ['debug', 'info', 'warning', 'error'] },
      sample_rate: { type: 'number', minimum: 0, maximum: 1 },
      redact: { type: 'array', items: { type: 'string' }, contains: { const: 'card_number' } },
    },
  },
  default: policy('info', 0.01),
  overrides: [
    sf.when(sf.dim.environment.in_(['dev', 'staging'])).serve(policy('debug', 1)),
    sf.when(sf.dim.service.regex('^(billing|payments)(-|$)')).serve(policy('warning', 0))
    .describe('PCI scope: payment services log warnings and errors only.'),
  ],
}
