"""Pre-merge validation: pluggable validators over the compiled repository
and, in pull-request mode, over the changes against the base revision.

The plugin API (what a third-party or team validator imports):

    from safeflags.validation import FlagValidator, Finding, Severity

    class PaymentsNeedTwoOwners(FlagValidator):
        '''...docstring: what it catches, why, how to fix, example...'''
        code = "PAY001"
        name = "payments-two-owners"
        def check_flag(self, flag, ctx):
            ...
            yield self.at(flag, "message", line)
"""
from __future__ import annotations

from safeflags.validation.api import (
    Change,
    ChangeValidator,
    Context,
    FlagValidator,
    PullRequest,
    Validator,
)
from safeflags.validation.finding import Finding, Severity, Suppression

__all__ = [
    "Change", "ChangeValidator", "Context", "Finding", "FlagValidator", "PullRequest", "Severity",
    "Suppression", "Validator",
]
