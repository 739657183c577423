"""The kernel both sides share: bucketing, semver and timestamp semantics and
the root exceptions. Pure standard library (mmh3 for hashing); the SDK owns it
and the compiler imports it, never the other way round."""
