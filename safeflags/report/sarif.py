"""SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer).

Rules carry the validators' docstrings as their help; suppressed findings
are kept as results with an in-source suppression and its reason, the way
SARIF records a justified `noqa`.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from safeflags.report.base import Reporter, rule_doc
from safeflags.validation.finding import Finding, Severity
from safeflags.validation.runner import Outcome
from safeflags.version import __version__

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTICE: "note"}
INFO_URI = "https://github.com/safeflags/safeflags/blob/main/docs/validators.md"


class SarifReporter(Reporter):
    format = "sarif"

    def render(self, outcome: Outcome) -> str:
        rules, index = [], {}
        for i, v in enumerate(outcome.validators):
            doc = rule_doc(v)
            index[v.code] = i
            rules.append({
                "id": v.code,
                "name": v.name,
                "shortDescription": {"text": doc.short},
                "fullDescription": {"text": doc.full or doc.short},
                "help": {"text": doc.full or doc.short,
                         "markdown": f"**{v.code} {v.name}**: {doc.short}\n\n{doc.full}"},
                "helpUri": f"{INFO_URI}#{v.code.lower()}-{v.name}",
                "defaultConfiguration": {"level": LEVEL[v.severity]},
                "properties": {"tags": ["safeflags", _category(v.code)]},
            })
        results = [self._result(f, index) for f in outcome.findings]
        for s in outcome.suppressions:
            for f in s.silenced:
                r = self._result(f, index)
                r["suppressions"] = [{"kind": "inSource", "justification": s.reason}]
                results.append(r)
        run: dict[str, Any] = {
            "tool": {"driver": {"name": "safeflags", "version": __version__, "informationUri": INFO_URI,
                                "rules": rules}},
            "automationDetails": {"id": "safeflags/validate/"},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }
        sarif = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
        return json.dumps(sarif, indent=2, ensure_ascii=False) + "\n"

    def _result(self, f: Finding, index: dict[str, int]) -> dict[str, Any]:
        location: dict[str, Any] = {"artifactLocation": {"uri": self.path(f.file)}}
        if f.line:
            location["region"] = {"startLine": f.line, "startColumn": max(f.column, 1)}
        fingerprint = hashlib.sha256(f"{f.code}|{f.flag}|{f.file}|{f.message}".encode()).hexdigest()[:32]
        result: dict[str, Any] = {
            "ruleId": f.code,
            "level": LEVEL[f.severity],
            "message": {"text": f.message + (f" ({f.hint})" if f.hint else "")},
            "locations": [{"physicalLocation": location}],
            # Stable across line moves: code scanning matches alerts by these.
            "partialFingerprints": {"safeflags/v1": fingerprint},
        }
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        if f.flag:
            result["properties"] = {"flag": f.flag}
        return result


def _category(code: str) -> str:
    if not code.startswith("SF"):
        return "team"
    return {"1": "schema", "2": "targeting", "3": "rollout-safety", "4": "hygiene"}.get(code[2:3], "team")
