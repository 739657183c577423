"""A catalogue of realistic pull requests, each judged by `validate --base`.

Each file of tests/e2e/catalogue/ is one pull request a team would open
against the example repository (flags, validators, safeflags.yaml and
inventory at the top of this repository, the packaged template library
vendored as templates/ so a case can edit it, plus a code tree reading two
flags). One git repository holds `main`, a branch per distinct `setup` and
each case's commits; a case checks its head out and runs the command
in-process with a JSON report, its labels (and who applied them), reviews
and team members served by the GitHub stand-in (tests/helpers/github_api.py).

A routine case must exit 0 with no error. An unsafe case must exit 1 with
exactly the errors it lists, each as (code, file, line); the line is given
as a text found on exactly one line of the head's file (the base's for a
file the case deletes), so an assertion names the line the change touched,
not a number that drifts. Warnings are checked only where a case lists them.

A case file:

    title: Ramp express pay one stage (5 % → 10 %)   # the pull request's title
    kind: routine | unsafe
    why: what the gate should conclude, and why      # optional, for the reader
    setup: [<edit>, ...]     # optional: committed on main first; the PR targets it
    edits: [<edit>, ...]     # the pull request's commit
    then: [<edit>, ...]      # optional: a second commit (a push after review)
    labels: [{name: safeflags/skip-stage, by: lead}]            # applied, in order
    label_events: [{name: ..., by: dev, action: unlabeled}, ...] # or the full history
    reviews: [{user: lead, state: APPROVED, commit: head}]       # commit: head | first | base
    requested: {reviewers: [lead], teams: [acme/flag-reviewers]} # requested, never submitted
    expect:
      - {code: SF301, file: flags/checkout/express_pay_mobile.jsonnet, line_of: "stage=5)"}
      - {code: SF314, file: flags/checkout/cta_copy.jsonnet, severity: warning}  # line optional

An edit is `{file, replace, with}` (the text must occur exactly once),
`{file, write}` (create or overwrite) or `{file, delete: true}`. The pull
request's author is `dev`.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from safeflags.cli.validate_cmd import command
from tests.helpers.github_api import GitHubApi
from tests.helpers.repo import TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = Path(__file__).parent / "catalogue"
REPOSITORY = "acme/flags"
AUTHOR = "dev"

# The code tree of the repository: every flag the code reads is named here.
CODE = {
    "src/billing/invoice.py": (
        "from app import client\n\n\n"
        "def tax(ctx):\n"
        '    if client.get_bool("billing.tax_engine_v2", False, ctx):\n'
        "        return 2\n"
        "    return 1\n"
    ),
    "src/gateway/upstream.py": (
        "from app import client\n\n\n"
        "def timeout_ms(ctx):\n"
        '    return client.get_int("platform.request_timeout_ms", 2000, ctx)\n'
    ),
}

# Who may approve in the catalogue's repository. The example's SF302 asks for
# the team flag-reviewers: lead is listed in safeflags.yaml, ops is a member
# of the GitHub team only (known through the API). The example's protected
# scope (SF311, GovCloud) names the team team-security, known through the
# API only: sec is in it. Inserted into the example's safeflags.yaml, which
# is otherwise kept as it is.
APPROVERS = (
    "  approvers:\n"
    "    flag-reviewers: {users: [lead], github_team: acme/flag-reviewers}\n"
)
TEAMS = {"acme/flag-reviewers": ("lead", "ops"), "acme/team-security": ("sec",)}

CASE_KEYS = {"title", "kind", "why", "setup", "edits", "then", "labels", "label_events", "reviews", "requested",
             "expect"}
EDIT_KEYS = {"file", "replace", "with", "write", "delete"}
EXPECT_KEYS = {"code", "file", "line_of", "line", "severity"}
REVIEW_KEYS = {"user", "state", "commit"}
LABEL_KEYS = {"name", "by", "action"}
# The codes of the classes: each must be asserted by some unsafe case.
CLASSES = {"SF203", "SF301", "SF302", "SF303", "SF304", "SF306", "SF307", "SF309", "SF310", "SF311", "SF312",
           "SF313"}


# --- the case files ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expected:
    code: str
    file: str
    severity: str
    line_of: str | None  # a text on the expected line
    line: int | None  # or the line itself (0: the whole file)


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    kind: str
    setup: tuple[dict[str, Any], ...]
    edits: tuple[dict[str, Any], ...]
    then: tuple[dict[str, Any], ...]
    labels: tuple[dict[str, str], ...]
    label_events: tuple[dict[str, str], ...]
    reviews: tuple[dict[str, str], ...]
    requested: dict[str, list[str]]
    expect: tuple[Expected, ...] = field(default=())


def _edits(name: str, raw: Any) -> tuple[dict[str, Any], ...]:
    assert isinstance(raw, list), f"{name}: edits are a list"
    for e in raw:
        assert isinstance(e, dict) and "file" in e and not set(e) - EDIT_KEYS, f"{name}: bad edit {e!r}"
        ops = [k for k in ("replace", "write", "delete") if k in e]
        assert len(ops) == 1, f"{name}: an edit does one of replace/write/delete: {e!r}"
        assert ("replace" in e) == ("with" in e), f"{name}: replace needs with: {e!r}"
    return tuple(raw)


def load(path: Path) -> Case:
    name = path.stem
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise AssertionError(f"{path.name} is not valid YAML: {exc}") from None
    assert isinstance(data, dict) and not set(data) - CASE_KEYS, f"{name}: unknown keys {set(data) - CASE_KEYS}"
    assert data.get("kind") in ("routine", "unsafe"), f"{name}: kind is routine or unsafe"
    assert data.get("title") and data.get("edits"), f"{name}: a title and edits are required"
    expect = []
    for x in data.get("expect") or []:
        assert isinstance(x, dict) and not set(x) - EXPECT_KEYS and "code" in x and "file" in x, f"{name}: {x!r}"
        severity = x.get("severity", "error")
        assert severity in ("error", "warning", "notice"), f"{name}: severity {severity!r}"
        assert severity != "error" or ("line_of" in x) != ("line" in x), f"{name}: an error names its line: {x!r}"
        expect.append(Expected(x["code"], x["file"], severity, x.get("line_of"), x.get("line")))
    for r in data.get("reviews") or []:
        assert isinstance(r, dict) and "user" in r and not set(r) - REVIEW_KEYS, f"{name}: bad review {r!r}"
        assert r.get("commit", "head") in ("head", "first", "base"), f"{name}: a review is on head, first or base"
    for x in [*(data.get("labels") or []), *(data.get("label_events") or [])]:
        assert isinstance(x, dict) and {"name", "by"} <= set(x) and not set(x) - LABEL_KEYS, f"{name}: bad label {x!r}"
        assert x.get("action", "labeled") in ("labeled", "unlabeled"), f"{name}: {x!r}"
    case = Case(
        name=name, title=data["title"], kind=data["kind"], setup=_edits(name, data.get("setup") or []),
        edits=_edits(name, data["edits"]), then=_edits(name, data.get("then") or []),
        labels=tuple(data.get("labels") or ()), label_events=tuple(data.get("label_events") or ()),
        reviews=tuple(data.get("reviews") or ()), requested=dict(data.get("requested") or {}), expect=tuple(expect),
    )
    errors = [x for x in case.expect if x.severity == "error"]
    assert (case.kind == "unsafe") == bool(errors), f"{name}: an unsafe case expects errors, a routine one none"
    return case


CASES = [load(p) for p in sorted(CATALOGUE.glob("*.yaml"))]


# --- the GitHub side -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PullRequestData:
    """One pull request as GitHub knows it, published to the stand-in under its own number."""

    number: int
    head_sha: str
    base: str  # the branch it targets
    label_events: tuple[tuple[str, str, bool], ...]  # (label, actor, applied?) in order
    reviews: tuple[tuple[str, str, str], ...]  # (login, state, commit) in submission order
    requested_reviewers: tuple[str, ...]
    requested_teams: tuple[str, ...]

    def publish(self, api: GitHubApi) -> None:
        api.add_pull(self.number, author=AUTHOR, head_sha=self.head_sha)
        for login in self.requested_reviewers:
            api.request_review(self.number, login)
        for name, actor, applied in self.label_events:
            (api.label if applied else api.unlabel)(self.number, name, actor=actor)
        for login, state, commit in self.reviews:
            api.review(self.number, login, state, commit=commit)

    def event(self) -> dict[str, Any]:
        """The `pull_request` event payload ($GITHUB_EVENT_PATH) as the run saw it."""
        labels: list[str] = []
        owner = REPOSITORY.split("/")[0]
        for name, _, applied in self.label_events:
            labels = [x for x in labels if x != name] + ([name] if applied else [])
        return {"action": "synchronize", "number": self.number, "repository": {"full_name": REPOSITORY},
                "sender": {"login": AUTHOR}, "pull_request": {
                    "number": self.number, "user": {"login": AUTHOR}, "labels": [{"name": x} for x in labels],
                    "head": {"sha": self.head_sha}, "base": {"ref": self.base, "repo": {"full_name": REPOSITORY}},
                    "requested_reviewers": [{"login": x} for x in self.requested_reviewers],
                    "requested_teams": [{"slug": x.rpartition("/")[2], "organization": {"login": owner}}
                                        for x in self.requested_teams]}}


# --- the repository ---------------------------------------------------------------------------------------------
Tree = dict[str, str]  # path -> text


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com", *args], cwd=repo,
                         check=True, capture_output=True, text=True, input=stdin)
    return out.stdout.strip()


def apply(tree: Tree, edits: tuple[dict[str, Any], ...], case: str) -> Tree:
    out = dict(tree)
    for e in edits:
        rel = e["file"]
        if "delete" in e:
            assert out.pop(rel, None) is not None, f"{case}: cannot delete {rel}: no such file"
        elif "write" in e:
            out[rel] = e["write"]
        else:
            assert rel in out, f"{case}: no file {rel}"
            found = out[rel].count(e["replace"])
            assert found == 1, f"{case}: {e['replace']!r} occurs {found} times in {rel} (want once)"
            out[rel] = out[rel].replace(e["replace"], e["with"])
    return out


def example_tree() -> Tree:
    """The example repository as committed on `main`."""
    tree: Tree = {}
    for name in ("flags", "validators"):
        for path in sorted((ROOT / name).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and not path.name.startswith("test_"):
                tree[path.relative_to(ROOT).as_posix()] = path.read_text(encoding="utf-8")
    tree.update({f"templates/{p.name}": p.read_text(encoding="utf-8") for p in sorted(TEMPLATES.glob("*.libsonnet"))})
    tree["deployments.yaml"] = (ROOT / "deployments.yaml").read_text(encoding="utf-8")
    text = (ROOT / "safeflags.yaml").read_text(encoding="utf-8")
    assert "\nvalidation:\n" in text and "\n  rules:\n" in text, "safeflags.yaml has no validation rules"
    if "\n  approvers:" not in text:
        text = text.replace("\n  rules:\n", "\n" + APPROVERS + "  rules:\n", 1)
    tree["safeflags.yaml"] = text
    tree.update(CODE)
    tree[".gitignore"] = ".safeflags-cache/\n__pycache__/\n"
    return tree


@dataclass(frozen=True)
class Opened:
    """A case's pull request in the repository: its commits and trees."""

    base: str  # the branch it targets
    commits: dict[str, str]  # head, first, base -> sha
    head: Tree
    base_tree: Tree


