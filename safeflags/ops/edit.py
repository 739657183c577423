"""Edits as commands: the one literal of a flag file that a ramp, a kill or an
enable changes, found where the compiler located it.

A plan never rewrites a file: it replaces the bytes of one literal (or adds
one line where the value is inherited from a template), so comments, layout
and every other byte stay as written and the diff a reviewer reads is the
step itself. Where the value is computed (a local, an import, an
expression), there is no literal to change: the plan refuses and names the
line to edit by hand.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from safeflags.compile.driver import CompileResult
from safeflags.compile.parse.locate import Locator
from safeflags.compile.suggest import did_you_mean
from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.v1 import common_pb2, spec_pb2

_STAGE = re.compile(r"stage\s*[=:]\s*(\d+)(?![\w.])")
_BOOL_FIELD = r"{name}\s*:\s*(true|false)\b"
# The object a flag file extends: `sf.<constructor> {` (or `sf.x(...) {`) ending its line.
_BODY_OPEN = re.compile(r"\{[ \t]*(//[^\n]*)?\n([ \t]*)")


class EditRefused(SafeflagsError):
    """No literal to change (the value is computed), or no such step: exit 2."""


@dataclass(frozen=True)
class Edit:
    """One flag file's text before and after a step, and the flag it must compile to."""

    key: str
    file: str  # repository-relative
    before: str
    after: str
    step: str  # e.g. "ramp billing.new_invoice_path: stage 2 (5%) -> 3 (25%)"
    expected: spec_pb2.FlagSpec  # the flag the step describes (locations as before)
    line: int  # where the literal is, for a refusal after compiling


def _spec(result: CompileResult, key: str) -> spec_pb2.FlagSpec:
    spec = result.specs.get(key)
    if spec is None:
        if any(e.file == f"{result.config.model.flags_dir}/{key.replace('.', '/')}.jsonnet" for e in result.errors):
            raise EditRefused(f"{key} does not compile: fix its errors first (`safeflags compile`)")
        close = did_you_mean(key, sorted(result.specs))
        raise EditRefused(f"no flag {key!r} in {result.config.root}" + (f"; did you mean {close!r}?" if close else ""))
    return spec


def _source(result: CompileResult, key: str) -> tuple[str, Locator]:
    loc = result.flag_facts(key).locator
    if loc is None:
        raise EditRefused(f"cannot read the source of {key} ({result.files[key]})")
    return loc.text, loc


def _offset(loc: Locator, line: int, column: int) -> int:
    starts = [0, *(m.end() for m in re.finditer("\n", loc.text))]
    return starts[line - 1] + column - 1


def _stage_name(ro: spec_pb2.Rollout, stage: int) -> str:
    return "not started" if stage == 0 else ro.stages[stage - 1].name


def ramp_target(spec: spec_pb2.FlagSpec, *, step: str | None = None, to: int | None = None) -> int:
    """The stage a ramp step moves to: `step` is "next" or "back", or `to` a stage (0 = not started)."""
    if not spec.HasField("rollout"):
        raise EditRefused(f"{spec.key} has no rollout to ramp ({spec.location.file}:{spec.location.line})")
    ro, n = spec.rollout, len(spec.rollout.stages)
    if to is not None:
        target = to
    elif step == "next":
        target = ro.stage + 1
    elif step == "back":
        target = ro.stage - 1
    else:
        raise EditRefused("give one of --next, --back or --to STAGE")
    if not 0 <= target <= n:
        where = "already at its last stage" if step == "next" else "not started" if step == "back" else \
            f"has stages 0 (not started) to {n}"
        raise EditRefused(f"{spec.key} {where}: no stage {target} (current {ro.stage}, {_stage_name(ro, ro.stage)})")
    if target == ro.stage:
        raise EditRefused(f"{spec.key} is already at stage {target} ({_stage_name(ro, target)})")
    return target


