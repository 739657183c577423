"""The pull request's base compiled only where it differs from the head.

Each test makes a real git repository, changes something on a branch (or in
the work tree) and checks that the partial base compile (a) recompiled
exactly what it must and (b) gives the same base flags, changes and
findings as compiling the whole base tree.
"""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from safeflags.compile.cache import default_dir
from safeflags.compile.driver import CompileResult, compile_repo
from safeflags.validation.api import Change, Context
from safeflags.validation.basecompile import BaseCompile, compile_base, scan
from safeflags.validation.changes import pair, semantic
from safeflags.validation.gitrev import exported, resolve
from safeflags.validation.session import Options, judge, validate
from tests.helpers.repo import TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
HEAD = "local sf = import 'safeflags.libsonnet';\n"
FLAGS = {
    # Two importers of a team template, one importer of a library under flags/.
    "flags/billing/alpha.jsonnet": HEAD + "local team = import 'teams/billing.libsonnet';\n\nteam.release {\n"
    "  description: 'Alpha path for invoices.',\n  expires: '2027-06-30',\n  default: false,\n"
    "  rollout: sf.ramps.standard(unit='workspace_id', stage=1),\n}\n",
    "flags/billing/beta.jsonnet": HEAD + "local team = import 'teams/billing.libsonnet';\n\nteam.release {\n"
    "  description: 'Beta path for invoices.',\n  expires: '2027-06-30',\n  default: false,\n}\n",
    "flags/billing/common.libsonnet": "{ size:: 100 }\n",
    "flags/billing/gamma.jsonnet": HEAD + "local common = import 'common.libsonnet';\n\nsf.int {\n"
    "  owner: 'team-billing',\n  description: 'Invoices per batch.',\n  default: common.size,\n}\n",
    "flags/checkout/delta.jsonnet": HEAD + "\nsf.bool {\n  owner: 'team-checkout',\n"
    "  description: 'Delta checkout flow.',\n  expires: '2027-06-30',\n  default: false,\n}\n",
    # Depends on delta: a change to delta puts it in a pull request's scope.
    "flags/checkout/epsilon.jsonnet": HEAD + "\nsf.bool {\n  owner: 'team-checkout',\n"
    "  description: 'Epsilon, behind delta.',\n  expires: '2027-06-30',\n  default: false,\n"
    "  prerequisites: [sf.prereq('checkout.delta')],\n}\n",
    "templates/teams/billing.libsonnet": HEAD + "{\n  release:: sf.bool { owner: 'team-billing' },\n}\n",
}


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=dev", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("origin")
    shutil.copytree(TEMPLATES, root / "templates")
    shutil.copytree(ROOT / "validators", root / "validators", ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    for name in ("safeflags.yaml", "deployments.yaml"):
        shutil.copy(ROOT / name, root / name)
    for rel, text in FLAGS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / ".gitignore").write_text(".safeflags-cache/\n__pycache__/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


@pytest.fixture
def repo(origin: Path, tmp_path: Path) -> Path:
    """A clone with the origin's compile cache (warm, as in CI with a cache)."""
    clone = tmp_path / "repo"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    if default_dir(origin).exists():
        shutil.copytree(default_dir(origin), default_dir(clone))
    git(clone, "checkout", "-qb", "pr")
    return clone


def write(repo: Path, rel: str, text: str, *, commit: bool = True) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)
    if commit:
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"edit {rel}")


def both(repo: Path) -> Iterator[tuple[BaseCompile, CompileResult, CompileResult]]:
    head = compile_repo(repo)
    base = resolve(repo, "main")
    with (
        compile_base(repo, base, head, scan(repo, base), jobs=1, cache_dir=default_dir(repo)) as partial,
        exported(repo, "main") as rev,
    ):
        full = compile_repo(rev.root, revision=rev.commit, cache=False)
        yield partial, full, head


