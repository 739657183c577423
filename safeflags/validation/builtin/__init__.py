"""The built-in validators. They register through the `safeflags.validators`
entry-point group exactly like third-party ones (see pyproject.toml)."""
