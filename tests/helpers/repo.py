"""Temporary flag repositories for tests: the packaged template library
(vendored as templates/, so a test can edit it) and the example's
safeflags.yaml, plus whatever flag files a test writes."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from safeflags.compile.driver import CompileResult, compile_repo
from safeflags.source.sandbox import PACKAGED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
# The template library every test copies or reads: the one the package ships.
TEMPLATES = PACKAGED_TEMPLATES

HEADER = "local sf = import 'safeflags.libsonnet';\n"


class FlagRepo:
    def __init__(self, path: Path, *, with_examples: bool = False):
        self.root = path
        path.mkdir(parents=True, exist_ok=True)
        shutil.copytree(TEMPLATES, path / "templates", dirs_exist_ok=True)
        shutil.copy(ROOT / "safeflags.yaml", path / "safeflags.yaml")
        if with_examples:
            shutil.copytree(ROOT / "flags", path / "flags", dirs_exist_ok=True)
        (path / "flags").mkdir(exist_ok=True)

    def write(self, key: str, body: str, *, header: bool = True) -> str:
        """Write the flag `key`; returns its repo-relative path."""
        ns, name = key.rsplit(".", 1)
        rel = f"flags/{ns.replace('.', '/')}/{name}.jsonnet"
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        text = textwrap.dedent(body).lstrip("\n")
        path.write_text((HEADER if header else "") + text, encoding="utf-8")
        return rel

    def set_config(self, text: str) -> None:
        (self.root / "safeflags.yaml").write_text(textwrap.dedent(text), encoding="utf-8")

    def compile(self, **kwargs: object) -> CompileResult:
        kwargs.setdefault("revision", "test")
        return compile_repo(self.root, **kwargs)  # type: ignore[arg-type]


def bool_flag(extra: str = "", default: str = "false") -> str:
    return f"""
    sf.bool {{
      owner: 'team-billing',
      description: 'A test flag.',
      default: {default},
    {textwrap.indent(textwrap.dedent(extra).strip(), '  ')}
    }}
    """