def same(partial: BaseCompile, full: CompileResult, head: CompileResult) -> list[Change]:
    """The partial base equals the full one: flags, files, errors, changes and findings."""
    base = partial.result
    assert sorted(base.specs) == sorted(full.specs)
    assert {k: semantic(s) for k, s in base.specs.items()} == {k: semantic(s) for k, s in full.specs.items()}
    assert base.files == full.files
    assert [(e.file, e.line, e.message) for e in base.errors] == [(e.file, e.line, e.message) for e in full.errors]
    changes = pair(base, head)
    assert [(c.key, c.kind) for c in changes] == [(c.key, c.kind) for c in pair(full, head)]
    today = date(2026, 11, 22)
    found = judge(Context(head, base, changes, today=today, base_shared=partial.shared), base).findings
    assert found == judge(Context(head, full, pair(full, head), today=today), full).findings
    return changes


def test_a_changed_template_recompiles_its_importers_on_the_base_side(repo: Path) -> None:
    template = HEAD + "{\n  release:: sf.bool { owner: 'team-billing', tags: ['x'] },\n}\n"
    write(repo, "templates/teams/billing.libsonnet", template)
    for partial, full, head in both(repo):
        assert partial.compiled == 2 and "flags/billing/alpha.jsonnet" not in partial.shared
        assert "flags/checkout/delta.jsonnet" in partial.shared
        changes = same(partial, full, head)
        assert [(c.key, c.kind) for c in changes] == [("billing.alpha", "modified"), ("billing.beta", "modified")]


def test_a_changed_library_under_flags_recompiles_its_importer(repo: Path) -> None:
    write(repo, "flags/billing/common.libsonnet", "{ size:: 200 }\n")
    for partial, full, head in both(repo):
        assert partial.compiled == 1 and "flags/billing/gamma.jsonnet" not in partial.shared
        assert [(c.key, c.kind) for c in same(partial, full, head)] == [("billing.gamma", "modified")]


def test_a_changed_safeflags_yaml_recompiles_everything(repo: Path) -> None:
    config = (repo / "safeflags.yaml").read_text().replace("max_days: 30", "max_days: 31")
    write(repo, "safeflags.yaml", config)
    for partial, full, head in both(repo):
        assert partial.shared == frozenset() and partial.compiled == len(full.files)
        same(partial, full, head)


def test_deleted_added_and_uncommitted_flags(repo: Path) -> None:
    git(repo, "rm", "-q", "flags/checkout/delta.jsonnet")
    git(repo, "commit", "-qm", "delete delta")
    write(repo, "flags/checkout/zeta.jsonnet", FLAGS["flags/checkout/delta.jsonnet"].replace("Delta", "Zeta"))
    # Uncommitted: an edit in the work tree and a new, untracked flag.
    gamma = FLAGS["flags/billing/gamma.jsonnet"].replace("common.size", "7")
    write(repo, "flags/billing/gamma.jsonnet", gamma, commit=False)
    eta = FLAGS["flags/checkout/delta.jsonnet"].replace("Delta", "Eta")
    write(repo, "flags/checkout/eta.jsonnet", eta, commit=False)
    for partial, full, head in both(repo):
        assert partial.compiled == 2  # delta (deleted) and gamma (edited); the rest from the head
        changes = same(partial, full, head)
        assert [(c.key, c.kind) for c in changes] == [
            ("billing.gamma", "modified"), ("checkout.delta", "removed"),
            ("checkout.eta", "added"), ("checkout.zeta", "added")]


@pytest.mark.parametrize("direction", ["added", "deleted"])
def test_a_file_shadowing_an_import_recompiles_the_importers(repo: Path, direction: str) -> None:
    # `import 'teams/billing.libsonnet'` looks next to the file first, then in templates/.
    shadow = "flags/billing/teams/billing.libsonnet"
    text = HEAD + "{\n  release:: sf.bool { owner: 'team-checkout' },\n}\n"
    if direction == "added":
        write(repo, shadow, text)
    else:  # the base has it; the head's imports no longer name it
        git(repo, "checkout", "-q", "main")
        write(repo, shadow, text)
        git(repo, "checkout", "-qB", "pr")
        git(repo, "rm", "-q", shadow)
        git(repo, "commit", "-qm", "unshadow")
    for partial, full, head in both(repo):
        assert {"flags/billing/alpha.jsonnet", "flags/billing/beta.jsonnet"}.isdisjoint(partial.shared)
        changed = [(c.key, c.kind) for c in same(partial, full, head)]
        assert changed == [("billing.alpha", "modified"), ("billing.beta", "modified")]


