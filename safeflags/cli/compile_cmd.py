"""`safeflags compile`: the flag repository -> a deterministic bundle file."""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from safeflags.cli._common import EXIT_FINDINGS, EXIT_OK, exits
from safeflags.compile.driver import CompileResult, compile_repo


def progress_printer(enabled: bool) -> Callable[[int, int], None] | None:
    """Progress on stderr for long compiles, only when a person is watching."""
    if not enabled or not sys.stderr.isatty():
        return None
    step = [0]

    def show(done: int, total: int) -> None:
        if total >= 200 and (done == total or done - step[0] >= total // 50):
            step[0] = done
            click.echo(f"\r  evaluating flags: {done}/{total}", err=True, nl=done == total)

    return show


def report_errors(result: CompileResult) -> None:
    for err in result.errors:
        click.echo(err.format(result.config.root), err=True)
    n = len(result.errors)
    click.echo(f"safeflags: {n} error{'s' if n != 1 else ''}; no bundle written", err=True)


def run(repo: Path, output: Path | None, revision: str | None, jobs: int | None, quiet: bool,
        no_cache: bool = False) -> int:
    result = compile_repo(repo, revision=revision, jobs=jobs, progress=progress_printer(not quiet), cache=not no_cache)
    if not result.ok:
        report_errors(result)
        return EXIT_FINDINGS
    out = output or (repo / "build" / "bundle.pb")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(result.data)
    tmp.replace(out)  # never leave a half-written bundle behind
    if not quiet:
        click.echo(
            f"compiled {len(result.specs)} flags -> {out} ({len(result.data):,} bytes, {result.digest}) "
            f"in {result.seconds:.2f} s" + (f" ({result.cached} from cache)" if result.cached else "")
        )
    return EXIT_OK


@click.command("compile")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=".", show_default=True,
              help="The flag repository (holds safeflags.yaml).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Bundle file to write [default: REPO/build/bundle.pb].")
@click.option("--revision", default=None,
              help="Source revision recorded in the bundle [default: git HEAD, +dirty if changed].")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Evaluator processes [default: CPU count].")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option("--no-cache", is_flag=True,
              help="Evaluate every flag afresh; neither read nor write the compile cache "
                   "(REPO/.safeflags-cache, or $SAFEFLAGS_CACHE_DIR).")
@exits
def command(repo: Path, output: Path | None, revision: str | None, jobs: int | None, quiet: bool,
            no_cache: bool) -> int:
    """Compile every flag under flags/ into a bundle.

    Runs the same stages as `validate`: Jsonnet evaluation (sandboxed, each
    file under a time limit), strict parsing against the dimension catalog,
    lowering to boolean expression trees, optimisation and deterministic
    packing. Prints the flag count, size and SHA-256 digest; exits 1 with
    every located error when any flag does not compile.
    """
    return run(repo, output, revision, jobs, quiet, no_cache)
