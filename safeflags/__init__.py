"""safeflags: feature flags and dynamic configuration as code.

`import safeflags` loads only the SDK (protobuf + mmh3): evaluating flags
never needs Jsonnet, git, pydantic or the command line.
"""
from __future__ import annotations

__version__ = "0.1.0"
