"""safeflags: feature flags and dynamic configuration as code.

`import safeflags` loads only the SDK (protobuf + mmh3): evaluating flags
never needs Jsonnet, git, pydantic or the command line.

    client = safeflags.Client.from_file("bundle.pb", static={"region": "us-east-1"})
    client.get_bool("billing.new_invoice_path", False, {"workspace_id": "ws-1"})
"""
from __future__ import annotations

__version__ = "0.1.0"

from safeflags.delivery import Client  # the SDK client; with store=/channel= it also keeps itself current
from safeflags.errors import BundleError, SafeflagsError
from safeflags.sdk import (
    ClientStatus,
    ErrorCode,
    EvaluationDetails,
    EvaluationError,
    Reason,
    Snapshot,
)

__all__ = [
    "BundleError",
    "Client",
    "ClientStatus",
    "ErrorCode",
    "EvaluationDetails",
    "EvaluationError",
    "Reason",
    "SafeflagsError",
    "Snapshot",
    "__version__",
]
