"""safeflags: feature flags and dynamic configuration as code.

A thin face: names are imported on first use, so `import safeflags` costs
nothing, and importing the compile side (`safeflags.compile`) never loads
the delivery client, the store or the server. Evaluating flags needs only
the SDK (protobuf + mmh3), never Jsonnet, git, pydantic or the command line.

    client = safeflags.Client.from_file("bundle.pb", static={"region": "us-east-1"})
    client.get_bool("billing.new_invoice_path", False, {"workspace_id": "ws-1"})

`Client` is the delivery client (an `Evaluator` that, given `store=` and
`channel=`, keeps itself current); `Evaluator` evaluates one snapshot.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from safeflags.version import __version__

if TYPE_CHECKING:
    from safeflags.delivery.client import Client
    from safeflags.sdk.details import (
        ErrorCode,
        EvaluationDetails,
        EvaluationError,
        Reason,
    )
    from safeflags.sdk.evaluator import ClientStatus, Evaluator
    from safeflags.sdk.kernel.errors import BundleError, SafeflagsError
    from safeflags.sdk.snapshot import Snapshot

_WHERE: dict[str, str] = {
    "Client": "safeflags.delivery.client",
    "Evaluator": "safeflags.sdk.evaluator",
    "ClientStatus": "safeflags.sdk.evaluator",
    "Snapshot": "safeflags.sdk.snapshot",
    "ErrorCode": "safeflags.sdk.details",
    "EvaluationDetails": "safeflags.sdk.details",
    "EvaluationError": "safeflags.sdk.details",
    "Reason": "safeflags.sdk.details",
    "BundleError": "safeflags.sdk.kernel.errors",
    "SafeflagsError": "safeflags.sdk.kernel.errors",
}

__all__ = [
    "BundleError",
    "Client",
    "ClientStatus",
    "ErrorCode",
    "EvaluationDetails",
    "EvaluationError",
    "Evaluator",
    "Reason",
    "SafeflagsError",
    "Snapshot",
    "__version__",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'safeflags' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value
