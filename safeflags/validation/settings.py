"""The `validation:` section of safeflags.yaml, checked strictly.

    validation:
      local_validators: [validators/payments.py]   # this repository's own
      rules:
        SF401: {enabled: false}                      # switch a code off
        SF404: {severity: error, max_days: 14}       # re-grade, set options
        SF302: {paths: ["flags/billing/**"]}         # only for these files
      approvers:                                     # who approves, by name
        security: {users: [ana], github_team: acme/team-security}

Each rule entry takes `enabled`, `severity` and `paths` (glob patterns the
finding's file must match), plus the options the validator declares. Every
problem is a located error; an unknown code or option is never ignored.
A group a rule names that `approvers` does not define is read as a team of
the repository's organisation (checked through the GitHub API).
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from safeflags.compile.config import RepoConfig
from safeflags.compile.suggest import hint
from safeflags.source.errors import ConfigError, SourceError
from safeflags.validation.api import Validator
from safeflags.validation.approvals import ApproverGroup
from safeflags.validation.finding import Severity


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# GitHub's spelling of an organisation login and a team slug.
_TEAM = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ApproverGroupSettings(_Strict):
    users: list[str] = Field(default_factory=list)
    github_team: str = ""  # "org/slug"; membership read through the GitHub API

    @field_validator("github_team")
    @classmethod
    def _team(cls, value: str) -> str:
        if value and not _TEAM.match(value):
            raise ValueError(f"github_team must be written org/slug (e.g. acme/flag-reviewers), not {value!r}")
        return value

    @model_validator(mode="after")
    def _someone(self) -> ApproverGroupSettings:
        if not self.users and not self.github_team:
            raise ValueError("an approver group names its users, its github_team, or both")
        return self


class ValidationSettings(_Strict):
    local_validators: list[str] = Field(default_factory=list)
    rules: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Named sets of people whose approval rules can ask for.
    approvers: dict[str, ApproverGroupSettings] = Field(default_factory=dict)
    # Where the built-in rules are documented (SARIF helpUri: <help_url>#<anchor>); none when unset.
    help_url: str | None = None

    def approver_groups(self) -> dict[str, ApproverGroup]:
        return {name: ApproverGroup(frozenset(g.users), g.github_team) for name, g in self.approvers.items()}


class RuleCommon(_Strict):
    enabled: bool = True
    severity: Severity | None = None
    paths: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Rule:
    """A validator's effective settings for one run."""

    enabled: bool
    severity: Severity
    paths: tuple[str, ...]
    options: BaseModel

    def applies_to(self, file: str) -> bool:
        return not self.paths or any(fnmatch.fnmatchcase(file, p) for p in self.paths)


class SettingsErrors:
    """Located errors in safeflags.yaml's `validation:` section, collected
    and raised at once (a validator checking its options against the
    catalog uses it too)."""

    def __init__(self, config: RepoConfig) -> None:
        self.config = config
        self.errors: list[SourceError] = []

    def add(self, loc: list[str], message: str, hint: str | None = None) -> None:
        self.errors.append(self.config.error(["validation", *loc], message, hint))

    def pydantic(self, prefix: list[str], exc: ValidationError, model: type[BaseModel] = BaseModel,
                 also: tuple[str, ...] = ()) -> None:
        """pydantic's errors for `model` validated at `prefix`; `also` names the
        keys validated beside it (a rule's common keys beside its options)."""
        self.errors.extend(self.config.validation_errors(exc, model, ["validation", *prefix], also=also))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ConfigError(self.errors)


_Errors = SettingsErrors  # the private name it had before


def parse_settings(config: RepoConfig) -> ValidationSettings:
    try:
        return ValidationSettings.model_validate(config.model.validation)
    except ValidationError as exc:
        errors = SettingsErrors(config)
        errors.pydantic([], exc, ValidationSettings)
        errors.raise_if_any()
        raise AssertionError("unreachable") from None


def resolve_rules(
    config: RepoConfig, settings: ValidationSettings, validators: list[type[Validator]],
) -> dict[str, Rule]:
    """Each validator's Rule; instantiates options. Raises ConfigError."""
    by_code = {cls.code: cls for cls in validators}
    errors = SettingsErrors(config)
    rules: dict[str, Rule] = {}
    for code in sorted(settings.rules):
        if code not in by_code:
            errors.add(["rules", code], f"no validator has the code {code!r}", hint(code, by_code))
    for code, cls in sorted(by_code.items()):
        raw = dict(settings.rules.get(code) or {})
        common_raw = {k: raw.pop(k) for k in list(raw) if k in RuleCommon.model_fields}
        try:
            common = RuleCommon.model_validate(common_raw)
        except ValidationError as exc:
            errors.pydantic(["rules", code], exc, RuleCommon)
            continue
        try:
            options = cls.Options.model_validate(raw)
        except ValidationError as exc:
            errors.pydantic(["rules", code], exc, cls.Options, tuple(RuleCommon.model_fields))
            continue
        severity = common.severity or cls.severity
        if not cls.configurable and (not common.enabled or severity != cls.severity or common.paths):
            errors.add(["rules", code], f"{code} reports compile errors: it cannot be disabled, re-graded or scoped "
                       "(a flag that does not compile cannot ship)")
            continue
        rules[code] = Rule(common.enabled, severity, tuple(common.paths), options)
    errors.raise_if_any()
    return rules
