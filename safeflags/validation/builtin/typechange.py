"""SF310: a flag that keeps its key but changes its type."""
from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict

from safeflags.v1 import common_pb2
from safeflags.validation.api import Change, ChangeValidator, Context, FlagSpec
from safeflags.validation.finding import Finding

# `type: 'bool'`, `'type': "bool"`, `type='bool'` (an argument of sf.experiment).
_TYPE_FIELD = re.compile(r"""['"]?type['"]?\s*(?:\+?:{1,3}|=)\s*['"](\w+)['"]""")


def type_name(flag_type: int) -> str:
    """`bool`, `string`, ... as flag files spell them."""
    return common_pb2.FlagType.Name(flag_type).removeprefix("FLAG_TYPE_").lower()


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TypeChanged(ChangeValidator):
    """A flag whose type changes while it keeps its key.

    **What it catches**: a flag present before and after the pull request
    whose `type` differs (bool → string, int → float, string → json, ...),
    whether written as `type:` or implied by the constructor (`sf.bool` →
    `sf.string`).

    **Why**: code reads a flag with a typed getter (`get_bool`, `get_int`,
    ...). Once the bundle holds the new type, every reader of the old type
    gets a TYPE_MISMATCH and its code default, whatever the flag served:
    a rollout at 100 % falls back to off at once, in every service that has
    not shipped the new reader. An approval label does not waive this: the
    question is not whether the step is big but whether any reader is left.

    **How to fix**: add the flag under a new key with the new type, move
    the readers to it, and remove the old key when no code reads it. If
    every reader has already been changed, apply the dedicated label
    (`safeflags/type-change` by default), applied by someone other than
    the author.

    **Example**: `sf.bool { default: false, ... }` → `sf.string { default: 'off', ... }`
    for `billing.invoice_path`, while services still call
    `client.get_bool("billing.invoice_path", False, ctx)`.
    """

    code = "SF310"
    name = "type-changed"

    class Options(_Options):
        # The one label that waives the finding; approval labels of other rules do not.
        label: str = "safeflags/type-change"

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        before, after = change.before, change.after
        if before is None or after is None or before.type == after.type:
            return
        label: str = self.options.label  # type: ignore[attr-defined]
        if ctx.approvals.label([label], anyone=True) is not None:
            return
        old, new = type_name(before.type), type_name(after.type)
        why = ctx.approvals.why_not([label])
        yield self.at(
            after, f"the flag's type changes from {old} to {new}: every reader of the old type (get_{old}) gets "
            "a type mismatch and its code default, whatever the flag serves", type_position(after, ctx),
            hint=f"add the flag under a new key and remove the old one when no code reads it, or apply the label "
            f"{label!r} if every reader has been changed" + (f" ({why})" if why else ""),
        )


def type_position(spec: FlagSpec, ctx: Context) -> tuple[int, int] | int:
    """The `type:` field when the file writes the flag's type there, else the
    constructor (`sf.string { ... }`: the flag's own position, 0). The first
    `type:` of a file may belong to a JSON Schema, so its value must name
    the flag's type."""
    line, column = ctx.field(spec, "type")
    loc = ctx.locator(spec.location.file)
    if loc is None:
        return 0
    lines = loc.text.split("\n")
    if not 0 < line <= len(lines):
        return 0
    m = _TYPE_FIELD.match(lines[line - 1], max(column - 1, 0))
    return (line, column) if m is not None and m.group(1) == type_name(spec.type) else 0
