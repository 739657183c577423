"""The in-process SDK: load a compiled bundle, evaluate flags, never raise.

Stages, each usable on its own: `interpret` (the reference semantics),
`simplify` (the optimiser), `partial` (static pre-evaluation), `codegen`
(fast callables), `snapshot` (a loaded bundle), `client` (the service API).
"""
from __future__ import annotations

from safeflags.sdk.client import Client, ClientStatus
from safeflags.sdk.details import ErrorCode, EvaluationDetails, EvaluationError, Reason
from safeflags.sdk.snapshot import FORMAT_VERSION, Snapshot

__all__ = [
    "FORMAT_VERSION",
    "Client",
    "ClientStatus",
    "ErrorCode",
    "EvaluationDetails",
    "EvaluationError",
    "Reason",
    "Snapshot",
]