class _Import:
    """A `git fast-import` stream: every case's commits in one process."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.marks = 0

    @staticmethod
    def _data(text: str) -> str:
        return f"data {len(text.encode())}\n{text}\n"

    def commit(self, ref: str, parent: str, before: Tree, after: Tree, message: str) -> str:
        self.marks += 1
        ops = [f"D {rel}\n" for rel in sorted(set(before) - set(after))]
        ops += [f"M 100644 inline {rel}\n{self._data(text)}" for rel, text in sorted(after.items())
                if before.get(rel) != text]
        self.parts.append(f"commit {ref}\nmark :{self.marks}\ncommitter dev <dev@example.com> 1764500000 +0000\n"
                          f"{self._data(message)}from {parent}\n{''.join(ops)}\n")
        return f":{self.marks}"


class CatalogueRepo:
    """The example repository under git: `main`, a branch per distinct
    setup, a branch per case (one or two commits); built in one go."""

    def __init__(self, root: Path, cases: list[Case]) -> None:
        self.root = root
        main = example_tree()
        for rel, text in main.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "the example repository")
        main_sha = git(root, "rev-parse", "HEAD")
        stream = _Import()
        setups: dict[str, tuple[str, str, Tree]] = {}  # digest -> branch, mark, tree
        planned: dict[str, tuple[str, str, str, str, Tree, Tree]] = {}
        for case in cases:
            base, parent, base_tree = "main", main_sha, main
            if case.setup:
                digest = hashlib.sha256(json.dumps(case.setup, sort_keys=True).encode()).hexdigest()[:12]
                if digest not in setups:
                    tree = apply(main, case.setup, case.name)
                    mark = stream.commit(f"refs/heads/setup-{digest}", main_sha, main, tree, f"setup of {case.name}")
                    setups[digest] = (f"setup-{digest}", mark, tree)
                base, parent, base_tree = setups[digest]
            first_tree = apply(base_tree, case.edits, case.name)
            first = stream.commit(f"refs/heads/pr-{case.name}", parent, base_tree, first_tree, case.title)
            head, head_tree = first, first_tree
            if case.then:
                head_tree = apply(first_tree, case.then, case.name)
                head = stream.commit(f"refs/heads/pr-{case.name}", first, first_tree, head_tree, "follow-up")
            planned[case.name] = (base, parent, first, head, base_tree, head_tree)
        marks = root / ".git" / "catalogue-marks"
        git(root, "fast-import", "--quiet", f"--export-marks={marks}", stdin="".join(stream.parts) + "done\n")
        sha = dict(line.split() for line in marks.read_text().splitlines())
        sha[main_sha] = main_sha
        self.opened = {
            name: Opened(base, {"base": sha[parent], "first": sha[first], "head": sha[head]}, head_tree, base_tree)
            for name, (base, parent, first, head, base_tree, head_tree) in planned.items()
        }

    def open(self, case: Case, number: int) -> tuple[Opened, PullRequestData]:
        """Check the case's head out (the work tree is what `validate` compiles)."""
        opened = self.opened[case.name]
        git(self.root, "checkout", "-q", "-f", opened.commits["head"])
        events = case.label_events or tuple({**x, "action": "labeled"} for x in case.labels)
        return opened, PullRequestData(
            number=number, head_sha=opened.commits["head"], base=opened.base,
            label_events=tuple((x["name"], x["by"], x.get("action", "labeled") == "labeled") for x in events),
            reviews=tuple((r["user"], r.get("state", "APPROVED"), opened.commits[r.get("commit", "head")])
                          for r in case.reviews),
            requested_reviewers=tuple(case.requested.get("reviewers", ())),
            requested_teams=tuple(case.requested.get("teams", ())),
        )


