"""The `safeflags` group itself: `--version` names the compiler and the
template library it ships."""
from __future__ import annotations

from click.testing import CliRunner

from safeflags.cli.main import cli
from safeflags.version import TEMPLATES_VERSION, __version__


def test_version_names_the_compiler_and_the_templates() -> None:
    out = CliRunner().invoke(cli, ["--version"], prog_name="safeflags")
    assert out.exit_code == 0
    assert out.output == f"safeflags {__version__} (templates {TEMPLATES_VERSION})\n"
