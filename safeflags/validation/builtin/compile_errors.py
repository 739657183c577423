"""SF1xx/SF2xx codes the compiler itself reports.

The runner turns every compile error into an error finding under its code
(safeflags.validation.runner.compile_findings), whichever validators are
loaded, enabled or re-graded: a flag that does not compile cannot ship, so
it cannot pass validation either. These classes give the codes their names
and documentation, and make settings that would disable, re-grade or scope
them an error.
"""
from __future__ import annotations

from collections.abc import Iterator

from safeflags.validation.api import Context, Validator
from safeflags.validation.finding import Finding


class CompileErrorValidator(Validator):
    configurable = False

    def check(self, ctx: Context) -> Iterator[Finding]:
        # The runner reports the compile errors themselves, once; a subclass
        # adds only what the compiler does not check.
        yield from ()


class JsonnetError(CompileErrorValidator):
    """Jsonnet error: a flag file that does not evaluate.

    **What it catches**: a syntax error, a failed `assert` of the template
    library (misuse of `sf.*`), an unknown variable or field, an import
    outside `flags/` and `templates/`, or evaluation past the time limit.

    **Why**: a file that does not evaluate has no value to ship; the bundle
    cannot be built.

    **How to fix**: read the message (the library's asserts say what to
    write instead) and fix the line it points at.

    **Example**: `sf.ramps.standard(unit='workspace_id', stage=6)` fails
    with "stage must be a whole number from 0 (not started) to 5 (100%)".
    """

    code = "SF101"
    name = "jsonnet-error"


class SchemaError(CompileErrorValidator):
    """Schema error: the flag object does not have the documented shape.

    **What it catches**: a missing required field (`owner`, `description`,
    `default`, ...), an unknown field (with a did-you-mean), a wrong shape
    (a `serve` that is none of value/variant/split), an unknown variant, a
    rollout stage that does not exist.

    **Why**: unknown input is an error, never silently ignored: a misspelt
    `enabeld: false` must not ship as "enabled".

    **How to fix**: follow docs/flag-schema.md; the message names the field.

    **Example**: `descripton: '...'` reports "unknown field 'descripton'
    (did you mean 'description'?)".
    """

    code = "SF102"
    name = "schema-error"


class TypeMismatch(CompileErrorValidator):
    """Type mismatch: a value that is not of the flag's type.

    **What it catches**: a `default`, an override's `serve`, a variant or a
    rollout value whose type differs from the flag's `type`; a condition
    value of the wrong type for its dimension; an ordered comparison on an
    unordered dimension.

    **Why**: the SDK returns typed values (`get_int`); a string where an int
    is expected would reach callers as a type error at run time.

    **How to fix**: serve a value of the flag's type, or change the type.

    **Example**: `sf.int { default: '500' }` — `'500'` is not an int value.
    """

    code = "SF103"
    name = "type-mismatch"


class UndeclaredDimension(CompileErrorValidator):
    """Undeclared dimension: a condition on a dimension the catalog lacks.

    **What it catches**: `dim` names that are not declared under
    `dimensions:` in safeflags.yaml, with the closest declared name.

    **Why**: a condition on a dimension no service sends is always false;
    the rule silently never matches.

    **How to fix**: use the declared name, or declare the dimension.

    **Example**: `{op: 'in', dim: 'regoin', ...}` — did you mean 'region'?
    """

    code = "SF104"
    name = "undeclared-dimension"


class UnknownEnumValue(CompileErrorValidator):
    """Enum value not in the catalog: a typo in a region, tier or client.

    **What it catches**: a value of an enum dimension that is not among the
    dimension's declared `values`, with a did-you-mean.

    **Why**: `region in ['us-east1']` never matches a process in
    `us-east-1`: the rule silently does nothing, or a rollout skips a region.

    **How to fix**: use a declared value, or add it to the catalog.

    **Example**: `sf.dim.region.in_(['eu-west1'])` — did you mean 'eu-west-1'?
    """

    code = "SF105"
    name = "unknown-enum-value"


class KeyMismatch(CompileErrorValidator):
    """Flag key does not match its path, or the path is not a flag file.

    **What it catches**: a file outside `flags/<namespace>/<name>.jsonnet`
    or with upper-case/dashed names, an explicit `key:` that differs from
    the path, two files that give the same key; a flag file, folder or
    `flags/` itself that is a symbolic link (refused without reading the
    target), something other than a regular file named `*.jsonnet`, a
    repository-relative path over 512 bytes.

    **Why**: the path is the key services ask for; one source of truth. A
    committed link could make the compiler read (and an error print) a file
    outside the repository: a credential, `/proc/self/environ`.

    **How to fix**: rename the file, or drop the `key:` field; commit the
    flag file itself instead of a link to it.

    **Example**: `flags/billing/New-Path.jsonnet` is not a valid key.
    """

    code = "SF106"
    name = "key-mismatch"


class InvalidLiteral(CompileErrorValidator):
    """Invalid literal: a regex, version, timestamp or date that does not parse.

    **What it catches**: `regex` patterns that RE2 does not compile (no
    backreferences, lookaround, atomic groups, possessive repeats or `\\Z`;
    at most 256 RE2 instructions per pattern, which keeps a match on 10 kB
    under a millisecond), `min_version`
    that is not a semantic version (semver 2.0.0), a stage's `not_before`
    that is not a timestamp (RFC 3339, or a date alone), an `expires` or
    `fully_rolled_out_since` that is not a real calendar day (`2027-13-01`).

    **Why**: a broken literal would make the rule fail on every request.

    **How to fix**: correct the literal; the message quotes it.

    **Example**: `sf.requires(service='billing', minVersion='2.x')`.
    """

    code = "SF109"
    name = "invalid-literal"


class SplitWeights(CompileErrorValidator):
    """Split weights that do not sum to 100 %.

    **What it catches**: a weighted split whose arms' weights add up to more
    or less than 100.

    **Why**: the missing (or excess) share would be served an arm nobody
    chose; experiment results would be skewed.

    **How to fix**: make the weights add up to exactly 100.

    **Example**: `arms={control: 50, treatment: 40}` sums to 90 %.
    """

    code = "SF204"
    name = "split-weights"
