"""Run validator case files (tests/validation/cases/<CODE>.yaml).

Every case of every file goes into one head tree and one base tree, each
compiled once (compiles spawn evaluator processes); each case then runs its
validator on its own slice of the results: the flags under
`flags/<namespace>/` with the case's namespace, its own PR labels and options.

A case:

    - name: what it shows
      base: {flag: <jsonnet>}          # optional: pull-request mode
      head: {flag: <jsonnet>, src/app.py: <text>}
      labels: [safeflags/skip-stage]   # optional PR labels, applied by `reviewer` (not the author `dev`)
      reviews: [{user: lead, state: APPROVED}]   # optional reviews, on the head commit unless `commit` says
      settings: {base: {approvers: {sec: {users: [lead]}}}}   # optional validation sections (approver groups)
      options: {max_percent: 10}       # optional validator options
      inventory: {services: ...}       # optional SF303 deployment inventory
      expect: [{line: 7}, {line: 9, file: src/app.py, message: still referenced}]

A file name without a slash is a flag, `flags/<ns>/<name>.jsonnet`; `{ns}`
in any text is the case's namespace (to name its flags' keys); a source not
starting with `local` gets the library import prepended (one line, so line
numbers in `expect` count from 2). A name with a slash is written as it
is, e.g. a case's own template `templates/{ns}_ramps.libsonnet`, which may
differ between base and head (each flag's imports are kept in its slice).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from safeflags.compile.driver import CompileResult, compile_repo
from safeflags.validation import registry
from safeflags.validation.api import Context, Validator
from safeflags.validation.approvals import Approvals, ApproverGroup, LabelEvent, PullRequest, Review
from safeflags.validation.changes import pair
from safeflags.validation.finding import Finding
from safeflags.validation.runner import run
from tests.helpers.repo import TEMPLATES

HERE = Path(__file__).parent
CASES = HERE / "cases"
REPO = HERE.parents[1]
TODAY = date(2026, 11, 22)
HEADER = "local sf = import 'safeflags.libsonnet';\n"


@dataclass
class Case:
    code: str
    index: int
    name: str
    head: dict[str, str]
    base: dict[str, str] | None
    expect: list[dict[str, Any]]
    labels: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    inventory: dict[str, Any] | None = None
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # "head"/"base" -> validation section
    reviews: list[dict[str, str]] = field(default_factory=list)

    def pull_request(self) -> PullRequest:
        return PullRequest(
            number=1, author="dev", head_sha="head", repository="acme/flags", labels=frozenset(self.labels),
            reviews=tuple(Review(r["user"], r.get("state", "APPROVED"), r.get("commit", "head")) for r in self.reviews),
            label_events=tuple(LabelEvent(x, "reviewer", True) for x in self.labels),
        )

    @property
    def ns(self) -> str:
        return f"{self.code.lower()}_{self.index}"

    @property
    def id(self) -> str:
        return f"{self.code}-{self.index}-{self.name.replace(' ', '-')}"

    def files(self, tree: dict[str, str]) -> dict[str, str]:
        out = {}
        for name, text in tree.items():
            text = text.replace("{ns}", self.ns)
            if "/" not in name:
                rel = f"flags/{self.ns}/{name}.jsonnet"
                if not text.lstrip().startswith("local"):
                    text = HEADER + text
            else:
                rel = name.replace("{ns}", self.ns)
            out[rel] = text
        return out


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(CASES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        code = data["validator"]
        assert path.stem == code, f"{path.name} must be named after its validator {code}"
        for i, c in enumerate(data["cases"]):
            cases.append(Case(code, i, c["name"], c.get("head") or {}, c.get("base"), c.get("expect") or [],
                              c.get("labels") or [], c.get("options") or {}, c.get("inventory"),
                              c.get("settings") or {}, c.get("reviews") or []))
    return cases


def _write_tree(root: Path, files: dict[str, str]) -> None:
    shutil.copy(HERE / "data" / "safeflags.yaml", root / "safeflags.yaml")
    shutil.copytree(TEMPLATES, root / "templates")
    (root / "flags").mkdir()
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _slice(result: CompileResult, ns: str, settings: dict[str, Any] | None) -> CompileResult:
    prefix = f"flags/{ns}/"
    config = result.config
    if settings is not None:
        settings = yaml.safe_load(yaml.safe_dump(settings).replace("{ns}", ns))
        text = config.text + yaml.safe_dump({"validation": settings})
        model = config.model.model_copy(update={"validation": settings})
        config = replace(config, model=model, text=text)
    return CompileResult(
        config=config,
        specs={k: s for k, s in result.specs.items() if k.startswith(ns + ".")},
        files={k: f for k, f in result.files.items() if k.startswith(ns + ".")},
        imports={f: i for f, i in result.imports.items() if f.startswith(prefix)},
        errors=[e for e in result.errors if e.file.startswith(prefix)],
    )


class Suite:
    """All cases compiled once."""

    def __init__(self, tmp: Path, cases: list[Case]) -> None:
        self.cases = {c.id: c for c in cases}
        self.head_root, self.base_root = tmp / "head", tmp / "base"
        head, base = {}, {}
        for c in cases:
            head.update(c.files(c.head))
            if c.base is not None:
                base.update(c.files(c.base))
            if c.inventory is not None:
                for tree in (head, base):
                    tree[f"inventory/{c.ns}.yaml"] = yaml.safe_dump(c.inventory)
        for root, files in ((self.head_root, head), (self.base_root, base)):
            root.mkdir()
            _write_tree(root, files)
        self.head = compile_repo(self.head_root, revision="head", jobs=2)
        self.base = compile_repo(self.base_root, revision="base", jobs=2)
        self.classes = {cls.code: cls for cls in registry.load(REPO)}

    def run(self, case: Case) -> list[Finding]:
        cls = self.classes[case.code]
        options = dict(case.options)
        if case.inventory is not None:
            options["inventory"] = f"inventory/{case.ns}.yaml"
        validator: Validator = cls(cls.Options.model_validate(options))
        head = _slice(self.head, case.ns, case.settings.get("head"))
        base = _slice(self.base, case.ns, case.settings.get("base")) if case.base is not None else None
        # The judging settings' approver groups (the base's in pull-request mode).
        judging = case.settings.get("base" if case.base is not None else "head") or {}
        groups = {name: ApproverGroup(frozenset(g.get("users", [])), g.get("github_team", ""))
                  for name, g in (judging.get("approvers") or {}).items()}
        ctx = Context(head, base, pair(base, head) if base is not None else [],
                      case.pull_request(), self.head_root / "src" / case.ns, TODAY,
                      approvals=Approvals(case.pull_request(), groups))
        return run(ctx, [validator], {}).findings
