"""Propose an applied edit for review: commit it on a new branch and, with a
pull request asked for, push the branch and open the pull request.

The commit is built with git's plumbing on a private index (hash the edited
file, replace it in HEAD's tree, commit that tree on HEAD): the user's
index, HEAD and checked-out branch are never touched, and only the flag file
differs from HEAD in the commit, whatever else the work tree holds. The
edited file is then put back as it was, so the edit lives on the branch
only and the user stays where they were, free to ramp another flag.

The pull request is opened with one POST to the REST API through the
standard library, as safeflags.validation.github reads it: one request does
not need a second HTTP stack. Labels the step needs are listed in its body
for reviewers to give, never applied: an approval applied by the tool that
asks for it would approve nothing.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from safeflags.ops.apply import Applied
from safeflags.ops.edit import Edit, EditRefused
from safeflags.report.summary import markdown_summary, pct
from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.validation.github import API_VERSION, DEFAULT_API_URL, GitHubError
from safeflags.version import __version__

_REMOTE_REPOSITORY = re.compile(r"^(?:[a-z+]+://[^/]+/|[^@/:]+@[^:]+:)([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")
_BRANCH_WORD = re.compile(r"[^A-Za-z0-9._-]+")
BODY_LIMIT = 60_000  # GitHub refuses a pull request body over 65,536 characters


class ProposeError(SafeflagsError):
    """git or the pull request failed after the edit validated: exit 2."""


@dataclass(frozen=True)
class Proposal:
    branch: str
    commit: str
    message: str
    pull_url: str | None = None


def default_branch(edit: Edit) -> str:
    """`safeflags/<command>-<key>-<what>`, e.g. safeflags/ramp-billing.new_invoice_path-3."""
    command = edit.step.split(" ", 1)[0]
    what = str(edit.expected.rollout.stage) if command == "ramp" else ""
    return "safeflags/" + "-".join(_BRANCH_WORD.sub("-", w).strip("-") for w in (command, edit.key, what) if w)


def exposure_phrase(applied: Applied) -> str:
    """What the step does to all traffic, in a few words."""
    if not applied.exposure:
        return "exposure unchanged"
    whole = applied.exposure[0]
    if whole.after > whole.before:
        return f"newly exposes ~{pct(whole.after - whole.before)} of {whole.label}"
    if whole.after < whole.before:
        return f"withdraws ~{pct(whole.before - whole.after)} of {whole.label}"
    return f"exposure of {whole.label} unchanged ({pct(whole.after)})"


def commit_message(applied: Applied) -> str:
    lines = [f"{applied.edit.step.replace(' -> ', ' → ')}; {exposure_phrase(applied)}", "", "Exposure before → after:"]
    return "\n".join([*lines, *applied.exposure_lines(), ""])


def reviewer_asks(applied: Applied) -> list[str]:
    """What reviewers must give for this step: the hints of the step's
    findings that name a label or an approval (a passing step has none
    unless a check let it through pending one)."""
    out = []
    for f in applied.outcome.findings:
        if f.flag == applied.edit.key and f.hint and re.search(r"label|approv", f.hint, re.IGNORECASE):
            out.append(f"{f.code}: {f.hint}")
    return out


def pull_body(applied: Applied) -> str:
    asks = reviewer_asks(applied)
    head = [f"**{applied.edit.step.replace(' -> ', ' → ')}**; {exposure_phrase(applied)}.", "",
            "Exposure before → after:", "", *(f"-{line[1:]}" for line in applied.exposure_lines()), "",
            "### Reviewers", ""]
    head += [f"- {a}" for a in asks] if asks else ["The checks ask for no approval label beyond the usual review."]
    head += ["", "Labels are never applied by safeflags: a reviewer gives them.", ""]
    start = "\n".join(head)
    return start + markdown_summary(applied.outcome, limit=max(BODY_LIMIT - len(start.encode("utf-8")), 0))


def _git(repo: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, input=stdin,
                          env={**os.environ, **(env or {})}, check=False)
    if proc.returncode != 0:
        raise ProposeError(f"git {' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def _ok(repo: Path, *args: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False).returncode == 0


def check(repo: Path, file: str, branch: str, *, remote: str | None) -> None:
    """Refuse before anything is written: what would make the commit or the
    push fail, or carry more than the step."""
    if not _ok(repo, "rev-parse", "--verify", "-q", "HEAD"):
        raise EditRefused(f"{repo} has no commit to branch from")
    if _ok(repo, "show-ref", "--verify", "-q", f"refs/heads/{branch}"):
        raise EditRefused(f"branch {branch} already exists: give another --branch")
    if not _ok(repo, "check-ref-format", f"refs/heads/{branch}"):
        raise EditRefused(f"{branch!r} is not a valid branch name")
    if not _ok(repo, "diff", "--quiet", "HEAD", "--", file):
        raise EditRefused(f"{file} has uncommitted changes: the branch would carry them with the step; "
                          "commit or discard them first")
    if remote is None:
        return
    if not _ok(repo, "remote", "get-url", remote):
        raise EditRefused(f"no git remote {remote!r} to push to (--remote)")
    if not os.environ.get("GITHUB_TOKEN"):
        raise EditRefused("--pr needs a GitHub token in GITHUB_TOKEN")
    current_branch(repo)


def commit(repo: Path, applied: Applied, branch: str) -> Proposal:
    """Commit the written edit on a new branch from HEAD, then put the file
    back as it was before the edit (left written when the commit fails, so
    the step is not lost)."""
    edit = applied.edit
    path = repo / edit.file
    message = commit_message(applied)
    # The flag repository may be a folder of a larger git repository: ls-tree
    # takes paths from the directory it runs in, --cacheinfo from the top.
    rel = _git(repo, "rev-parse", "--show-prefix") + edit.file
    listed = _git(repo, "ls-tree", "HEAD", "--", edit.file).split()
    mode = listed[0] if listed else "100644"
    blob = _git(repo, "hash-object", "-w", "--", str(path))
    with tempfile.TemporaryDirectory() as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(repo, "read-tree", "HEAD", env=index)
        _git(repo, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{rel}", env=index)
        tree = _git(repo, "write-tree", env=index)
    sha = _git(repo, "commit-tree", tree, "-p", "HEAD", "-F", "-", stdin=message)
    # An empty old value: create only, never move a branch that appeared meanwhile.
    _git(repo, "update-ref", f"refs/heads/{branch}", sha, "")
    path.write_bytes(edit.before.encode("utf-8"))
    return Proposal(branch, sha, message)


def repository(repo: Path, remote: str) -> str:
    """owner/name: $GITHUB_REPOSITORY, else read from the remote's URL."""
    named = os.environ.get("GITHUB_REPOSITORY", "").strip()
    if named:
        return named
    url = _git(repo, "remote", "get-url", remote)
    m = _REMOTE_REPOSITORY.match(url)
    if m is None:
        raise ProposeError(f"cannot tell the GitHub repository from remote {remote} ({url}): set GITHUB_REPOSITORY")
    return f"{m.group(1)}/{m.group(2)}"