@pytest.fixture(scope="module")
def catalogue_repo(tmp_path_factory: pytest.TempPathFactory) -> CatalogueRepo:
    return CatalogueRepo(tmp_path_factory.mktemp("catalogue"), CASES)


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubApi]:
    owner, name = REPOSITORY.split("/")
    with GitHubApi(owner, name) as api:
        for team, members in TEAMS.items():
            api.team(team, members=members)
        yield api


# --- judging ----------------------------------------------------------------------------------------------------
def line_of(case: Case, x: Expected, opened: Opened) -> int:
    """The expected line: given, or the one line of the file holding
    `line_of` (the head's file; the base's for a file the case deletes)."""
    if x.line is not None:
        return x.line
    assert x.line_of is not None
    text = opened.head.get(x.file, opened.base_tree.get(x.file))
    assert text is not None, f"{case.name}: no file {x.file}"
    hits = [i for i, ln in enumerate(text.splitlines(), 1) if x.line_of in ln]
    assert len(hits) == 1, f"{case.name}: {x.line_of!r} is on {len(hits)} lines of {x.file} (want one)"
    return hits[0]


def run_validate(repo: CatalogueRepo, pr: PullRequestData, api: GitHubApi, out: Path) -> tuple[int, Any]:
    event = out / "event.json"
    event.write_text(json.dumps(pr.event()))
    report = out / "report.json"
    args = ["--repo", str(repo.root), "--base", pr.base, "--format", "json", "--output", str(report),
            "--event", str(event)]
    env = {"GITHUB_API_URL": api.url, "GITHUB_TOKEN": api.token, "GITHUB_REPOSITORY": REPOSITORY}
    result = CliRunner().invoke(command, args, env=env)
    assert result.exit_code in (0, 1) and report.exists(), f"exit {result.exit_code}, no report:\n{result.output}"
    return result.exit_code, json.loads(report.read_text())


