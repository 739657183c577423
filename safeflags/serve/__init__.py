"""`safeflags serve`: the store over HTTP, with ETags and a push stream."""
from __future__ import annotations

from safeflags.serve.server import FlagServer, ServeError
from safeflags.serve.state import ServeState

__all__ = ["FlagServer", "ServeError", "ServeState"]