def open_pull(api_url: str, token: str, repo_name: str, *, title: str, head: str, base: str, body: str,
              timeout: float = 30.0) -> str:
    """POST /repos/{owner}/{repo}/pulls; the pull request's html_url."""
    owner, _, name = repo_name.partition("/")
    if not owner or not name or "/" in name:
        raise GitHubError(f"the repository must be written owner/name, not {repo_name!r}")
    url = f"{api_url.rstrip('/')}/repos/{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(name, safe='')}/pulls"
    data = json.dumps({"title": title, "head": head, "base": base, "body": body}).encode("utf-8")
    req = urllib.request.Request(url, data=data, method="POST", headers={
        "Accept": "application/vnd.github+json", "Content-Type": "application/json",
        "X-GitHub-Api-Version": API_VERSION, "User-Agent": f"safeflags/{__version__}",
    })
    # Unredirected: a redirect elsewhere never carries the token.
    req.add_unredirected_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.loads(resp.read(8 * 1024 * 1024) or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read(64 * 1024) or b"{}").get("message", "")
        except (ValueError, AttributeError, OSError):
            detail = ""
        finally:
            exc.close()
        raise GitHubError(f"GitHub API: POST {url} returned HTTP {exc.code}" + (f" ({detail})" if detail else ""),
                          status=exc.code, url=url) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise GitHubError(f"GitHub API: POST {url} failed: {getattr(exc, 'reason', exc)}", url=url) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("html_url"), str):
        raise GitHubError(f"GitHub API: POST {url} answered no pull request", url=url)
    return str(answer["html_url"])


def current_branch(repo: Path) -> str:
    if not _ok(repo, "symbolic-ref", "-q", "HEAD"):
        raise EditRefused("HEAD is detached: check out the branch the pull request should merge into")
    return _git(repo, "symbolic-ref", "--short", "HEAD")


def propose(repo: Path, applied: Applied, branch: str, *, pull: bool, remote: str = "origin",
            base_branch: str | None = None) -> Proposal:
    """Commit on `branch`; with `pull`, push it to `remote` and open a pull
    request into `base_branch` (the checked-out branch when not given)."""
    proposal = commit(repo, applied, branch)
    if not pull:
        return proposal
    token = os.environ.get("GITHUB_TOKEN", "")
    target = base_branch or current_branch(repo)
    try:
        name = repository(repo, remote)
        _git(repo, "push", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}")
        url = open_pull(os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL, token, name,
                        title=proposal.message.splitlines()[0], head=branch, base=target, body=pull_body(applied))
    except SafeflagsError as exc:
        raise ProposeError(f"{exc} (the step is committed on branch {branch}, {proposal.commit[:12]})") from None
    return Proposal(proposal.branch, proposal.commit, proposal.message, url)
