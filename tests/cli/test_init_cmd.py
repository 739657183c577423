"""`safeflags init`: a directory becomes a flag repository that validates,
nothing is overwritten without --force, and the workflow and the hooks pin
the Action to a commit (from --action, or pip's record of a git install)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from safeflags.cli import init_cmd
from safeflags.cli.main import cli
from safeflags.version import __version__

ROOT = Path(__file__).resolve().parents[2]
SHA = "4f1c2b9e8d7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"
ACTION = f"acme/safeflags@{SHA} # v9.9.9"
WORKFLOW = ".github/workflows/validate-flags.yml"
SCHEDULE = ".github/workflows/schedule-flips.yml"


def run(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner(env={"SAFEFLAGS_ACTION": None, **(env or {})}).invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def git_init(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    return path


def test_init_writes_a_repository_that_validates(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    code, out, err = run("init", str(repo), "--action", ACTION)
    assert code == 0, err
    for rel in ("safeflags.yaml", "flags/example/welcome_banner.jsonnet", WORKFLOW, SCHEDULE,
                ".pre-commit-config.yaml"):
        assert (repo / rel).is_file(), rel
        assert re.search(rf"^wrote \S*{re.escape(rel)} \(", out, re.M), out
    assert (repo / ".gitignore").read_text() == "build/\n.safeflags-cache/\n"
    assert "next:" in out and "safeflags validate" in out
    assert "templates" not in {p.name for p in repo.iterdir()}  # the packaged library serves the import
    config = yaml.safe_load((repo / "safeflags.yaml").read_text())
    dims = config["dimensions"]
    assert {n for n, d in dims.items() if d.get("static")} >= {"environment", "region"}
    assert {n for n, d in dims.items() if not d.get("static")} >= {"user_id", "plan"}
    assert config["validation"]["rules"]["SF302"]["max_percent"] == 20
    assert "flag-reviewers" in config["validation"]["approvers"]
    code, out, err = run("validate", "--repo", str(repo), "-j", "1")
    assert code == 0, out + err
    assert "0 errors, 0 warnings in 1 flag" in out


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    (repo / "safeflags.yaml").write_text("mine\n")
    (repo / WORKFLOW).parent.mkdir(parents=True)
    (repo / WORKFLOW).write_text("mine too\n")
    before = sorted(p.relative_to(repo) for p in repo.rglob("*") if ".git" not in p.parts)
    code, out, err = run("init", str(repo), "--action", ACTION)
    assert code == 2
    assert "safeflags.yaml" in err and "validate-flags.yml" in err and "--force" in err
    assert out == ""
    assert sorted(p.relative_to(repo) for p in repo.rglob("*") if ".git" not in p.parts) == before
    assert (repo / "safeflags.yaml").read_text() == "mine\n"


def test_the_schedule_workflow_is_refused_like_the_others_and_forced_over(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    (repo / SCHEDULE).parent.mkdir(parents=True)
    (repo / SCHEDULE).write_text("mine\n")
    code, out, err = run("init", str(repo), "--action", ACTION)
    assert (code, out) == (2, "") and "schedule-flips.yml" in err and "--force" in err
    assert not (repo / "safeflags.yaml").exists() and (repo / SCHEDULE).read_text() == "mine\n"
    code, out, err = run("init", str(repo), "--action", ACTION, "--force")
    assert code == 0, err
    job = yaml.safe_load((repo / SCHEDULE).read_text())["jobs"]["schedule"]
    [install] = [s["run"] for s in job["steps"] if s.get("name") == "Install safeflags"]
    assert f'"safeflags[cli] @ git+https://github.com/acme/safeflags@{SHA}"' in install  # the Action's commit
    assert job["steps"][-1]["run"].rstrip().endswith("safeflags schedule --pr")


def test_force_overwrites_and_gitignore_entries_are_added_once(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    (repo / ".gitignore").write_text("node_modules/\nbuild")  # one of ours already, no final newline
    (repo / "safeflags.yaml").write_text("mine\n")
    code, _, err = run("init", str(repo), "--action", ACTION, "--force")
    assert code == 0, err
    assert "dimensions:" in (repo / "safeflags.yaml").read_text()
    assert (repo / ".gitignore").read_text() == "node_modules/\nbuild\n.safeflags-cache/\n"
    code, out, err = run("init", str(repo), "--action", ACTION, "--force")
    assert code == 0, err
    assert (repo / ".gitignore").read_text() == "node_modules/\nbuild\n.safeflags-cache/\n"
    assert ".gitignore" not in out


def test_without_a_commit_to_pin_the_workflow_and_hooks_are_not_written(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(init_cmd, "installed_action", lambda: None)
    repo = git_init(tmp_path / "repo")
    code, out, err = run("init", str(repo))
    assert code == 0, err
    assert "not written" in out and "--action" in out
    assert (repo / "safeflags.yaml").is_file()
    assert not (repo / ".github").exists() and not (repo / ".pre-commit-config.yaml").exists()
    assert SCHEDULE in out
    # Later, with the commit to pin: the edited config is kept, the two missing files written.
    (repo / "safeflags.yaml").write_text((repo / "safeflags.yaml").read_text() + "# edited\n")
    code, out, err = run("init", str(repo), "--skip-existing", "--action", ACTION)
    assert code == 0, err
    assert "kept" in out and (repo / "safeflags.yaml").read_text().endswith("# edited\n")
    assert (repo / WORKFLOW).is_file() and (repo / SCHEDULE).is_file() and (repo / ".pre-commit-config.yaml").is_file()
    assert run("init", str(repo), "--skip-existing", "--force")[0] == 2


@pytest.mark.parametrize("action", ["acme/safeflags@v1", "acme/safeflags@main", "acme/safeflags@" + SHA[:12],
                                    "safeflags@" + SHA, "acme/safeflags"])
def test_the_action_must_be_pinned_to_a_full_commit(tmp_path: Path, action: str) -> None:
    code, _, err = run("init", str(tmp_path / "repo"), "--action", action)
    assert code == 2
    assert "OWNER/REPO@COMMIT" in err
    assert not (tmp_path / "repo").exists()


class _Dist:
    def __init__(self, text: str | None) -> None:
        self.text = text

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return self.text


@pytest.mark.parametrize(("record", "uses"), [
    ({"url": "https://github.com/acme/safeflags", "vcs_info": {"vcs": "git", "commit_id": SHA,
                                                               "requested_revision": "v1.2.0"}},
     f"acme/safeflags@{SHA} # v1.2.0"),
    ({"url": "ssh://git@github.com/acme/safe-flags.git", "vcs_info": {"vcs": "git", "commit_id": SHA,
                                                                     "requested_revision": "main"}},
     f"acme/safe-flags@{SHA} # v{__version__}"),
    ({"url": "https://github.com/acme/tools", "subdirectory": "safeflags",
      "vcs_info": {"vcs": "git", "commit_id": SHA}},
     f"acme/tools/safeflags@{SHA} # v{__version__}"),
    ({"url": "file:///src/safeflags", "vcs_info": {"vcs": "git", "commit_id": SHA}}, None),
    ({"url": "file:///src/safeflags", "dir_info": {"editable": True}}, None),
    ({"url": "https://github.com/acme/safeflags", "vcs_info": {"vcs": "hg", "commit_id": SHA}}, None),
    (None, None),
])
def test_the_default_action_is_the_github_commit_pip_installed(monkeypatch: pytest.MonkeyPatch,
                                                               record: dict[str, object] | None,
                                                               uses: str | None) -> None:
    text = json.dumps(record) if record is not None else None
    monkeypatch.setattr(init_cmd.metadata, "distribution", lambda name: _Dist(text))
    action = init_cmd.installed_action()
    assert (action.uses if action else None) == uses


def test_in_a_monorepo_subfolder_the_workflow_and_hooks_are_told_where(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    top = git_init(tmp_path / "mono")
    sub = top / "services" / "flags"
    code, out, err = run("init", str(sub), "--action", ACTION)
    assert code == 0, err
    assert (sub / "safeflags.yaml").is_file() and (sub / ".gitignore").is_file()
    assert not (sub / ".github").exists()
    workflow = yaml.safe_load((top / WORKFLOW).read_text())
    [step] = [s for s in workflow["jobs"]["validate"]["steps"] if s["uses"].startswith("acme/")]
    assert step["with"]["repo"] == "services/flags"
    scheduled = yaml.safe_load((top / SCHEDULE).read_text())["jobs"]["schedule"]["steps"][-1]["run"]
    assert scheduled.rstrip().endswith('safeflags schedule --pr --repo "services/flags"')
    config = yaml.safe_load((top / ".pre-commit-config.yaml").read_text())
    [entry] = config["repos"]
    assert entry["repo"] == "https://github.com/acme/safeflags" and entry["rev"] == SHA
    declared = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert {h["id"] for h in entry["hooks"]} == declared
    for hook in entry["hooks"]:
        assert hook["args"] == ["--repo", "services/flags"]
        assert re.search(hook["files"], "services/flags/flags/example/welcome_banner.jsonnet")
        assert re.search(hook["files"], "services/flags/safeflags.yaml")
        assert not re.search(hook["files"], "services/other/flags/x.jsonnet")
    monkeypatch.chdir(top)  # where pre-commit runs a hook
    code, out, err = run("validate", *entry["hooks"][0]["args"], "-j", "1")
    assert code == 0, out + err


def _tool(name: str) -> str:
    found = shutil.which(name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


@pytest.mark.parametrize("path", [WORKFLOW, SCHEDULE])
def test_the_workflow_pins_every_action_and_lints_clean(tmp_path: Path, path: str) -> None:
    repo = git_init(tmp_path / "repo")
    assert run("init", str(repo), "--action", ACTION)[0] == 0
    text = (repo / path).read_text()
    uses = re.findall(r"uses: (\S+)(.*)", text)
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", u) and re.match(r" # v\d", c)
                        for u, c in uses), uses
    if path == WORKFLOW:
        assert f"uses: {ACTION}" in text
    for command in ([_tool("actionlint"), "-no-color", path], [_tool("zizmor"), "--offline", path]):
        proc = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
