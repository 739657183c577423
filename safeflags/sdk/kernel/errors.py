"""The root exception, and the one the SDK raises when a bundle will not load."""
from __future__ import annotations


class SafeflagsError(Exception):
    """Root of every error safeflags raises on purpose."""


class BundleError(SafeflagsError):
    """A bundle could not be loaded: corrupt, truncated, wrong digest, newer format."""
