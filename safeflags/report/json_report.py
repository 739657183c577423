"""JSON for machines, schema version 1 (documented in docs/validate.md).

Stable: keys are only ever added within a version; findings are sorted by
(file, line, column, code); numbers are shares in [0, 1]. A finding's line
and column are those of every other format (line 0: the whole file).
"""
from __future__ import annotations

import json
from typing import Any

from safeflags.report.base import Reporter
from safeflags.source.sandbox import library_version
from safeflags.validation.finding import Finding, Severity
from safeflags.validation.runner import Outcome
from safeflags.version import __version__

SCHEMA_VERSION = 1


def finding_dict(f: Finding, names: dict[str, str], path: str, position: tuple[int, int] | None) -> dict[str, Any]:
    line, column = position or (0, 0)
    return {
        "code": f.code, "name": names.get(f.code, ""), "severity": f.severity.value, "message": f.message,
        "file": path, "line": line, "column": column, "flag": f.flag, "hint": f.hint,
    }


def _share(x: float) -> float:
    return round(x, 6)


class JsonReporter(Reporter):
    format = "json"

    def render(self, outcome: Outcome) -> str:
        ctx = outcome.context
        names = {v.code: v.name for v in outcome.validators}
        changes = []
        for c in outcome.changes:
            exp = ctx.exposure(c)
            changes.append({
                "flag": c.key, "kind": c.kind, "file": self.path(c.file),
                "exposure": {
                    "before": _share(exp.before), "after": _share(exp.after), "newly": _share(exp.newly),
                    "changed": _share(exp.changed),
                    "scopes": [{"dim": s.dim, "values": list(s.values), "before": _share(s.before),
                                "after": _share(s.after), "newly": _share(s.newly), "changed": _share(s.changed)}
                               for s in exp.scopes],
                },
            })
        doc = {
            "version": SCHEMA_VERSION,
            "tool": {"name": "safeflags", "version": __version__,
                     "templates": library_version(ctx.head.config.root, ctx.head.config.templates_dir)},
            "mode": "pull_request" if ctx.pr_mode else "repository",
            "base": {"ref": outcome.base_ref, "commit": outcome.base_commit} if ctx.pr_mode else None,
            # Why a run given a base judged the head on its own (no safeflags.yaml there); null otherwise.
            "judged_alone": outcome.judged_alone or None,
            "summary": {
                "errors": outcome.count(Severity.ERROR), "warnings": outcome.count(Severity.WARNING),
                "notices": outcome.count(Severity.NOTICE),
                "suppressed": sum(len(s.silenced) for s in outcome.suppressions),
                "flags": len(ctx.head.specs), "changes": len(outcome.changes), "failed": outcome.failed,
                "seconds": round(outcome.seconds, 3),
                "hidden": outcome.hidden, "scope": "all" if outcome.context.scope is None else "change",
            },
            "findings": [self._finding(f, names) for f in outcome.findings],
            "suppressions": [
                {"flag": s.flag, "code": s.code, "reason": s.reason, "file": self.path(s.file),
                 "silenced": [self._finding(f, names) for f in s.silenced]}
                for s in outcome.suppressions
            ],
            "changes": changes,
            "validators": [
                {"code": v.code, "name": v.name, "severity": v.severity.value, "ran": v.code not in outcome.skipped}
                for v in outcome.validators
            ],
        }
        return json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"

    def _finding(self, f: Finding, names: dict[str, str]) -> dict[str, Any]:
        return finding_dict(f, names, self.path(f.file), self.position(f))
