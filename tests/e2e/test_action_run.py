"""action.yml is run, not only linted: its steps run as the runner runs
them (tests/e2e/action_runner.py) in git repositories laid out as
actions/checkout leaves them.

The origin repository: the example flag repository on `main`; pull request
#7 branches off it and ramps one flag two stages at once (its own finding,
SF301); then two ramp steps, approved in their own pull requests, merge on
`main`. GitHub builds refs/pull/7/merge on the base branch's tip *now*, so
a check that compares with `pull_request.base.sha` (the tip when #7 was
opened) blames #7 for both. The merge queue's group head is built the same
way. Each run checks out what actions/checkout would (the full history,
then the event's commit, detached) and judges it with the action's steps.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.action_runner import Run, job_env, run_action

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
PR = 7
RERANK = "flags/search/reranker_explanations.jsonnet"  # the pull request's own change
EXPRESS = "flags/checkout/express_pay_mobile.jsonnet"  # merged on main after #7 was opened
COMPACTION = "flags/storage/compaction_v3.jsonnet"  # likewise
FIRST_PARENT = "the first parent of the merge commit checked out"
Runs = dict[str, Run | Exception]


def git(cwd: Path, *args: str) -> str:
    config = ["-c", "user.name=dev", "-c", "user.email=dev@example.com", "-c", "advice.detachedHead=false"]
    proc = subprocess.run(["git", *config, *args], cwd=cwd, check=True, capture_output=True, text=True)
    return proc.stdout.strip()


def commit_edit(repo: Path, rel: str, old: str, new: str, message: str) -> str:
    path = repo / rel
    source = path.read_text(encoding="utf-8")
    assert old in source, f"{old!r} not in {rel}"
    path.write_text(source.replace(old, new, 1), encoding="utf-8")
    git(repo, "commit", "-qam", message)
    return git(repo, "rev-parse", "HEAD")


@dataclass(frozen=True)
class Origin:
    path: Path
    opened_on: str  # main's tip when #7 was opened: pull_request.base.sha
    head: str  # #7's head
    main: str  # main's tip now, after the two approved ramp steps
    merge: str  # refs/pull/7/merge: #7 merged onto main's tip
    queue: str  # the merge queue's group head for #7


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    root = tmp_path_factory.mktemp("origin")
    for name in ("flags", "templates", "validators"):
        if (ROOT / name).is_dir():  # the template library may be the packaged copy
            shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    for name in ("safeflags.yaml", "deployments.yaml"):
        shutil.copy(ROOT / name, root / name)
    (root / ".gitignore").write_text(".safeflags-cache/\n__pycache__/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    opened_on = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "-b", "ramp-reranker")
    head = commit_edit(root, RERANK, "stage=1)", "stage=3)", "Ramp reranker explanations to 25%")
    git(root, "checkout", "-q", "main")
    commit_edit(root, EXPRESS, "stage=3)", "stage=5)", "Ramp express pay (approved: safeflags/skip-stage)")
    main = commit_edit(root, COMPACTION, "stage=2,", "stage=4,", "Ramp compaction v3 (approved)")
    refs = {}
    for ref, message in ((f"refs/pull/{PR}/merge", f"Merge {head} into {main}"),
                         (f"refs/heads/gh-readonly-queue/main/pr-{PR}-{head}", f"Merge pull request #{PR}")):
        git(root, "checkout", "-q", "--detach", "main")
        git(root, "merge", "-q", "--no-ff", "-m", message, head)
        refs[ref] = git(root, "rev-parse", "HEAD")
        git(root, "update-ref", ref, refs[ref])
    git(root, "update-ref", f"refs/pull/{PR}/head", head)
    git(root, "checkout", "-q", "main")
    merge, queue = refs.values()
    return Origin(root, opened_on, head, main, merge, queue)


def checkout(origin: Origin, dest: Path, ref: str, *, depth: int | None = None) -> Path:
    """What actions/checkout does: with fetch-depth 0 every branch as refs/remotes/origin/*, then the
    event's ref, checked out detached; with a depth, that ref alone, shallow."""
    dest.mkdir(parents=True)
    git(dest, "init", "-q")
    git(dest, "remote", "add", "origin", origin.path.as_uri())
    specs = [f"+{ref}:refs/remotes/checkout"]
    if depth is None:
        specs.append("+refs/heads/*:refs/remotes/origin/*")
    git(dest, "fetch", "-q", "--no-tags", *([f"--depth={depth}"] if depth else []), "origin", *specs)
    git(dest, "checkout", "-q", "--detach", "refs/remotes/checkout")
    return dest


def pr_event(origin: Origin, *, fork: bool = False) -> dict[str, Any]:
    repo = {"full_name": "dev/flags" if fork else "acme/flags", "fork": fork}
    return {"action": "synchronize", "number": PR, "repository": {"full_name": "acme/flags"},
            "pull_request": {"number": PR, "user": {"login": "dev"}, "labels": [],
                             "head": {"sha": origin.head, "ref": "ramp-reranker", "repo": repo},
                             "base": {"sha": origin.opened_on, "ref": "main", "repo": {"full_name": "acme/flags"}}}}


def act(origin: Origin, tmp: Path, ref: str, event_name: str, event: dict[str, Any],
        inputs: dict[str, str] | None = None, *, depth: int | None = None,
        uses_outcomes: dict[str, str] | None = None) -> Run:
    workspace = checkout(origin, tmp / "workspace", ref, depth=depth)
    (tmp / "home").mkdir()
    # The install step points at the package this venv has installed already: nothing is downloaded.
    return run_action(ACTION, workspace=workspace, temp=tmp / "runner", event_name=event_name, event=event,
                      inputs={"safeflags-version": "safeflags", **(inputs or {})},
                      env=job_env(Path(sys.executable).parent, tmp / "home"), uses_outcomes=uses_outcomes)


def scenarios(o: Origin) -> dict[str, Callable[[Path], Run]]:
    merge, head = f"refs/pull/{PR}/merge", f"refs/pull/{PR}/head"
    queue = {"merge_group": {"base_sha": o.main, "base_ref": "refs/heads/main", "head_sha": o.queue,
                             "head_ref": f"refs/heads/gh-readonly-queue/main/pr-{PR}-{o.head}"}}
    sarif = {"upload-sarif": "true"}
    return {
        "merge": lambda tmp: act(o, tmp, merge, "pull_request", pr_event(o), sarif,
                                 uses_outcomes={"upload-sarif": "failure"}),
        "old base": lambda tmp: act(o, tmp, merge, "pull_request", pr_event(o),
                                    {"base": o.opened_on, "cache": "false"}),
        "head": lambda tmp: act(o, tmp, head, "pull_request", pr_event(o, fork=True), sarif),
        "queue": lambda tmp: act(o, tmp, f"refs/heads/gh-readonly-queue/main/pr-{PR}-{o.head}", "merge_group",
                                 queue),
        "push": lambda tmp: act(o, tmp, "refs/heads/main", "push", {"ref": "refs/heads/main", "after": o.main}),
        "shallow": lambda tmp: act(o, tmp, merge, "pull_request_review", {**pr_event(o), "action": "submitted"},
                                   depth=1),
    }


@pytest.fixture(scope="module")
def runs(origin: Origin, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Every scenario once, two at a time: each is a few processes (pip, git, safeflags) the tests only read."""
    todo = scenarios(origin)
    folders = {name: tmp_path_factory.mktemp(name.replace(" ", "-")) for name in todo}

    def one(name: str) -> Run | Exception:
        try:
            return todo[name](folders[name])
        except Exception as exc:  # raised by the test that reads this scenario
            return exc
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(todo, pool.map(one, todo), strict=True))


def run_of(runs: Runs, name: str) -> Run:
    run = runs[name]
    if isinstance(run, Exception):
        raise run
    return run


def error_files(run: Run) -> set[str]:
    return {m.group(1) for a in run.annotations() if (m := re.match(r"::error file=([^,]+),", a))}


def test_pull_request_is_judged_against_the_merge_commits_first_parent(origin: Origin, runs: Runs) -> None:
    run = run_of(runs, "merge")
    assert run.by_id["base"].outputs["base"] == origin.main == run.outputs["base"]
    assert f"comparing with {origin.main}, {FIRST_PARENT}" in run.log
    # Only the pull request's own ramp, not the two that merged on main since it was opened.
    assert error_files(run) == {RERANK}
    assert any("title=SF301 skipped-stage" in a for a in run.annotations())
    assert run.by_id["validate"].outputs["exit-code"] == "1" == run.outputs["exit-code"]
    assert "## ❌ safeflags validate: 1 error" in run.summary
    assert f"`{origin.main}`" in run.summary and f"The base revision is {FIRST_PARENT}" in run.summary
    fail = run.step("Fail on error findings")
    assert (fail.outcome, fail.returncode, run.failed) == ("failure", 1, True)


def test_the_pull_requests_base_sha_would_blame_it_for_main(origin: Origin, runs: Runs) -> None:
    """The old action's base: the `base` input overrides the event's, and the two merged ramps are blamed."""
    run = run_of(runs, "old base")
    assert run.outputs["base"] == origin.opened_on
    assert "the revision given as the base input" in run.log
    assert error_files(run) == {RERANK, EXPRESS, COMPACTION}
    assert run.outputs["exit-code"] == "1"
    assert run.by_id["cache-restore"].outcome == "skipped"
    assert run.step("Save the compile cache").outcome == "skipped"


def test_the_compile_cache_is_restored_and_saved_under_the_compiler_and_inputs(runs: Runs) -> None:
    run = run_of(runs, "merge")
    fingerprint = run.by_id["install"].outputs["fingerprint"]
    assert re.fullmatch(r"\d+\.\d+\S*-[0-9a-f]{16}", fingerprint), fingerprint
    restore = run.by_id["cache-restore"]
    tree = run.by_id["base"].outputs["tree"]
    assert tree == git(run.workspace, "rev-parse", "HEAD^{tree}")  # the flag repository is the checkout's top
    assert restore.with_["key"] == f"safeflags-Linux-{fingerprint}-{tree}"
    assert restore.with_["key"].startswith(restore.with_["restore-keys"].strip())
    save = run.step("Save the compile cache")
    assert save.outcome == "success" and save.with_ == {"path": restore.with_["path"], "key": restore.with_["key"]}
    # The directory saved (relative to the workspace) is the one validate compiled into.
    assert restore.with_["path"] == "./.safeflags-cache"
    assert any((run.workspace / ".safeflags-cache").iterdir())


def test_sarif_upload_failing_elsewhere_is_a_notice_not_a_failure(runs: Runs) -> None:
    run = run_of(runs, "merge")
    upload = run.by_id["upload-sarif"]
    assert upload.outcome == "failure"
    sarif = json.loads(Path(upload.with_["sarif_file"]).read_text())
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]
            if r["level"] == "error"} == {RERANK}
    notices = run.annotations("notice")
    assert any("SARIF not uploaded to code scanning, the upload failed" in n for n in notices), notices
    assert run.step("Fail on error findings").returncode == 1  # the findings fail the job, the upload does not


def test_a_head_checkout_is_judged_against_its_merge_base_and_a_fork_uploads_no_sarif(
        origin: Origin, runs: Runs) -> None:
    run = run_of(runs, "head")
    assert run.outputs["base"] == origin.opened_on  # where #7 left main
    assert "the merge base of the checked-out commit with the base branch" in run.log
    assert error_files(run) == {RERANK}
    assert run.outputs["exit-code"] == "1"
    assert run.by_id["upload-sarif"].outcome == "skipped"
    assert any("a pull request from a fork gets no security-events: write token" in n
               for n in run.annotations("notice"))


def test_merge_group_is_judged_against_the_queues_base(origin: Origin, runs: Runs) -> None:
    run = run_of(runs, "queue")
    assert run.outputs["base"] == origin.main
    assert "the merge queue's base" in run.log
    assert error_files(run) == {RERANK}
    assert run.outputs["exit-code"] == "1" and run.failed


def test_push_validates_the_whole_repository(runs: Runs) -> None:
    run = run_of(runs, "push")
    assert run.outputs["base"] == ""
    assert "no base revision on a push event: validating the whole repository" in run.log
    assert run.annotations() == []
    assert run.outputs["exit-code"] == "0" and "safeflags validate: 0 errors" in run.summary
    assert run.step("Fail on error findings").outcome == "skipped" and not run.failed


def test_a_shallow_checkout_stops_with_a_clear_error(runs: Runs) -> None:
    run = run_of(runs, "shallow")
    resolve = run.by_id["base"]
    assert (resolve.outcome, resolve.returncode, run.failed) == ("failure", 2, True)
    [error] = run.annotations()
    assert "this clone is shallow" in error and "fetch-depth: 0" in error
    assert run.by_id["validate"].outcome == "skipped" and run.outputs["exit-code"] == ""
