"""The validator plugin API: base classes, the change model and the context.

A validator is a small class with a stable `code`, a `name`, a default
`severity`, a docstring that is its documentation, and `check(ctx)` yielding
`Finding`s. Three shapes cover nearly every rule:

- `FlagValidator.check_flag(flag, ctx)`: once per compiled flag of the head (in
  PR mode only the flags in scope: changed ones and their dependents);
- `ChangeValidator.check_change(change, ctx)`: once per added, removed or
  modified flag (pull-request mode, `--base`);
- `Validator.check(ctx)`: once per run, for whole-repository rules.

Options a validator accepts from `safeflags.yaml` (`validation.rules.<CODE>`)
are a pydantic model named `Options` on the class; the runner validates them
strictly and passes the result as `self.options`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from safeflags.compile.driver import CompileResult
from safeflags.compile.parse.locate import Locator
from safeflags.v1 import spec_pb2
from safeflags.validation.approvals import Approvals, PullRequest
from safeflags.validation.finding import Finding, Severity

if TYPE_CHECKING:
    from safeflags.validation.exposure import Exposure
    from safeflags.validation.origins import Origins

FlagSpec = spec_pb2.FlagSpec


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Validator(ABC):
    """Base of every validator. Subclasses set the class attributes below and
    override `check` (or use `FlagValidator` / `ChangeValidator`)."""

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    severity: ClassVar[Severity] = Severity.ERROR
    # True: runs only in pull-request mode (`--base`), where changes exist.
    needs_base: ClassVar[bool] = False
    # False for compile errors: the bundle cannot be built, so settings may
    # neither disable nor downgrade them (what passes validation ships).
    configurable: ClassVar[bool] = True
    Options: ClassVar[type[BaseModel]] = NoOptions
    # Where the rule is documented, for SARIF's helpUri; built-ins take theirs
    # from `validation.help_url` in safeflags.yaml, others give their own or none.
    help_uri: ClassVar[str | None] = None

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def check(self, ctx: Context) -> Iterable[Finding]:
        """The findings of one run."""

    def finding(
        self, message: str, *, file: str, line: int = 0, column: int = 0,
        flag: str | None = None, hint: str | None = None,
    ) -> Finding:
        return Finding(self.code, self.severity, message, file, line, column, flag, hint)

    def at(self, spec: FlagSpec, message: str, where: int | tuple[int, int] = 0, *, hint: str | None = None) -> Finding:
        """A finding about `spec` at `where` in its file: a line, a (line,
        column) from `ctx.field` / `ctx.literal`, or 0 for the flag's line."""
        loc = spec.location
        line, column = where if isinstance(where, tuple) else (where, 0)
        if not line:
            line, column = int(loc.line), int(loc.column)
        return self.finding(message, file=loc.file, line=line, column=column, flag=spec.key, hint=hint)


class FlagValidator(Validator):
    """Checks each compiled flag of the head on its own."""

    def check(self, ctx: Context) -> Iterator[Finding]:
        keys = ctx.head.specs.keys() if ctx.scope is None else ctx.scope & ctx.head.specs.keys()
        for key in sorted(keys):
            yield from self.check_flag(ctx.head.specs[key], ctx)

    def check_flag(self, flag: FlagSpec, ctx: Context) -> Iterable[Finding]:
        """The findings on one flag (a subclass overrides this or `check`)."""
        raise TypeError(f"{type(self).__name__} overrides neither check_flag() nor check()")


class ChangeValidator(Validator):
    """Checks each flag a pull request adds, removes or modifies."""

    needs_base = True

    def check(self, ctx: Context) -> Iterator[Finding]:
        for change in ctx.changes:
            yield from self.check_change(change, ctx)

    def check_change(self, change: Change, ctx: Context) -> Iterable[Finding]:
        """The findings on one added, removed or modified flag (a subclass
        overrides this or `check`)."""
        raise TypeError(f"{type(self).__name__} overrides neither check_change() nor check()")


ChangeKind = Literal["added", "removed", "modified"]


