local sf = import 'safeflags.libsonnet';

// Each architecture gets the build tuned for its vector unit; anything else
// (a new instance family) falls back to the portable build.
sf.string {
  owner: 'team-platform',
  description: 'Native backend of the image resizer, chosen per CPU architecture.',
  tags: ['performance'],
  variants: [
    sf.variant('portable', 'libvips-generic', 'Portable build, no SIMD'),
    sf.variant('avx2', 'libvips-avx2', 'x86_64 build using AVX2'),
    sf.variant('neon', 'libvips-neon', 'arm64 (Graviton, Tau T2A) build using NEON'),
  ],
  default: 'libvips-generic',
  overrides: [
    sf.when(sf.dim.arch.eq('x86_64')).serveVariant('avx2'),
    sf.when(sf.dim.arch.eq('arm64')).serveVariant('neon'),
  ],
}