def test_a_flag_broken_on_the_base_and_fixed_by_the_change(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    delta = FLAGS["flags/checkout/delta.jsonnet"]
    write(repo, "flags/checkout/delta.jsonnet", delta.replace("default: false", "default: 'no'"))
    git(repo, "checkout", "-qB", "pr")
    write(repo, "flags/checkout/delta.jsonnet", FLAGS["flags/checkout/delta.jsonnet"])
    for partial, full, head in both(repo):
        assert partial.compiled == 1 and full.errors  # the partial compile's error is the whole base's
        assert same(partial, full, head) == []  # broken on one side: no semantic change, the error is the finding


def test_a_base_flag_importing_a_flag_file_left_out_compiles_the_whole_base(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    write(repo, "flags/checkout/delta.jsonnet",
          "(import '../billing/beta.jsonnet') {\n  description: 'Delta, from beta.',\n}\n")
    git(repo, "checkout", "-qB", "pr")
    write(repo, "flags/checkout/delta.jsonnet", FLAGS["flags/checkout/delta.jsonnet"])
    for partial, full, head in both(repo):
        assert partial.shared == frozenset()  # beta.jsonnet was not in the small tree: fell back
        assert [(c.key, c.kind) for c in same(partial, full, head)] == [("checkout.delta", "modified")]


def _codes_by_flag(repo: Path, **kw: bool) -> set[tuple[str, str | None]]:
    outcome = validate(Options(repo, "main", today=date(2029, 1, 1), jobs=1, **kw))
    return {(f.code, f.flag) for f in outcome.findings}


def test_pull_request_mode_reports_what_the_change_introduces(repo: Path) -> None:
    # Every flag is expired in 2029 (SF401 warnings); the PR touches delta only.
    delta = FLAGS["flags/checkout/delta.jsonnet"]
    write(repo, "flags/checkout/delta.jsonnet", delta.replace("default: false", "default: true"))
    shown = _codes_by_flag(repo)
    assert ("SF401", "checkout.delta") in shown and ("SF401", "checkout.epsilon") in shown  # epsilon depends on delta
    assert ("SF401", "billing.alpha") not in shown
    every = _codes_by_flag(repo, all_findings=True)
    assert ("SF401", "billing.alpha") in every and shown < every


def test_the_export_links_only_files_whose_bytes_are_the_base_blob(tmp_path: Path) -> None:
    """A base flag file is hard-linked from the work tree only when git
    hashes the work-tree bytes to the base's own blob; an edited file (here
    uncommitted, and one that differs only in a trailing byte) is written
    from the blob, so the base never sees the head's bytes."""
    from safeflags.validation.gitrev import export

    repo = tmp_path / "repo"
    files = {"flags/a/same.jsonnet": "{ x: 1 }\n", "flags/a/edited.jsonnet": "{ x: 2 }\n",
             "flags/a/byte.jsonnet": "{ x: 3 }\n"}
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (repo / "safeflags.yaml").write_text("version: 1\n")
    git = ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=repo, check=True)
    (repo / "flags/a/edited.jsonnet").write_text("{ x: 20 }\n")
    (repo / "flags/a/byte.jsonnet").write_text("{ x: 3 }\n\n")
    root = export(resolve(repo, "main"), tmp_path / "out", "flags", sorted(files), work_tree=repo)
    for rel, text in files.items():
        assert (root / rel).read_text() == text, rel
    linked = {rel for rel in files if (root / rel).stat().st_ino == (repo / rel).stat().st_ino}
    assert linked == {"flags/a/same.jsonnet"}
