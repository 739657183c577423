"""`--branch` and `--pr` on the edit commands: the step committed on a branch of
its own, pushed to a real bare remote, and a pull request opened on the
GitHub stand-in; nothing leaves the machine when the step does not validate."""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from safeflags.cli.main import cli
from safeflags.ops.propose import ProposeError, repository
from tests.helpers.github_api import GitHubApi
from tests.ops.examples import example_git_repo

KEY = "storage.compaction_v3"
FILE = "flags/storage/compaction_v3.jsonnet"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("propose")
    path = example_git_repo(root / "repo")
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(root / "remote.git")], check=True)
    _git(path, "remote", "add", "origin", str(root / "remote.git"))
    _git(path, "push", "-q", "origin", "main")
    return path


@pytest.fixture(autouse=True)
def identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "dev")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "dev@example.com")
    for name in ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubApi]:
    with GitHubApi() as server:
        monkeypatch.setenv("GITHUB_TOKEN", server.token)
        monkeypatch.setenv("GITHUB_API_URL", server.url)
        monkeypatch.setenv("GITHUB_REPOSITORY", server.repository)
        yield server


def _run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, list(args))
    return res.exit_code, res.stdout, res.stderr


def _stage(text: str) -> int:
    m = re.search(r"stage\s*[=:]\s*(\d+)", text)
    assert m is not None
    return int(m.group(1))


def _unchanged(repo: Path, before: bytes) -> None:
    assert (repo / FILE).read_bytes() == before
    assert _git(repo, "symbolic-ref", "--short", "HEAD") == "main"
    assert _git(repo, "status", "--porcelain") == ""


def test_branch_commits_only_the_step_and_leaves_the_work_tree_as_it_was(repo: Path) -> None:
    before = (repo / FILE).read_bytes()
    code, out, err = _run("ramp", KEY, "--next", "--repo", str(repo), "--branch", "ramp-one")
    assert code == 0, err
    assert "committed on branch ramp-one" in out
    _unchanged(repo, before)
    assert _git(repo, "rev-list", "--count", "main..ramp-one") == "1"
    assert _git(repo, "diff", "--name-only", "main", "ramp-one").splitlines() == [FILE]
    on_branch = _git(repo, "show", f"ramp-one:{FILE}")
    assert _stage(on_branch) == _stage(before.decode()) + 1
    subject = _git(repo, "log", "-1", "--format=%s", "ramp-one")
    assert subject.startswith(f"ramp {KEY}: stage {_stage(before.decode())} (") and "→" in subject
    assert re.search(r"; (newly exposes ~|withdraws ~|exposure)", subject), subject
    assert "Exposure before → after:" in _git(repo, "log", "-1", "--format=%b", "ramp-one")


def test_an_existing_branch_is_refused_before_anything_is_written(repo: Path) -> None:
    _git(repo, "branch", "taken")
    before = (repo / FILE).read_bytes()
    code, _, err = _run("ramp", KEY, "--next", "--repo", str(repo), "--branch", "taken")
    assert code == 2 and "already exists" in err
    _unchanged(repo, before)
    assert _git(repo, "rev-parse", "taken") == _git(repo, "rev-parse", "main")


def test_pr_pushes_the_branch_and_opens_the_pull_request(repo: Path, api: GitHubApi) -> None:
    before = (repo / FILE).read_bytes()
    target = _stage(before.decode()) + 1
    code, out, err = _run("ramp", KEY, "--next", "--repo", str(repo), "--pr")
    assert code == 0, err
    branch = f"safeflags/ramp-{KEY}-{target}"
    _unchanged(repo, before)
    remote = Path(_git(repo, "remote", "get-url", "origin"))
    assert _git(remote, "rev-list", "--count", f"main..{branch}") == "1"
    assert _git(remote, "diff", "--name-only", "main", branch).splitlines() == [FILE]
    assert _git(remote, "rev-parse", branch) == _git(repo, "rev-parse", branch)
    [pr] = api.pulls.values()
    assert (pr.head_ref, pr.base_ref) == (branch, "main")
    assert pr.title == _git(repo, "log", "-1", "--format=%s", branch)
    exposure = pr.title.split("; ", 1)[1]
    assert pr.body is not None and exposure in pr.body and "safeflags validate" in pr.body
    assert "never applied" in pr.body
    assert f"opened pull request https://github.com/{api.repository}/pull/{pr.number}" in out
    assert pr.labels == []  # asked for in the body, never applied
    posts = [ex for ex in api.log if ex.method == "POST"]
    assert [(ex.path, ex.status) for ex in posts] == [(f"/repos/{api.repository}/pulls", 201)]


def test_a_step_that_does_not_validate_pushes_and_opens_nothing(repo: Path, api: GitHubApi) -> None:
    before = (repo / FILE).read_bytes()
    heads = _git(Path(_git(repo, "remote", "get-url", "origin")), "for-each-ref", "--format=%(refname)")
    code, _, err = _run("ramp", KEY, "--to", "5", "--repo", str(repo), "--pr", "--branch", "skip")
    assert code == 1 and "does not validate" in err
    _unchanged(repo, before)
    assert _git(repo, "branch", "--list", "skip") == ""
    assert _git(Path(_git(repo, "remote", "get-url", "origin")), "for-each-ref", "--format=%(refname)") == heads
    assert api.pulls == {} and api.log == []


def test_pr_without_a_token_is_refused_before_anything_is_written(repo: Path) -> None:
    before = (repo / FILE).read_bytes()
    code, _, err = _run("kill", "checkout.disable_recommendations", "--repo", str(repo), "--pr")
    assert code == 2 and "GITHUB_TOKEN" in err
    _unchanged(repo, before)
    assert _git(repo, "branch", "--list", "safeflags/kill-*") == ""


def test_a_dry_run_cannot_branch(repo: Path) -> None:
    code, _, err = _run("enable", KEY, "--repo", str(repo), "--dry-run", "--branch", "x")
    assert code == 2 and "nothing to commit" in err


@pytest.mark.parametrize(("url", "name"), [
    ("git@github.com:acme/flags.git", "acme/flags"),
    ("https://github.com/acme/flags.git", "acme/flags"),
    ("https://ghe.example.com/acme/flags", "acme/flags"),
    ("ssh://git@github.com/acme/flags.git", "acme/flags"),
])
def test_the_repository_is_read_from_the_remote_url(tmp_path: Path, url: str, name: str) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    _git(tmp_path, "remote", "add", "origin", url)
    assert repository(tmp_path, "origin") == name


def test_a_remote_that_names_no_repository_needs_github_repository(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    _git(tmp_path, "remote", "add", "origin", str(tmp_path / "remote.git"))
    with pytest.raises(ProposeError, match="GITHUB_REPOSITORY"):
        repository(tmp_path, "origin")


def test_a_flag_repository_in_a_folder_of_a_larger_git_repository(tmp_path: Path) -> None:
    inner = example_git_repo(tmp_path / "top" / "flags-repo")
    shutil.rmtree(inner / ".git")
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path / "top")], check=True)
    _git(tmp_path / "top", "add", "-A")
    _git(tmp_path / "top", "commit", "-q", "-m", "all")
    code, _, err = _run("ramp", KEY, "--next", "--repo", str(inner), "--branch", "step")
    assert code == 0, err
    assert _git(tmp_path / "top", "diff", "--name-only", "main", "step").splitlines() == [f"flags-repo/{FILE}"]
    assert _git(tmp_path / "top", "status", "--porcelain") == ""
