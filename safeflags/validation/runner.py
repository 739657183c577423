"""Run validators over a context and apply the repository's settings.

Compile errors are the runner's own findings, not a validator's: each one is
an error under its code whatever validators are loaded, disabled or
re-graded, counted outside any scope and never suppressed (a flag that does
not compile cannot ship).

Order of operations for each validator's finding: the validator must report
its own code (anything else is a bug in it); a disabled code or a path
outside the rule's `paths` drops it; the rule's severity replaces the
default; a matching inline suppression (flag `suppress: [{code, reason}]`)
moves it to the suppression it silenced, so the summary still shows it.
A change validator's finding on a template-driven flag (its own file
unchanged) is moved to the template line the pull request changed, after
the rule's `paths` were matched where the validator located it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from safeflags.compile.driver import CompileResult
from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.source.errors import ConfigError
from safeflags.validation.api import Change, Context, Validator
from safeflags.validation.finding import Finding, Severity, Suppression
from safeflags.validation.settings import Rule


class ValidatorCrashed(SafeflagsError):
    """A validator raised or misbehaved; the run stops (exit 2)."""


@dataclass
class Outcome:
    """What a run found; reporters read this and nothing else."""

    context: Context
    validators: list[Validator]
    findings: list[Finding] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # codes not run (disabled, or need --base)
    seconds: float = 0.0
    base_ref: str | None = None
    base_commit: str | None = None
    hidden: int = 0  # findings on flags outside the context's scope (pre-existing, not shown)
    help_url: str | None = None  # validation.help_url of the judging settings
    # Why a run given --base judged the head on its own ("" when it did not):
    # the base has no safeflags.yaml (the adopting pull request) or no commit.
    judged_alone: str = ""

    @property
    def changes(self) -> list[Change]:
        return self.context.changes

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def failed(self) -> bool:
        # A head that does not compile fails the run even if a finding went missing.
        return self.count(Severity.ERROR) > 0 or bool(self.context.head.errors)


def compile_findings(result: CompileResult) -> list[Finding]:
    """One error finding per compile error, at its location; an error the
    compiler gave no code is a schema error (SF102)."""
    return [
        Finding(err.code or "SF102", Severity.ERROR,
                err.message + (f" (at {err.field_path})" if err.field_path else ""),
                err.file, err.line, err.column, None, err.hint)
        for err in result.errors
    ]


def run(ctx: Context, validators: list[Validator], rules: dict[str, Rule]) -> Outcome:
    out = Outcome(ctx, validators)
    raw: list[Finding] = []
    for v in validators:
        rule = rules.get(v.code)
        if (rule is not None and not rule.enabled) or (v.needs_base and not ctx.pr_mode):
            out.skipped.append(v.code)
            continue
        try:
            found = list(v.check(ctx))
        except ConfigError:
            raise  # a located error in a file the validator reads (an inventory): exit 1 with its location
        except Exception as exc:
            raise ValidatorCrashed(f"validator {v.code} ({v.name}) raised {type(exc).__name__}: {exc}") from exc
        for f in found:
            if not isinstance(f, Finding) or f.code != v.code:
                raise ValidatorCrashed(f"validator {v.code} ({v.name}) yielded {f!r}: findings must carry its own code")
            if rule is not None:
                if not rule.applies_to(f.file):
                    continue
                # A re-graded code re-grades every finding; otherwise a validator's
                # own choice (a warning among its errors) stands.
                if rule.severity != v.severity and f.severity != rule.severity:
                    f = Finding(f.code, rule.severity, f.message, f.file, f.line, f.column, f.flag, f.hint)
            if v.needs_base and f.flag is not None:
                f = _relocated(ctx, f)
            raw.append(f)
    silenced: dict[tuple[str, str], list[Finding]] = {}
    declared = _suppressions(ctx)
    if ctx.scope is not None:
        # Findings tied to no flag (config, checks changed) and those of the
        # codes settings cannot touch always count.
        fixed = {v.code for v in validators if not v.configurable}
        kept = [f for f in raw if f.flag is None or f.flag in ctx.scope or f.code in fixed]
        out.hidden = len(raw) - len(kept)
        raw = kept
    for f in raw:
        if f.flag is not None and (f.flag, f.code) in declared:
            silenced.setdefault((f.flag, f.code), []).append(f)
        else:
            out.findings.append(f)
    out.findings.extend(compile_findings(ctx.head))
    out.findings.sort(key=Finding.sort_key)
    for (key, code), (reason, file) in sorted(declared.items()):
        hushed = tuple(sorted(silenced.get((key, code), []), key=Finding.sort_key))
        out.suppressions.append(Suppression(key, code, reason, file, hushed))
    return out


def _relocated(ctx: Context, f: Finding) -> Finding:
    """A change's finding on a template-driven flag (its own file unchanged,
    safeflags.validation.origins), located in that file or in a library
    file it imports, moved to the library line the pull request changed:
    the line a reviewer can act on, the same for every code. The message
    names the flag (many flags share that line) and where in it the finding
    was."""
    assert f.flag is not None
    spec = ctx.spec(f.flag)
    if spec is None:
        return f
    own = str(spec.location.file)
    if f.file != own and f.file not in ctx.head.imports.get(own, ()):
        return f
    origin = ctx.origins.of(f.flag)
    if origin is None:
        return f
    at = f"{own}:{f.line}" if f.file == own and f.line else own
    return Finding(f.code, f.severity, f"{f.message} ({f.flag}: {at} via {origin})",
                   origin.file, origin.line, origin.column, f.flag, f.hint)


def _suppressions(ctx: Context) -> dict[tuple[str, str], tuple[str, str]]:
    """(flag, code) -> (reason, file), from the head and, for removed flags, the base."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    specs = {c.key: c.spec for c in ctx.changes if c.kind == "removed"}
    specs.update(ctx.head.specs)
    for key, spec in specs.items():
        if ctx.scope is not None and key not in ctx.scope:
            continue
        for s in spec.suppressions:
            out[(key, s.code)] = (s.reason, spec.location.file)
    return out
