"""`safeflags init`: turn a directory into a flag repository that validates.

What it writes is the smallest repository the rest of the tool chain
accepts as it is: `validate` passes right after it, its pull request is
judged by the Action and its commits by the pre-commit hooks. A file that
exists is never replaced without `--force`, and then nothing at all is
written (a half-initialised repository is worse than none).

The workflows and the pre-commit config belong at the top of the git
checkout (GitHub and pre-commit read them only there); everything else goes
into DIR, which may be a monorepo's subfolder: the Action, the scheduled
flips and the hooks are then told where it is. All pin the Action's
repository to a commit (the scheduled flips install safeflags from it): the
one this safeflags was installed from (pip records it for a git install),
or `--action`.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import metadata
from pathlib import Path

import click

from safeflags.cli._common import EXIT_OK, EXIT_USAGE, exits
from safeflags.cli._scaffold import (
    CONFIG,
    EXAMPLE_FLAG,
    EXAMPLE_KEY,
    EXAMPLE_PATH,
    IGNORED,
    precommit_config,
    schedule_workflow,
    workflow,
)
from safeflags.compile.config import CONFIG_FILE
from safeflags.version import __version__

WORKFLOW = ".github/workflows/validate-flags.yml"
SCHEDULE_WORKFLOW = ".github/workflows/schedule-flips.yml"
PRECOMMIT = ".pre-commit-config.yaml"

# OWNER/REPO[/PATH]@<commit>[ # TAG]: a tag or a branch can move under the pin.
_ACTION = re.compile(r"^(?P<repo>[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+)(?P<path>/[^@\s]+)?"
                     r"@(?P<sha>[0-9a-f]{40})(?:\s*#\s*(?P<tag>\S+))?$")
_GITHUB = re.compile(r"github\.com[/:](?P<repo>[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+?)(?:\.git)?/?$")
_VERSION_TAG = re.compile(r"^v?\d+\.\d+")


@dataclass(frozen=True)
class Action:
    """The Action's repository pinned to a commit, with the tag it stands for."""

    repo: str  # OWNER/REPO
    path: str  # "" or "/sub/dir" (an action in a subdirectory of the repository)
    sha: str
    tag: str

    @property
    def uses(self) -> str:
        return f"{self.repo}{self.path}@{self.sha} # {self.tag}"


def parse_action(text: str) -> Action | None:
    m = _ACTION.match(text.strip())
    if m is None:
        return None
    return Action(m["repo"], m["path"] or "", m["sha"], m["tag"] or f"v{__version__}")


def installed_action() -> Action | None:
    """The GitHub repository and commit this safeflags was installed from,
    as pip recorded it (PEP 610 direct_url.json of a git install); None for
    any other install (a wheel, an index, a local directory)."""
    try:
        raw = metadata.distribution("safeflags").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        info = json.loads(raw or "null")
    except json.JSONDecodeError:
        return None
    if not isinstance(info, dict):
        return None
    vcs = info.get("vcs_info") or {}
    m = _GITHUB.search(str(info.get("url", "")))
    sha = str(vcs.get("commit_id", ""))
    if vcs.get("vcs") != "git" or m is None or not re.fullmatch(r"[0-9a-f]{40}", sha):
        return None
    asked = str(vcs.get("requested_revision") or "")
    sub = str(info.get("subdirectory") or "").strip("/")
    return Action(m["repo"], f"/{sub}" if sub else "", sha, asked if _VERSION_TAG.match(asked) else f"v{__version__}")


def checkout(directory: Path) -> tuple[Path, str]:
    """The top of the git checkout holding `directory` and its path inside
    it ("" at the top, else ending in "/"); `directory` itself when it is
    not in a checkout (yet)."""
    existing = directory
    while not existing.is_dir():
        existing = existing.parent
    try:
        proc = subprocess.run(["git", "-C", str(existing), "rev-parse", "--show-toplevel"], capture_output=True,
                              text=True, check=False)
    except OSError:
        return directory, ""
    if proc.returncode != 0 or not proc.stdout.strip():
        return directory, ""
    top = Path(proc.stdout.strip()).resolve()
    try:
        rel = directory.relative_to(top).as_posix()
    except ValueError:  # inside the git directory itself, or a link git sees through
        return directory, ""
    return top, "" if rel == "." else rel + "/"