def plan_ramp(result: CompileResult, key: str, *, step: str | None = None, to: int | None = None) -> Edit:
    spec = _spec(result, key)
    target = ramp_target(spec, step=step, to=to)
    text, loc = _source(result, key)
    ro = spec.rollout
    file, line = result.files[key], int(ro.stage_location.line)
    m = _STAGE.match(text, _offset(loc, line, int(ro.stage_location.column)))
    if (ro.stage_location.line, ro.stage_location.column) == (ro.location.line, ro.location.column) \
            or m is None or int(m.group(1)) != ro.stage:
        raise EditRefused(f"the stage of {key} is computed, not written as a number: edit {file}:{line} by hand "
                          f"(stage {ro.stage} -> {target})")
    after = text[: m.start(1)] + str(target) + text[m.end(1):]
    expected = spec_pb2.FlagSpec()
    expected.CopyFrom(spec)
    expected.rollout.stage = target
    words = f"ramp {key}: stage {ro.stage} ({_stage_name(ro, ro.stage)}) -> {target} ({_stage_name(ro, target)})"
    return Edit(key, file, text, after, words, expected, line)


def _bool_literal(loc: Locator, name: str) -> re.Match[str] | None:
    """`name: true|false` where the field is first written, comments aside."""
    at = loc.find_field(name)
    if at is None:
        return None
    return re.compile(_BOOL_FIELD.format(name=name)).match(loc.text, _offset(loc, *at))


def _set_bool(result: CompileResult, key: str, name: str, value: bool, step: str,
              expected: spec_pb2.FlagSpec) -> Edit:
    """Set boolean field `name` of the flag object: its literal where written,
    else one line `name: value,` opening the object the file extends."""
    spec = _spec(result, key)
    text, loc = _source(result, key)
    file = result.files[key]
    word = "true" if value else "false"
    m = _bool_literal(loc, name)
    if m is not None:
        line = loc.position(m.start())[0]
        return Edit(key, file, text, text[: m.start(1)] + word + text[m.end(1):], step, expected, line)
    written = loc.find_field(name)
    if written is not None:
        line = written[0]
        raise EditRefused(f"`{name}` of {key} is computed, not written as true or false: edit {file}:{line} by hand "
                          f"({name}: {word})")
    start = _offset(loc, int(spec.location.line), int(spec.location.column))
    opened = _BODY_OPEN.search(text, start)
    if opened is None:
        line = int(spec.location.line)
        raise EditRefused(f"{key} does not write `{name}` and its object is not laid out one field a line: "
                          f"add `{name}: {word},` at {file}:{line} by hand")
    at = text.index("\n", opened.start()) + 1
    indent = opened.group(2) or "  "
    after = text[:at] + f"{indent}{name}: {word},\n" + text[at:]
    return Edit(key, file, text, after, step, expected, loc.position(at)[0])


def plan_kill(result: CompileResult, key: str, scopes: Sequence[tuple[str, str]] = ()) -> Edit:
    """Engage a kill switch (its `default` to true), or switch any other flag
    off as a whole (`enabled: false`)."""
    spec = _spec(result, key)
    if scopes:
        if not spec.enabled:  # a flag switched off serves its default: no rule of it is read
            raise EditRefused(f"{key} is switched off as a whole (enabled: false): a scoped rule would not be read")
        return _plan_scoped_kill(result, spec, scopes)
    expected = spec_pb2.FlagSpec()
    expected.CopyFrom(spec)
    if spec.kind == common_pb2.FLAG_KIND_OPERATIONAL and spec.type == common_pb2.FLAG_TYPE_BOOL:
        if spec.default.bool_value:
            raise EditRefused(f"{key} is already engaged (default: true)")
        expected.default.bool_value = True
        return _set_bool(result, key, "default", True, f"kill {key}: engage the kill switch (default: true)",
                         expected)
    if not spec.enabled:
        raise EditRefused(f"{key} is already switched off (enabled: false)")
    expected.enabled = False
    return _set_bool(result, key, "enabled", False, f"kill {key}: switch the flag off (enabled: false)", expected)


_OVERRIDES_OPEN = re.compile(r"overrides\s*:\s*\[[ \t]*(//[^\n]*)?\n([ \t]*)")


def _jsonnet_string(value: str) -> str:
    return f"'{value}'" if "'" not in value and "\\" not in value else json.dumps(value)


