"""The `safeflags` command line. Thin: each command lives in its own module
under safeflags/cli/ as a plain function returning an exit code, and this
file only wires them into click."""
from __future__ import annotations

import importlib
import sys

try:
    import click
except ImportError:  # pragma: no cover - the SDK-only install has no CLI
    sys.stderr.write("safeflags: the command line needs the 'cli' extra: pip install 'safeflags[cli]'\n")
    raise SystemExit(2) from None

from safeflags.version import TEMPLATES_VERSION, __version__

# name -> module defining `command` (a click.Command). Imported lazily so
# `safeflags --help` stays fast and one broken command cannot hide the others.
COMMANDS: dict[str, str] = {
    "channels": "safeflags.cli.channels_cmd",
    "gc": "safeflags.cli.gc_cmd",
    "history": "safeflags.cli.history_cmd",
    "flips": "safeflags.cli.flips_cmd",
    "pin": "safeflags.cli.pin_cmd",
    "publish": "safeflags.cli.publish_cmd",
    "refresh-signature": "safeflags.cli.refresh_signature_cmd",
    "rollback": "safeflags.cli.rollback_cmd",
    "serve": "safeflags.cli.serve_cmd",
    "unpin": "safeflags.cli.unpin_cmd",
    "compile": "safeflags.cli.compile_cmd",
    "explain": "safeflags.cli.explain_cmd",
    "init": "safeflags.cli.init_cmd",
    "new": "safeflags.cli.new_cmd",
    "validate": "safeflags.cli.validate_cmd",
    "watch": "safeflags.cli.watch_cmd",
    "ramp": "safeflags.cli.ramp_cmd",
    "kill": "safeflags.cli.kill_cmd",
    "enable": "safeflags.cli.enable_cmd",
    "schedule": "safeflags.cli.schedule_cmd",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = COMMANDS.get(name)
        if module is None:
            return None
        command: click.Command = importlib.import_module(module).command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # One command that fails to import must not hide the others' help.
        rows = []
        for name in self.list_commands(ctx):
            try:
                cmd = self.get_command(ctx, name)
                text = cmd.get_short_help_str(limit=formatter.width - 6 - 12) if cmd else ""
            except Exception as exc:
                text = f"(unavailable: {exc})"
            rows.append((name, text))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
# The packaged template library's release too: a repository that vendors its own
# copy names that copy's in every report.
@click.version_option(__version__, prog_name="safeflags",
                      message=f"%(prog)s %(version)s (templates {TEMPLATES_VERSION})")
def cli() -> None:
    """safeflags: feature flags and dynamic configuration as code.

    Flags are Jsonnet files under flags/, validated on every pull request,
    compiled to a deterministic bundle and evaluated in-process by the SDK.
    """


def main() -> None:
    cli(prog_name="safeflags")


if __name__ == "__main__":
    main()