def _ignore_lines(path: Path) -> list[str]:
    """The entries of IGNORED that `path` (a .gitignore) lacks."""
    have = set()
    if path.exists():
        have = {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    return [e for e in IGNORED if e not in have and e.rstrip("/") not in have and "/" + e not in have]


def _shown(path: Path) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else str(path)


def run(directory: Path, force: bool, action_text: str | None, skip_existing: bool = False) -> int:
    if action_text is not None:
        action = parse_action(action_text)
        if action is None:
            click.echo(f"safeflags: error: --action {action_text!r} is not OWNER/REPO@COMMIT (the full 40-digit "
                       "commit: a tag or a branch can move under the pin), e.g. acme/safeflags@"
                       + "0" * 40 + " # v" + __version__, err=True)
            return EXIT_USAGE
    else:
        action = installed_action()
    directory = directory.resolve()
    top, prefix = checkout(directory)
    expires = (date.today() + timedelta(days=90)).isoformat()
    files: dict[Path, str] = {
        directory / CONFIG_FILE: CONFIG,
        directory / EXAMPLE_PATH: EXAMPLE_FLAG.replace("<<EXPIRES>>", expires),
    }
    if action is not None:
        files[top / WORKFLOW] = workflow(action.uses, prefix)
        files[top / SCHEDULE_WORKFLOW] = schedule_workflow(action.repo, action.path, action.sha, prefix)
        files[top / PRECOMMIT] = precommit_config(action.repo, action.sha, action.tag, prefix)
    existing = sorted(p for p in files if p.exists() or p.is_symlink())
    if existing and skip_existing:
        for path in existing:
            del files[path]
        click.echo("kept " + ", ".join(_shown(p) for p in existing) + " (they exist)")
    elif existing and not force:
        click.echo("safeflags: error: init would overwrite " + ", ".join(_shown(p) for p in existing)
                   + "; nothing written (--force overwrites them, --skip-existing keeps them)", err=True)
        return EXIT_USAGE
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()  # replace the link itself, never the file it points at
        path.write_text(text, encoding="utf-8")
    ignore = directory / ".gitignore"
    missing = _ignore_lines(ignore)
    if missing:
        before = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
        sep = "" if not before or before.endswith("\n") else "\n"
        ignore.write_text(before + sep + "".join(e + "\n" for e in missing), encoding="utf-8")
    _report(directory, top, action, files, missing, ignore)
    return EXIT_OK


def _report(directory: Path, top: Path, action: Action | None, files: dict[Path, str], ignored: list[str],
            ignore: Path) -> None:
    what = {
        directory / CONFIG_FILE: "the dimension catalog, owners and validation settings",
        directory / EXAMPLE_PATH: f"the flag {EXAMPLE_KEY}",
        top / WORKFLOW: f"pull requests validated by {action.uses if action else ''}",
        top / SCHEDULE_WORKFLOW: "due ramp steps proposed hourly by the same release's `safeflags schedule --pr`",
        top / PRECOMMIT: "commits validated by the same release's hooks",
    }
    for path in files:
        click.echo(f"wrote {_shown(path)} ({what[path]})")
    if ignored:
        click.echo(f"added {', '.join(ignored)} to {_shown(ignore)} (the compiled bundle, the compile cache)")
    if action is None:
        click.echo(f"not written: {WORKFLOW}, {SCHEDULE_WORKFLOW} and {PRECOMMIT}: no commit of the Action to "
                   "pin (this safeflags was not installed from GitHub with git); `safeflags init --skip-existing "
                   "--action OWNER/safeflags@COMMIT` writes them")
    repo = f" --repo {_shown(directory)}" if _shown(directory) != "." else ""
    click.echo("next:")
    click.echo(f"  1. edit {_shown(directory / CONFIG_FILE)}: your dimensions, your teams (owners), who approves "
               "(validation.approvers)")
    click.echo(f"  2. safeflags validate{repo}   (passes now; `safeflags new` scaffolds the next flag)")
    click.echo("  3. commit on a branch and open a pull request: the workflow judges it (its base has no "
               f"{CONFIG_FILE} yet: the head is judged on its own)")
    if action is not None:
        click.echo("  4. pre-commit install   (optional: validate each commit)")


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite files that exist (otherwise nothing is written).")
@click.option("--skip-existing", is_flag=True, help="Keep the files that exist and write the others.")
@click.option("--action", "action", envvar="SAFEFLAGS_ACTION", show_envvar=True, default=None,
              metavar="OWNER/REPO@COMMIT",
              help="The safeflags Action the workflows and the pre-commit hooks pin, by full commit "
                   "[default: the GitHub repository and commit this safeflags was installed from, as pip "
                   "recorded it; without one none of them is written].")
@exits
def command(directory: Path, force: bool, skip_existing: bool, action: str | None) -> int:
    """Make DIRECTORY (default: here) a flag repository.

    Writes a commented safeflags.yaml (a dimension catalog with static and
    runtime dimensions, an owner, validation settings), one example flag,
    .github/workflows/validate-flags.yml (the Action pinned to a commit),
    .github/workflows/schedule-flips.yml (`safeflags schedule --pr` on a
    cron, the same commit) and .pre-commit-config.yaml at the top of the
    git checkout, and adds
    build/ and .safeflags-cache/ to .gitignore. `safeflags validate`
    passes right after it. Refuses to overwrite any file without --force
    (exit 2, nothing written); --skip-existing keeps them and writes the
    rest.
    """
    if force and skip_existing:
        raise click.UsageError("--force and --skip-existing exclude each other")
    return run(directory, force, action, skip_existing)
