"""Why a flag serves what it serves: the data behind `safeflags explain`.

An explanation shows the flag as this process sees it: after static
pre-evaluation, so rules that cannot match here are gone and the conditions
that remain are the ones the request decides.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from safeflags.sdk.details import EvaluationDetails
from safeflags.sdk.partial import SpecializedRule
from safeflags.sdk.render import render_expr, render_value
from safeflags.sdk.snapshot import PreparedFlag, Snapshot
from safeflags.v1 import bundle_pb2, common_pb2


@dataclass(frozen=True)
class RuleExplanation:
    index: int  # position among the flag's rules as written
    label: str
    line: int
    reason: str
    when: bundle_pb2.Expr  # the specialised condition
    condition: str  # `when`, rendered
    outcome: str  # the value served, or the split's arms, rendered


@dataclass(frozen=True)
class Explanation:
    details: EvaluationDetails
    file: str = ""
    line: int = 0
    disabled: bool = False
    constant: bool = False  # the outcome does not depend on the request here
    written_rules: int = 0
    rules: tuple[RuleExplanation, ...] = ()  # the rules that can still match, in order
    fallback: str = ""
    matched: RuleExplanation | None = None

    def render(self) -> str:
        d = self.details
        where = f" ({self.file}:{self.line})" if self.file else ""
        lines = [f"{d.flag_key}{where}", f"  value:  {render_value(d.value)}"
                 + (f" (variant {d.variant})" if d.variant else "")]
        lines.append(f"  reason: {d.reason.value}"
                     + (f" [{d.error_code.value}: {d.error_message}]" if d.error_code else ""))
        if self.matched is not None:
            m = self.matched
            lines.append(f"  matched rule {m.index} {m.label!r}" + (f" at line {m.line}" if m.line else ""))
        if self.disabled:
            lines.append("  the flag is switched off: serves its default")
        lines.append(f"  rules here ({len(self.rules)} of {self.written_rules} can match):")
        for r in self.rules:
            mark = "=>" if self.matched is not None and r.index == self.matched.index else "  "
            lines.append(f"  {mark} {r.index}. {r.label or 'rule'}: when {r.condition} serve {r.outcome}")
        if self.fallback:
            lines.append(f"     otherwise serve {self.fallback}")
        return "\n".join(lines)


def explain(snapshot: Snapshot, details: EvaluationDetails, ctx: object = None) -> Explanation:
    entry = snapshot.entry(details.flag_key) if snapshot.ready else None
    if entry is None or entry.spec is None:
        return Explanation(details)
    names, strings = snapshot.env.names, snapshot.env.strings
    rules = tuple(_rule(entry, r, names, strings) for r in entry.spec.rules)
    matched = next((r for r in rules if r.index == details.rule_index), None)
    flag = entry.flag
    return Explanation(
        details, flag.file, flag.line, flag.disabled, entry.spec.constant is not None, len(flag.rules),
        rules, _value(entry, flag.fallback), matched,
    )


def _value(entry: PreparedFlag, index: int) -> str:
    value = entry.values[index]
    if entry.type == common_pb2.FLAG_TYPE_JSON:
        value = json.loads(cast(str, value))  # JSON values are canonical text
    variant = entry.variants[index]
    return render_value(value) + (f" (variant {variant})" if variant else "")


def _rule(entry: PreparedFlag, rule: SpecializedRule, names: Sequence[str], strings: Sequence[str]) -> RuleExplanation:
    if rule.split is None:
        assert rule.value is not None
        outcome = _value(entry, rule.value)
    else:
        unit = names[rule.split.unit] if rule.split.unit < len(names) else f"?dim{rule.split.unit}"
        lower, arms = 0, []
        for arm in rule.split.arms:
            arms.append(f"[{lower}, {arm.upper}) -> {_value(entry, arm.value)}")
            lower = arm.upper
        outcome = f"split({unit}, salt={render_value(rule.split.salt)}: {'; '.join(arms)})"
    condition = render_expr(rule.when, names, strings)
    return RuleExplanation(rule.index, rule.label, rule.line, rule.reason.value, rule.when, condition, outcome)
