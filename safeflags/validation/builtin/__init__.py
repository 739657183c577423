"""The built-in validators, loaded in code by the registry.

They are not registered through the `safeflags.validators` entry points: a
vendored copy, a checkout on PYTHONPATH or a frozen build has no package
metadata, and a gate whose checks vanish with its metadata passes anything.
Entry points are for third-party validators only. A new built-in is added
here; the registry checks it like any other (code, name, docstring).
"""
from __future__ import annotations

from safeflags.validation.api import Validator
from safeflags.validation.builtin.budget import PrBudget
from safeflags.validation.builtin.compile_errors import (
    InvalidLiteral,
    JsonnetError,
    KeyMismatch,
    SchemaError,
    SplitWeights,
    TypeMismatch,
    UndeclaredDimension,
    UnknownEnumValue,
)
from safeflags.validation.builtin.config_step import ConfigStep
from safeflags.validation.builtin.experiment import ExperimentReassignment
from safeflags.validation.builtin.hygiene import Expiry, MissingDescription, StaleRollout, UnknownOwner
from safeflags.validation.builtin.protected import ProtectedScopes
from safeflags.validation.builtin.rebucket import Rebucketing
from safeflags.validation.builtin.removal import ChecksChanged, RemovedBeforeTerminal, RemovedFlagReferenced
from safeflags.validation.builtin.rollout import (
    BlastRadius,
    KillSwitch,
    MigrationJump,
    SkippedStage,
    VersionNotDeployed,
)
from safeflags.validation.builtin.targeting import ImpossibleCondition, Prerequisites, UnreachableRule
from safeflags.validation.builtin.typechange import TypeChanged
from safeflags.validation.builtin.values import JsonSchemaViolation, OutOfBounds

BUILTIN: tuple[type[Validator], ...] = (
    JsonnetError,
    SchemaError,
    TypeMismatch,
    UndeclaredDimension,
    UnknownEnumValue,
    KeyMismatch,
    OutOfBounds,
    JsonSchemaViolation,
    InvalidLiteral,
    UnreachableRule,
    ImpossibleCondition,
    Prerequisites,
    SplitWeights,
    SkippedStage,
    BlastRadius,
    VersionNotDeployed,
    MigrationJump,
    KillSwitch,
    RemovedFlagReferenced,
    RemovedBeforeTerminal,
    ChecksChanged,
    Rebucketing,
    TypeChanged,
    ProtectedScopes,
    PrBudget,
    ConfigStep,
    ExperimentReassignment,
    Expiry,
    UnknownOwner,
    MissingDescription,
    StaleRollout,
)

__all__ = ["BUILTIN"]
