"""`safeflags explain`: what a flag serves for a context, and why."""
from __future__ import annotations

import json
from pathlib import Path

import click

from safeflags.cli._common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, exits
from safeflags.compile.suggest import did_you_mean
from safeflags.ops.context import ContextError, parse_pairs
from safeflags.source.errors import read_line


def run(flag: str, repo: Path | None, bundle: Path | None, static_pairs: tuple[str, ...],
        ctx_pairs: tuple[str, ...], as_json: bool) -> int:
    import safeflags
    from safeflags.v1 import bundle_pb2

    if bundle is not None:
        data = bundle.read_bytes()
        sources = repo or Path(".")
    else:
        from safeflags.cli.compile_cmd import report_errors
        from safeflags.compile.driver import compile_repo

        sources = repo or Path(".")
        result = compile_repo(sources)
        if not result.ok:
            report_errors(result)
            return EXIT_FINDINGS
        data = result.data
    dims = {d.name: d for d in bundle_pb2.Bundle.FromString(data).dimensions}
    static = parse_pairs(static_pairs, dims, "--static")
    ctx = parse_pairs(ctx_pairs, dims, "--ctx")
    client = safeflags.Client.from_bytes(data, static=static)
    if client.snapshot.entry(flag) is None:
        keys = [f.key for f in bundle_pb2.Bundle.FromString(data).flags]
        hint = did_you_mean(flag, keys)
        suggestion = f" (did you mean {hint!r}?)" if hint else ""
        click.echo(f"safeflags: error: no flag {flag!r} in the bundle{suggestion}", err=True)
        return EXIT_USAGE
    explanation = client.explain(flag, ctx)
    if as_json:
        d = explanation.details
        m = explanation.matched
        click.echo(json.dumps({
            "flag": d.flag_key, "value": d.value, "variant": d.variant, "reason": d.reason.value,
            "error_code": d.error_code.value if d.error_code else None,
            "matched_rule": None if m is None else {"index": m.index, "label": m.label, "line": m.line},
            "file": explanation.file, "static": static, "context": ctx,
            "rules": [{"index": r.index, "label": r.label, "line": r.line, "when": r.condition, "serve": r.outcome}
                      for r in explanation.rules],
        }, indent=2, default=str))
        return EXIT_OK
    click.echo(f"context: static {_show(static)}, request {_show(ctx)}")
    click.echo(explanation.render())
    m = explanation.matched
    if m is not None and m.line and explanation.file:
        text = read_line(sources / explanation.file, m.line)
        if text is not None:
            click.echo(f"  source {explanation.file}:{m.line}:\n    {text.strip()}")
    return EXIT_OK


def _show(values: dict[str, object]) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in values.items()) + "}" if values else "{}"


@click.command("explain")
@click.argument("flag")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Compile this flag repository and explain from it [default: .].")
@click.option("--bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Explain from a compiled bundle instead of compiling.")
@click.option("--static", "static_pairs", multiple=True, metavar="NAME=VALUE",
              help="A static dimension the process pins (cloud, region, service...); repeatable.")
@click.option("--ctx", "ctx_pairs", multiple=True, metavar="NAME=VALUE",
              help="A request dimension (user_id, workspace_id...); repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@exits
def command(flag: str, repo: Path | None, bundle: Path | None, static_pairs: tuple[str, ...],
            ctx_pairs: tuple[str, ...], as_json: bool) -> int:
    """Show what FLAG serves for a context, and why.

    Prints the value, variant and reason, the rule that matched with its
    source line, and the flag's rules as this process sees them: after the
    --static dimensions are pre-evaluated, so rules that cannot match here
    are gone and the conditions left are the ones the request decides.

    Example: safeflags explain billing.new_invoice_path --static region=us-east-1
    --static service=billing --static service_version=2.15.0 --ctx workspace_id=ws-1234
    """
    try:
        return run(flag, repo, bundle, static_pairs, ctx_pairs, as_json)
    except ContextError as exc:
        click.echo(f"safeflags: error: {exc}", err=True)
        return EXIT_USAGE
