"""The one place the versions are written; the package metadata reads `__version__` from here."""
__version__ = "0.1.0"
# The template library (safeflags/templates/) ships in the same package and is
# released with the compiler, so it carries the same version; safeflags.libsonnet
# declares it as `sf.version` (a test holds the two equal), which is how a
# repository's vendored copy still says which release it was copied from.
TEMPLATES_VERSION = __version__
