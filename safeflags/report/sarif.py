"""SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer).

Rules carry the validators' docstrings as their help; suppressed findings
are kept as results with an in-source suppression and its reason, the way
SARIF records a justified `noqa`.

Code scanning keeps one alert open across runs by matching results on
their `partialFingerprints`, so a fingerprint hashes only what names the
finding (its code, flag, file and message) and not what moves from one day
or one push to the next: the line, and the counts, shares and dates inside
the message ("~21.0 % newly exposed", "expired 12 days ago").
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import quote

from safeflags.report.base import Reporter, rule_doc
from safeflags.source.sandbox import library_version
from safeflags.validation.api import Validator
from safeflags.validation.builtin import BUILTIN
from safeflags.validation.finding import Finding, Severity
from safeflags.validation.runner import Outcome
from safeflags.version import __version__

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTICE: "note"}
FINGERPRINT = "safeflags/v1"

# An ISO date with an optional time and zone, then any other number standing
# on its own (a count, a share, "1,234", "2.5", "12:30", a version): not the
# digits inside a name such as `edge_cache_v2`.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,:]\d+)*(?:\s*%)?(?!\w)")
_SPACE = re.compile(r"\s+")


def stable_message(message: str) -> str:
    """`message` without what changes from day to day for the same finding."""
    out = _NUMBER.sub("#", _DATE.sub("<date>", message))
    return _SPACE.sub(" ", out).strip()


def fingerprint(f: Finding) -> str:
    key = f"{f.code}|{f.flag}|{f.file}|{stable_message(f.message)}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def help_uri(v: Validator, help_url: str | None) -> str | None:
    """Where a rule is documented: a built-in under `validation.help_url`
    (at its heading of the generated validator reference), any other
    validator where its own `help_uri` says; none otherwise."""
    cls = type(v)
    if cls in BUILTIN and cls.code.startswith("SF"):
        return f"{help_url}#{cls.code.lower()}-{cls.name}" if help_url else None
    return cls.help_uri or None


class SarifReporter(Reporter):
    format = "sarif"

    def render(self, outcome: Outcome) -> str:
        rules, index = [], {}
        for i, v in enumerate(outcome.validators):
            doc = rule_doc(v)
            index[v.code] = i
            rule: dict[str, Any] = {
                "id": v.code,
                "name": v.name,
                "shortDescription": {"text": doc.short},
                "fullDescription": {"text": doc.full or doc.short},
                "help": {"text": doc.full or doc.short,
                         "markdown": f"**{v.code} {v.name}**: {doc.short}\n\n{doc.full}"},
                "defaultConfiguration": {"level": LEVEL[v.severity]},
                "properties": {"tags": ["safeflags", _category(v.code)]},
            }
            uri = help_uri(v, outcome.help_url)
            if uri:
                rule["helpUri"] = uri
            rules.append(rule)
        found: list[tuple[Finding, str | None]] = [(f, None) for f in outcome.findings]
        found += [(f, s.reason) for s in outcome.suppressions for f in s.silenced]
        results, seen = [], dict[str, int]()
        for f, reason in found:
            r = self._result(f, index)
            # Two findings alike but for their numbers ("rule 3", "rule 5") stay
            # two alerts: the second of a kind gets its rank in the hash.
            fp = fingerprint(f)
            seen[fp] = seen.get(fp, 0) + 1
            if seen[fp] > 1:
                fp = hashlib.sha256(f"{fp}|{seen[fp]}".encode()).hexdigest()[:32]
            r["partialFingerprints"] = {FINGERPRINT: fp}
            if reason is not None:
                r["suppressions"] = [{"kind": "inSource", "justification": reason}]
            results.append(r)
        driver: dict[str, Any] = {"name": "safeflags", "version": __version__, "rules": rules}
        if outcome.help_url:
            driver["informationUri"] = outcome.help_url
        config = outcome.context.head.config
        # The template library is the driver's extension: it decides what a flag file means.
        templates = {"name": "safeflags-templates", "version": library_version(config.root, config.templates_dir)}
        run: dict[str, Any] = {
            "tool": {"driver": driver, "extensions": [templates]},
            "automationDetails": {"id": "safeflags/validate/"},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }
        if outcome.judged_alone:
            # A note on the run, not a result: nothing in the repository is wrong.
            run["invocations"] = [{"executionSuccessful": True, "toolExecutionNotifications": [
                {"level": "note", "message": {"text": outcome.judged_alone}, "descriptor": {"id": "judged-alone"}}]}]
            run["properties"] = {"judgedAlone": outcome.judged_alone}
        sarif = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
        return json.dumps(sarif, indent=2, ensure_ascii=False) + "\n"

    def _result(self, f: Finding, index: dict[str, int]) -> dict[str, Any]:
        # A URI reference: a space, `<` or a line break in a file name is percent-encoded.
        location: dict[str, Any] = {"artifactLocation": {"uri": quote(self.path(f.file), safe="/")}}
        pos = self.position(f)
        if pos:
            location["region"] = {"startLine": pos[0], "startColumn": pos[1]}
        result: dict[str, Any] = {
            "ruleId": f.code,
            "level": LEVEL[f.severity],
            "message": {"text": f.message + (f" ({f.hint})" if f.hint else "")},
            "locations": [{"physicalLocation": location}],
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
