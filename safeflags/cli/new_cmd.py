"""`safeflags new`: scaffold a flag file that compiles."""
from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import click

from safeflags.cli._common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, exits
from safeflags.compile.config import RepoConfig, load_config
from safeflags.compile.driver import eval_settings
from safeflags.compile.load import evaluate_files
from safeflags.compile.parse.model import KEY_PART
from safeflags.compile.parse.spec import parse_flag, type_ok
from safeflags.compile.suggest import did_you_mean

RAMPS = ("none", "standard", "cautious")
TYPES = ("bool", "string", "int", "float", "json")
CONSTRUCTOR = {"bool": "sf.bool", "string": "sf.string", "int": "sf.int", "float": "sf.float", "json": "sf.json"}


def _jsonnet_literal(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):  # Jsonnet style: single quotes
        text = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return text


def render(flag_type: str, owner: str, description: str, expires: str, default: object,
           ramp: str, unit: str | None, kind: str | None, serve_value: object = None) -> str:
    lines = ["local sf = import 'safeflags.libsonnet';", "", CONSTRUCTOR[flag_type] + " {"]
    if kind:
        lines.append(f"  kind: {_jsonnet_literal(kind)},")
    lines += [
        f"  owner: {_jsonnet_literal(owner)},",
        f"  description: {_jsonnet_literal(description)},",
        f"  expires: {_jsonnet_literal(expires)},",
        f"  default: {_jsonnet_literal(default)},",
    ]
    if ramp != "none":
        serve = "" if serve_value is None else ", serve=" + _jsonnet_literal(serve_value)
        lines.append("  // Not started: raise `stage` one step per pull request.")
        lines.append(f"  rollout: sf.ramps.{ramp}(unit={_jsonnet_literal(unit)}, stage=0{serve}),")
    lines += ["}", ""]
    return "\n".join(lines)


def check_file(config: RepoConfig, rel: str, key: str) -> list[str]:
    """Compile one file exactly as `compile` would; the formatted errors."""
    [res] = evaluate_files([rel], eval_settings(config), jobs=1)
    if res.error is not None:
        return [res.error.format(config.root)]
    source = (config.root / rel).read_text(encoding="utf-8")
    _, errors = parse_flag(rel, key, json.loads(res.json_text or "null"), source, config)
    return [e.format(config.root) for e in errors]


def _parse_value(flag_type: str, raw: str) -> tuple[bool, object]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        if flag_type != "string":
            return False, None
        value = raw  # a bare word for a string flag
    return type_ok(flag_type, value), value


def run(repo: Path, key: str, flag_type: str, owner: str, description: str, default: str | None,
        ramp: str, unit: str | None, expires: str | None, kind: str | None, serve: str | None = None) -> int:
    config = load_config(repo)
    parts = key.split(".")
    if len(parts) < 2 or not all(KEY_PART.match(p) for p in parts):
        click.echo(f"safeflags: error: {key!r} is not a flag key: NAMESPACE.NAME, lower-case [a-z][a-z0-9_]*", err=True)
        return EXIT_USAGE
    if owner not in config.owners:
        hint = did_you_mean(owner, config.owners)
        extra = f" (did you mean {hint!r}?)" if hint else f"; owners: {', '.join(config.owners)}"
        click.echo(f"safeflags: error: owner {owner!r} is not in safeflags.yaml{extra}", err=True)
        return EXIT_USAGE
    if ramp != "none":
        if unit is None:
            click.echo("safeflags: error: --ramp needs --unit, the dimension to bucket on (e.g. user_id)", err=True)
            return EXIT_USAGE
        if unit not in config.dimensions:
            hint = did_you_mean(unit, config.dimensions)
            click.echo(f"safeflags: error: unit {unit!r} is not a declared dimension"
                       + (f" (did you mean {hint!r}?)" if hint else ""), err=True)
            return EXIT_USAGE
    if default is None:
        if flag_type != "bool":
            click.echo(f"safeflags: error: a {flag_type} flag needs --default (JSON, e.g. --default 30)", err=True)
            return EXIT_USAGE
        value: object = False
    else:
        ok, value = _parse_value(flag_type, default)
        if not ok:
            click.echo(f"safeflags: error: --default {default!r} is not a {flag_type} value", err=True)
            return EXIT_USAGE
    serve_value: object = None
    if ramp != "none" and flag_type != "bool":
        if serve is None:
            click.echo(f"safeflags: error: a {flag_type} flag's rollout needs --serve, the value units inside it get",
                       err=True)
            return EXIT_USAGE
        ok, serve_value = _parse_value(flag_type, serve)
        if not ok:
            click.echo(f"safeflags: error: --serve {serve!r} is not a {flag_type} value", err=True)
            return EXIT_USAGE
    if expires is None:
        expires = (date.today() + timedelta(days=90)).isoformat()
    elif not re.match(r"^\d{4}-\d{2}-\d{2}$", expires):
        click.echo(f"safeflags: error: --expires {expires!r} is not a date (YYYY-MM-DD)", err=True)
        return EXIT_USAGE
    rel = f"{config.model.flags_dir}/{'/'.join(parts)}.jsonnet"
    path = repo / rel
    if path.exists():
        click.echo(f"safeflags: error: {rel} already exists", err=True)
        return EXIT_USAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render(flag_type, owner, description, expires, value, ramp, unit, kind, serve_value)
    path.write_text(text, encoding="utf-8")
    errors = check_file(config, rel, key)
    if errors:
        path.unlink()
        for e in errors:
            click.echo(e, err=True)
        click.echo(f"safeflags: the scaffold for {key} does not compile; nothing written", err=True)
        return EXIT_FINDINGS
    click.echo(f"created {rel} ({key}, {flag_type}, owner {owner}, expires {expires})")
    return EXIT_OK


@click.command("new")
@click.argument("key")
@click.option("--type", "flag_type", type=click.Choice(TYPES), default="bool", show_default=True)
@click.option("--owner", required=True, help="Owning team, from the owners of safeflags.yaml.")
@click.option("--description", required=True, help="What the flag does, for reviewers and the on-call.")
@click.option("--default", "default", default=None, help="Config default as JSON (required unless --type bool: false).")
@click.option("--ramp", type=click.Choice(RAMPS), default="none", show_default=True, help="Staged rollout template.")
@click.option("--unit", default=None, help="Dimension the rollout buckets on (with --ramp).")
@click.option("--serve", default=None, help="Value served inside the rollout, as JSON (with --ramp, non-bool flags).")
@click.option("--expires", default=None, help="Expiry date YYYY-MM-DD [default: 90 days from today].")
@click.option("--kind", type=click.Choice(["release", "operational", "experiment", "migration", "config"]),
              default=None,
              help="Override the kind the constructor implies (bool: release; others: config).")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=".", show_default=True)
@exits
def command(key: str, flag_type: str, owner: str, description: str, default: str | None, ramp: str,
            unit: str | None, serve: str | None, expires: str | None, kind: str | None, repo: Path) -> int:
    """Create flags/NS/NAME.jsonnet for the flag KEY (NS.NAME).

    The file uses the template library, names an owner from safeflags.yaml,
    expires in 90 days unless told otherwise, and - with --ramp - starts a
    staged rollout at stage 0 (not started). It is compiled before this
    command returns; a scaffold that would not compile is not left behind.

    Example: safeflags new billing.new_invoice_path --owner team-billing
    --description 'Route invoices through the new pipeline.' --ramp standard --unit workspace_id
    """
    return run(repo, key, flag_type, owner, description, default, ramp, unit, expires, kind, serve)