def _plan_scoped_kill(result: CompileResult, spec: spec_pb2.FlagSpec, scopes: Sequence[tuple[str, str]]) -> Edit:
    """A rule before the others serving what `kill` serves, where the static
    dimensions have the values given: one added line, in an `overrides`
    list laid out one rule a line (or a new one-line `overrides` field)."""
    key, file = spec.key, result.files[spec.key]
    catalog = result.config.dimensions
    dims = sorted({d for d, _ in scopes})
    usable = sorted(n for n, d in catalog.items() if d.static and d.type in ("string", "enum"))
    unusable = [d for d in dims if d not in usable]
    if unusable:
        raise EditRefused(f"--scope takes static string or enum dimensions only ({', '.join(usable)}); "
                          f"not one: {', '.join(unusable)}")
    if spec.type != common_pb2.FLAG_TYPE_BOOL:
        raise EditRefused(f"a scoped kill of a {common_pb2.FlagType.Name(spec.type)} flag has no value that is off: "
                          f"add an override serving the value you want in {file} by hand")
    engaged = spec.kind == common_pb2.FLAG_KIND_OPERATIONAL and not spec.default.bool_value
    value = True if engaged else spec.default.bool_value
    values = {d: list(dict.fromkeys(v for dd, v in scopes if dd == d)) for d in dims}
    parts = [f"sf.dim.{d}.in_([{', '.join(_jsonnet_string(v) for v in values[d])}])" for d in dims]
    cond = parts[0] if len(parts) == 1 else f"sf.all([{', '.join(parts)}])"
    rule = f"sf.when({cond}).serve({'true' if value else 'false'})"
    leaves = [spec_pb2.Condition(op=spec_pb2.Condition.OP_IN, dim=d,
                                 values=[common_pb2.Value(string_value=v) for v in values[d]]) for d in dims]
    when = leaves[0] if len(leaves) == 1 else spec_pb2.Condition(op=spec_pb2.Condition.OP_ALL, of=leaves)
    expected = spec_pb2.FlagSpec()
    expected.CopyFrom(spec)
    del expected.overrides[:]
    expected.overrides.add(when=when, serve=spec_pb2.Serve(value=common_pb2.Value(bool_value=value)))
    expected.overrides.extend(spec.overrides)
    shown = ", ".join(f"{d}={v}" for d in dims for v in values[d])
    step = f"kill {key} where {shown}: a first rule serving {'true' if value else 'false'}"
    text, loc = _source(result, key)
    written = loc.find_field("overrides")
    if written is not None:
        opened = _OVERRIDES_OPEN.match(text, _offset(loc, *written))
        if opened is None:
            raise EditRefused(f"the overrides of {key} are not a list laid out one rule a line: add `{rule},` as "
                              f"their first entry at {file}:{written[0]} by hand")
        at = text.index("\n", opened.start()) + 1
        line = f"{opened.group(2)}{rule},\n"
    else:
        opened = _BODY_OPEN.search(text, _offset(loc, int(spec.location.line), int(spec.location.column)))
        if opened is None:
            raise EditRefused(f"{key} is not laid out one field a line: add `overrides: [{rule}],` at "
                              f"{file}:{spec.location.line} by hand")
        at = text.index("\n", opened.start()) + 1
        line = f"{opened.group(2) or '  '}overrides: [{rule}],\n"
    return Edit(key, file, text, text[:at] + line + text[at:], step, expected, loc.position(at)[0])


def plan_enable(result: CompileResult, key: str) -> Edit:
    """Switch a flag back on: `enabled: false` removed (its whole line when
    nothing else is on it), else set to true."""
    spec = _spec(result, key)
    if spec.enabled:
        raise EditRefused(f"{key} is already enabled")
    expected = spec_pb2.FlagSpec()
    expected.CopyFrom(spec)
    expected.enabled = True
    step = f"enable {key}: switch the flag back on"
    text, loc = _source(result, key)
    m = _bool_literal(loc, "enabled")
    if m is not None:
        begin = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        rest = text[m.end(): end if end >= 0 else len(text)]
        if not text[begin: m.start()].strip() and rest.strip() in ("", ","):
            line = loc.position(m.start())[0]
            return Edit(key, result.files[key], text, text[:begin] + text[end + 1:], step, expected, line)
    return _set_bool(result, key, "enabled", True, step, expected)
