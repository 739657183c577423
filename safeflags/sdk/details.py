"""What an evaluation returns: OpenFeature's reasons and error codes, the
immutable result callers see, and the small internal outcome every evaluator
(reference interpreter, specialised constant, generated fast path) produces.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from safeflags.sdk.kernel.errors import SafeflagsError


class Reason(StrEnum):
    """Why a value was served (OpenFeature resolution reasons)."""

    STATIC = "STATIC"
    TARGETING_MATCH = "TARGETING_MATCH"
    SPLIT = "SPLIT"
    DEFAULT = "DEFAULT"
    DISABLED = "DISABLED"
    ERROR = "ERROR"
    STALE = "STALE"


class ErrorCode(StrEnum):
    """Why the code default was served instead (OpenFeature error codes)."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    PARSE_ERROR = "PARSE_ERROR"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    GENERAL = "GENERAL"
    PROVIDER_NOT_READY = "PROVIDER_NOT_READY"


class Resolution(NamedTuple):
    """A flag's result before it becomes a Python value: which entry of the
    value table, why, and which rule (index into the flag's original rules;
    None for the fallback)."""

    value_index: int
    reason: Reason
    rule_index: int | None


@dataclass(frozen=True, slots=True)
class EvaluationDetails:
    """The full answer to one `details()` call. Never shared state: a JSON
    value is a fresh copy."""

    flag_key: str
    value: object
    variant: str | None = None
    reason: Reason = Reason.DEFAULT
    error_code: ErrorCode | None = None
    error_message: str | None = None
    rule_index: int | None = None


class EvaluationError(SafeflagsError):
    """Why one evaluation served the code default. Handed to `on_error` hooks;
    never raised to a caller of `get_*` or `details`."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class FlagError(SafeflagsError):
    """One flag of an otherwise good bundle is malformed (an index out of
    range, a value of the wrong type, a regex that does not compile). The
    flag alone serves code defaults with PARSE_ERROR; the rest keep working."""
