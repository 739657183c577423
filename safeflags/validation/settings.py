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

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from safeflags.compile.config import (
    CONFIG_FILE,
    RepoConfig,
    did_you_mean,
    yaml_position,
)
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
        # Composed only on error: a valid configuration never pays for positions.
        node = yaml.compose(self.config.text, Loader=yaml.SafeLoader) if self.config.text else None
        line, col = yaml_position(node, ["validation", *loc])
        self.errors.append(SourceError(CONFIG_FILE, line, col, message, stage="config",
                                       field_path=".".join(["validation", *loc]), hint=hint))

    def pydantic(self, prefix: list[str], exc: ValidationError) -> None:
        for err in exc.errors():
            loc = prefix + [str(p) for p in err["loc"]]
            if err["type"] == "extra_forbidden":
                msg = f"unknown key {loc[-1]!r}"
            else:
                msg = err["msg"].removeprefix("Value error, ")
            self.add(loc, msg)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ConfigError(self.errors)


_Errors = SettingsErrors  # the private name it had before


def parse_settings(config: RepoConfig) -> ValidationSettings:
    try:
        return ValidationSettings.model_validate(config.model.validation)
    except ValidationError as exc:
        errors = SettingsErrors(config)
        errors.pydantic([], exc)
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
            hint = did_you_mean(code, by_code)
            errors.add(["rules", code], f"no validator has the code {code!r}",
                       f"did you mean {hint!r}?" if hint else None)
    for code, cls in sorted(by_code.items()):
        raw = dict(settings.rules.get(code) or {})
        common_raw = {k: raw.pop(k) for k in list(raw) if k in RuleCommon.model_fields}
        try:
            common = RuleCommon.model_validate(common_raw)
        except ValidationError as exc:
            errors.pydantic(["rules", code], exc)
            continue
        try:
            options = cls.Options.model_validate(raw)
        except ValidationError as exc:
            errors.pydantic(["rules", code], exc)
            continue
        severity = common.severity or cls.severity
        if not cls.configurable and (not common.enabled or severity != cls.severity or common.paths):
            errors.add(["rules", code], f"{code} reports compile errors: it cannot be disabled, re-graded or scoped "
                       "(a flag that does not compile cannot ship)")
            continue
        rules[code] = Rule(common.enabled, severity, tuple(common.paths), options)
    errors.raise_if_any()
    return rules
