"""`safeflags validate`: compile, run the validators, report the findings."""
from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import click

from safeflags.cli._common import EXIT_FINDINGS, EXIT_OK, exits
from safeflags.report import REPORTERS, SarifReporter, markdown_summary
from safeflags.validation.api import PullRequest
from safeflags.validation.event import load_event
from safeflags.validation.github import DEFAULT_API_URL, GitHub
from safeflags.validation.session import Options, unread, validate


def checkout_prefix(repo: Path) -> str:
    """The flag repository's path inside its git checkout ("" at the top), so
    annotations and SARIF name files the way GitHub resolves them."""
    try:
        proc = subprocess.run(["git", "-C", str(repo), "rev-parse", "--show-prefix"], capture_output=True, text=True,
                              check=False)
    except OSError:
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _note(fmt: str, text: str) -> None:
    """A line the reader should see: a notice annotation in GitHub's format."""
    if fmt == "github":
        data = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        click.echo(f"::notice title=safeflags::{data}")
    else:
        click.echo(f"safeflags: note: {text}", err=True)


def run(repo: Path, base: str | None, fmt: str, output: Path | None, event: Path | None,
        code_root: Path | None, sarif: Path | None, jobs: int | None, all_findings: bool = False,
        github_token: str | None = None) -> int:
    pull_request = load_event(event) if event is not None else PullRequest()
    repository = os.environ.get("GITHUB_REPOSITORY") or pull_request.repository
    pull_request = replace(pull_request, repository=repository)
    github = GitHub(github_token, os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL) if github_token else None
    opts = Options(repo.resolve(), base, pull_request, code_root.resolve() if code_root else None,
                   jobs=jobs, all_findings=all_findings, github=github)
    why = unread(opts) if base is not None and pull_request.number else ""
    if why:
        _note(fmt, f"approvals cannot count: reviews and who applied labels were not read, {why}")
    outcome = validate(opts)
    for notice in github.notices if github is not None else ():
        _note(fmt, notice)
    prefix = checkout_prefix(repo) if fmt in ("sarif", "github") or sarif else ""
    text = REPORTERS[fmt](repo, prefix).render(outcome)
    if output is not None:
        _write(output, text)
    else:
        click.echo(text, nl=False)
    if sarif is not None:
        _write(sarif, SarifReporter(repo, prefix).render(outcome))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if fmt == "github" and summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(markdown_summary(outcome, prefix))
    return EXIT_FINDINGS if outcome.failed else EXIT_OK


@click.command("validate")
@click.option("--repo", type=click.Path(file_okay=False, exists=True, path_type=Path), default=".", show_default=True,
              help="The flag repository (holds safeflags.yaml).")
@click.option("--base", default=None, metavar="REF",
              help="Pull-request mode: compare with this git revision (read from git objects; its validators and "
                   "settings judge the change).")
@click.option("--format", "fmt", type=click.Choice(sorted(REPORTERS)), default="text", show_default=True,
              help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report to FILE instead of standard output.")
@click.option("--event", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="GitHub event payload ($GITHUB_EVENT_PATH): which pull request, its author and labels.")
@click.option("--github-token", envvar="GITHUB_TOKEN", default=None, metavar="TOKEN", show_envvar=True,
              help="Token for the GitHub REST API ($GITHUB_API_URL, default " + DEFAULT_API_URL + "): reads the "
                   "pull request's reviews, who applied its labels and, if it may, team membership. Without one "
                   "no approval counts.")
@click.option("--code-root", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Code tree searched for references to removed flags [default: REPO].")
@click.option("--sarif", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a SARIF 2.1.0 report to FILE (for code scanning), whatever --format says.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Evaluator processes [default: CPU count].")
@click.option("--all-findings", is_flag=True,
              help="With --base, also report findings on flags the change does not touch (by default only what it "
                   "introduces: its flags, their dependents, config findings and compile errors).")
@exits
def command(repo: Path, base: str | None, fmt: str, output: Path | None, event: Path | None, github_token: str | None,
            code_root: Path | None, sarif: Path | None, jobs: int | None, all_findings: bool) -> int:
    """Validate the flag repository; with --base, validate a pull request.

    Compiles exactly as `compile` does, then runs every validator (the
    built-ins, those installed through the `safeflags.validators` entry
    points, and the repository's own from safeflags.yaml). With --base REF
    the base revision is compiled from git objects, flags are paired into
    changes and the change validators run too, judged by the base revision's
    validators and settings. Exits 0 when clean (warnings allowed), 1 on any
    error finding (every compile error is one, whatever the settings say),
    2 on a usage or internal error (a validator that fails to load or
    raises is named; no validator at all; a GitHub API request that fails).

    Approvals (reviews on the head by approvers, labels applied by them)
    are read from the GitHub API with --github-token; the repository is
    $GITHUB_REPOSITORY, else the event's.
    """
    return run(repo, base, fmt, output, event, code_root, sarif, jobs, all_findings, github_token)