@dataclass(frozen=True)
class Change:
    """One flag a pull request touched, with its semantic before and after."""

    key: str
    kind: ChangeKind
    before: FlagSpec | None
    after: FlagSpec | None

    @property
    def spec(self) -> FlagSpec:
        """The newest form: the head's, or the base's for a removed flag."""
        spec = self.after if self.after is not None else self.before
        assert spec is not None
        return spec

    @property
    def file(self) -> str:
        return str(self.spec.location.file)


@dataclass
class Context:
    """Everything a validator may read. Built once per run; read-only by contract."""

    head: CompileResult
    base: CompileResult | None = None
    changes: list[Change] = field(default_factory=list)
    pull_request: PullRequest = field(default_factory=PullRequest)
    code_root: Path | None = None
    today: date = field(default_factory=date.today)
    # Base flag files not written to the base's tree: the same bytes as the
    # head's, so the head's compile result locates them.
    base_shared: frozenset[str] = frozenset()
    # The flags whose findings count (pull-request mode: the changed flags and
    # their dependents); None for every flag. Per-flag checks run only on these.
    scope: frozenset[str] | None = None
    # Who approved the pull request (reviews, labels, approver groups);
    # built from `pull_request` when not given.
    approvals: Approvals = None  # type: ignore[assignment]
    _exposures: dict[str, Exposure] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.approvals is None:
            self.approvals = Approvals(self.pull_request)

    @property
    def pr_mode(self) -> bool:
        return self.base is not None

    @cached_property
    def all_keys(self) -> frozenset[str]:
        """Every flag key of the head, including flags that failed to compile."""
        from safeflags.compile.parse.model import key_for_path

        keys = set(self.head.specs)
        for err in self.head.errors:
            key = key_for_path(err.file, self.head.config.model.flags_dir)
            if key:
                keys.add(key)
        return frozenset(keys)

    def _result(self, file: str, base: bool) -> CompileResult | None:
        """The compile result that holds `file`'s source: the head's, or the base's."""
        return self.base if base and file not in self.base_shared else self.head

    def locator(self, file: str, *, base: bool = False) -> Locator | None:
        """The source of a flag file (head, or base revision) for locating lines."""
        result = self._result(file, base)
        return result.locator(file) if result is not None else None

    def _spec_locator(self, spec: FlagSpec, base: bool) -> Locator | None:
        result = self._result(spec.location.file, base)
        if result is None:
            return None
        if spec.key in result.specs:
            return result.flag_facts(spec.key).locator
        return result.locator(spec.location.file)

    def field(self, spec: FlagSpec, *names: str, base: bool = False) -> tuple[int, int]:
        """Line and column of the first of `names` written as `name:` or
        `name=` in the flag's source; the flag's own position when none is."""
        loc = self._spec_locator(spec, base)
        for name in names:
            found = loc.find_field(name) if loc else None
            if found:
                return found
        return int(spec.location.line), int(spec.location.column)

    def literal(self, spec: FlagSpec, value: object, *, base: bool = False) -> tuple[int, int]:
        """Where the literal `value` is written in the flag's source."""
        loc = self._spec_locator(spec, base)
        found = loc.find_literal(value) if loc else None
        return found if found else (int(spec.location.line), int(spec.location.column))

    def spec(self, key: str) -> FlagSpec | None:
        """The head's spec of `key`, else the base's (a removed flag)."""
        spec = self.head.specs.get(key)
        if spec is None and self.base is not None:
            spec = self.base.specs.get(key)
        return spec

    def exposure(self, change: Change) -> Exposure:
        """Traffic exposure of a change, before and after (cached per flag),
        from the base's and the head's lowering of the flag."""
        from safeflags.validation.exposure import estimate

        cached = self._exposures.get(change.key)
        if cached is None:
            base = self.base if self.base is not None else self.head
            before = base.flag_facts(change.key).lowered if change.before is not None else None
            after = self.head.flag_facts(change.key).lowered if change.after is not None else None
            cached = self._exposures[change.key] = estimate(
                before, after, base.config.dimensions, self.head.config.dimensions, change.after
            )
        return cached

    @cached_property
    def origins(self) -> Origins:
        """Where the pull request changed each template-driven flag (one whose
        own file it left alone): `ctx.origins.of(key)` is the library line it
        changed, or None (safeflags.validation.origins)."""
        from safeflags.validation.origins import Origins

        return Origins(self.head, self.base, {c.key: c.kind for c in self.changes}, self.base_shared)
