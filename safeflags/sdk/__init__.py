"""The in-process SDK: load a compiled bundle, evaluate flags, never raise.

Stages, each usable on its own: `interpret` (the reference semantics),
`simplify` (the optimiser), `partial` (static pre-evaluation), `codegen`
(fast callables), `snapshot` (a loaded bundle), `evaluator` (the service API).
`kernel` holds what the compiler shares with it (bucketing, semver,
timestamps, the root errors).

Names are resolved on first use, so `import safeflags.sdk.kernel.bucketing`
(as the compiler does) loads no evaluation module.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from safeflags.sdk.details import (
        ErrorCode,
        EvaluationDetails,
        EvaluationError,
        Reason,
    )
    from safeflags.sdk.evaluator import ClientStatus, Evaluator
    from safeflags.sdk.snapshot import FORMAT_VERSION, Snapshot

_WHERE: dict[str, str] = {
    "FORMAT_VERSION": "safeflags.sdk.snapshot",
    "Snapshot": "safeflags.sdk.snapshot",
    "Evaluator": "safeflags.sdk.evaluator",
    "ClientStatus": "safeflags.sdk.evaluator",
    "ErrorCode": "safeflags.sdk.details",
    "EvaluationDetails": "safeflags.sdk.details",
    "EvaluationError": "safeflags.sdk.details",
    "Reason": "safeflags.sdk.details",
}

__all__ = [
    "FORMAT_VERSION",
    "ClientStatus",
    "ErrorCode",
    "EvaluationDetails",
    "EvaluationError",
    "Evaluator",
    "Reason",
    "Snapshot",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'safeflags.sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value
