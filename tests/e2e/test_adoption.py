"""Adopting safeflags: the pull request that adds safeflags.yaml, a
repository's first commit, and the pre-commit hooks in a monorepo subfolder.

A base without safeflags.yaml has nothing to compare with and nothing to
judge by: `validate --base` judges the head on its own, exits by the head's
findings and says so in every format. Once the adoption is merged, the next
pull request is judged against it as usual. A repository without a single
commit has no HEAD: the hooks' `validate --base HEAD` judges the work tree.
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from safeflags.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
ACTION = "acme/safeflags@4f1c2b9e8d7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e # v0.1.0"
ALONE = "the base has no safeflags.yaml: judged the head on its own"
FLAG = "flags/example/welcome_banner.jsonnet"
SARIF_SCHEMA = json.loads((ROOT / "tests" / "report" / "data" / "sarif-2.1.0.json").read_text())


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=dev", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def safeflags(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    clean: dict[str, str | None] = {k: None for k in ("GITHUB_STEP_SUMMARY", "GITHUB_TOKEN", "GITHUB_EVENT_PATH",
                                                       "GITHUB_REPOSITORY", "SAFEFLAGS_ACTION")}
    result = CliRunner(env={**clean, **(env or {})}).invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: a repository without safeflags; `adopt`: safeflags init, committed;
    `adopt-broken`: the same with a flag whose owner is not declared."""
    root = tmp_path_factory.mktemp("adopting")
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("# flags\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    git(root, "checkout", "-q", "-b", "adopt")
    code, _, err = safeflags("init", str(root), "--action", ACTION)
    assert code == 0, err
    git(root, "add", "-A")
    git(root, "commit", "-qm", "adopt safeflags")
    git(root, "checkout", "-q", "-b", "adopt-broken")
    broken = root / "flags" / "example" / "orphan.jsonnet"
    broken.write_text((root / FLAG).read_text().replace("'team-example'", "'team-nobody'"))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "adopt, with a flag nobody owns")
    git(root, "checkout", "-q", "adopt")
    return root


def test_the_adoption_is_judged_on_its_own_in_text(repo: Path) -> None:
    code, out, err = safeflags("validate", "--repo", str(repo), "--base", "main", "-j", "1")
    assert code == 0, out + err
    assert f"safeflags: note: {ALONE} (main at " in out
    assert "0 errors, 0 warnings in 1 flag" in out


def test_the_adoption_is_judged_on_its_own_in_json(repo: Path) -> None:
    code, out, err = safeflags("validate", "--repo", str(repo), "--base", "main", "--format", "json", "-j", "1")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["judged_alone"].startswith(ALONE)
    assert doc["mode"] == "repository" and doc["summary"]["failed"] is False and doc["summary"]["flags"] == 1


def test_the_adoption_is_judged_on_its_own_in_sarif(repo: Path) -> None:
    code, out, err = safeflags("validate", "--repo", str(repo), "--base", "main", "--format", "sarif", "-j", "1")
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(doc)
    [run] = doc["runs"]
    assert run["properties"]["judgedAlone"].startswith(ALONE)
    [invocation] = run["invocations"]
    assert invocation["executionSuccessful"] is True
    [note] = invocation["toolExecutionNotifications"]
    assert note["level"] == "note" and note["message"]["text"].startswith(ALONE)
    assert run["results"] == []


def test_the_adoption_is_judged_on_its_own_in_github(repo: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    code, out, err = safeflags("validate", "--repo", str(repo), "--base", "main", "--format", "github", "-j", "1",
                               env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert code == 0, err
    assert re.search(rf"^::notice title=safeflags::{re.escape(ALONE)} \(main at [0-9a-f]{{12}}\)$", out, re.M), out
    assert ALONE.capitalize() in summary.read_text()


def test_the_adoption_exits_by_the_heads_findings(repo: Path) -> None:
    git(repo, "checkout", "-q", "adopt-broken")
    try:
        code, out, err = safeflags("validate", "--repo", str(repo), "--base", "main", "-j", "1")
    finally:
        git(repo, "checkout", "-q", "adopt")
    assert code == 1, out + err
    assert "flags/example/orphan.jsonnet" in out and "SF402" in out and "team-nobody" in out
    assert ALONE in out


def test_once_adopted_the_next_pull_request_is_judged_against_the_base(repo: Path) -> None:
    git(repo, "branch", "-f", "adopted", "adopt")  # the adoption, merged
    git(repo, "checkout", "-q", "-b", "raise-two-stages", "adopted")
    flag = repo / FLAG
    try:
        flag.write_text(flag.read_text().replace("stage=0", "stage=2"))
        git(repo, "commit", "-qam", "raise the banner two stages")
        code, out, err = safeflags("validate", "--repo", str(repo), "--base", "adopted", "--format", "json", "-j",
                                   "1")
    finally:
        git(repo, "checkout", "-q", "adopt")
    doc = json.loads(out)
    assert code == 1, out + err
    assert doc["judged_alone"] is None and doc["mode"] == "pull_request" and doc["base"]["ref"] == "adopted"
    assert "SF301" in {f["code"] for f in doc["findings"]}


def test_a_first_commit_judges_the_work_tree_on_its_own(tmp_path: Path) -> None:
    repo = tmp_path / "new"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    assert safeflags("init", str(repo), "--action", ACTION)[0] == 0
    code, out, err = safeflags("validate", "--repo", str(repo), "--base", "HEAD", "-j", "1")
    assert code == 0, out + err
    assert "the base has no commit yet (the repository's first commit): judged the head on its own" in out


def test_an_unknown_base_in_a_repository_with_commits_is_still_an_error(repo: Path) -> None:
    code, _, err = safeflags("validate", "--repo", str(repo), "--base", "no-such-branch", "-j", "1")
    assert code == 2
    assert "unknown revision 'no-such-branch'" in err


def test_the_hooks_run_on_a_first_commit_in_a_monorepo_subfolder(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Each hook of .pre-commit-hooks.yaml, as pre-commit runs it: from the
    top of the checkout, when a staged file matches its `files`, as its
    entry plus the args of the config `safeflags init` wrote."""
    top = tmp_path / "mono"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    (top / "app").mkdir()
    (top / "app" / "main.py").write_text("print('hi')\n")
    assert safeflags("init", str(top / "platform" / "flags"), "--action", ACTION)[0] == 0
    git(top, "add", "-A")
    staged = git(top, "diff", "--cached", "--name-only").split()
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    [entry] = yaml.safe_load((top / ".pre-commit-config.yaml").read_text())["repos"]
    monkeypatch.chdir(top)
    ran = []
    for configured in entry["hooks"]:
        hook = hooks[configured["id"]]
        pattern = configured.get("files", hook["files"])
        assert any(re.search(hook["files"], f) for f in staged if f.startswith("platform/flags/")), hook["id"]
        assert not any(re.search(pattern, f) for f in staged if f.startswith("app/"))
        command = shlex.split(hook["entry"])
        assert command[0] == "safeflags"
        code, out, err = safeflags(*command[1:], *configured.get("args", []), "-j", "1")
        assert code == 0, f"{hook['id']}: {out}{err}"
        ran.append(hook["id"])
    assert ran == ["safeflags-validate", "safeflags-validate-changes"]


def test_the_hooks_install_what_the_cli_extra_needs() -> None:
    cli_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["cli"]
    for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text()):
        assert hook["additional_dependencies"] == cli_extra, hook["id"]