def shown(findings: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {f['severity']} {f['code']} {f['file']}:{f['line']}: {f['message']}" for f in findings)


@pytest.mark.parametrize("number,case", list(enumerate(CASES, 1)), ids=[c.name for c in CASES])
def test_pull_request(number: int, case: Case, catalogue_repo: CatalogueRepo, github: GitHubApi,
                      tmp_path: Path) -> None:
    opened, pr = catalogue_repo.open(case, number)
    pr.publish(github)
    code, report = run_validate(catalogue_repo, pr, github, tmp_path)
    findings = report["findings"]
    errors = {(f["code"], f["file"], f["line"]) for f in findings if f["severity"] == "error"}
    expected = {(x.code, x.file, line_of(case, x, opened)) for x in case.expect if x.severity == "error"}
    context = f"{case.title} ({case.kind})\nexit {code}; findings:\n{shown(findings) or '  none'}"
    assert errors == expected, context
    assert code == (1 if case.kind == "unsafe" else 0), context
    for x in case.expect:
        if x.severity == "error":
            continue
        got = {(f["file"], f["line"]) for f in findings if f["code"] == x.code and f["severity"] == x.severity}
        assert {f for f, _ in got} >= {x.file}, f"{case.name}: no {x.severity} {x.code} in {x.file}\n{context}"
        if x.line_of is not None or x.line is not None:
            assert (x.file, line_of(case, x, opened)) in got, context


def test_the_catalogue_covers_both_ways() -> None:
    routine = [c for c in CASES if c.kind == "routine"]
    unsafe = [c for c in CASES if c.kind == "unsafe"]
    assert len(CASES) >= 60 and len(routine) >= 25 and len(unsafe) >= 30, (len(routine), len(unsafe))
    assert len({c.title for c in CASES}) == len(CASES), "two cases share a title"
    asserted = {x.code for c in unsafe for x in c.expect if x.severity == "error"}
    assert asserted >= CLASSES, f"no unsafe case asserts {sorted(CLASSES - asserted)}"
    warned = {x.code for c in CASES for x in c.expect if x.severity == "warning"}
    assert "SF314" in warned, "no case checks the experiment reassignment warning"
