local sf = import 'safeflags.libsonnet';

// Moving attachment blobs from the legacy NFS cluster (A) to object storage (B).
// A -> AB (dual write, read old) -> BA (dual write, read new) -> B.
// Advance one state at a time, after the consistency checker is green for a week.
sf.migration(states=['A', 'AB', 'BA', 'B'], state='AB') {
  owner: 'team-storage',
  description: 'Attachment blob store migration from NFS to object storage.',
  expires: '2027-03-31',
  tags: ['migration'],
  requires: [sf.requires(service='attachments', minVersion='4.2.0')],
}
