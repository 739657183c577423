"""The kernel both sides share: bucketing, semver, timestamp and regex semantics
and the root exceptions. Pure standard library (mmh3 for hashing, RE2 for
regexes); the SDK owns it and the compiler imports it, never the other way round."""
