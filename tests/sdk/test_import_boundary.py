"""The SDK's layering contract: evaluating flags imports only the standard
library, protobuf, mmh3, re2 and the generated schema, never the authoring side
(compiler, Jsonnet, git, pydantic, click, yaml)."""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers.builder import Builder

ROOT = Path(__file__).resolve().parents[2]
SDK_FILES = [*sorted((ROOT / "safeflags" / "sdk").rglob("*.py")), ROOT / "safeflags" / "version.py"]
ALLOWED_THIRD_PARTY = {"google", "mmh3", "re2"}
ALLOWED_SAFEFLAGS = ("safeflags.sdk", "safeflags.v1", "safeflags.version")
# What a service that evaluates flags must never load. The delivery client
# and the store readers are allowed at run time (`safeflags.Client` keeps
# itself current; boto3 and cryptography load only when an s3:// store or a
# signing key is configured), but the SDK's own sources never import them.
BLOCKED = ["_gojsonnet", "gojsonnet", "git", "pydantic", "click", "yaml", "ruamel", "jsonschema", "boto3",
           "safeflags.cli", "safeflags.compile", "safeflags.source", "safeflags.validation", "safeflags.report",
           "safeflags.serve", "cryptography"]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            if node.module == "safeflags":
                names.update(f"safeflags.{alias.name}" for alias in node.names)
    return names


def test_sdk_sources_import_only_what_evaluation_needs() -> None:
    stdlib = set(sys.stdlib_module_names)
    offenders = []
    for path in SDK_FILES:
        for name in imported_modules(path):
            top = name.split(".")[0]
            if top in stdlib or top in ALLOWED_THIRD_PARTY or name == "safeflags":
                continue
            if any(name == ok or name.startswith(ok + ".") for ok in ALLOWED_SAFEFLAGS):
                continue
            offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_evaluating_a_bundle_never_imports_the_authoring_side(tmp_path: Path) -> None:
    b = Builder()
    data = b.data([
        b.flag("a.geo", "bool", [False, True],
               [b.rule(b.all_(b.in_("country", "US"), b.bucket("user_id", "s", 0, 100_000)), value=1)]),
        b.flag("a.on", "bool", [False, True], fallback=1),
    ])
    (tmp_path / "bundle.pb").write_bytes(data)
    script = textwrap.dedent(f"""
        import importlib.abc, sys
        BLOCKED = {BLOCKED!r}

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                    raise ImportError("the SDK must not import " + name)
                return None

        sys.meta_path.insert(0, Block())
        import safeflags
        client = safeflags.Client.from_bytes(open({str(tmp_path / "bundle.pb")!r}, "rb").read(),
                                             static={{"region": "us-east-1"}})
        assert client.get_bool("a.geo", None, {{"country": "US", "user_id": "u"}}) is True
        assert client.get_bool("a.on", None) is True
        assert "rules here" in client.explain("a.geo", {{}}).render()
        loaded = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED))
        assert not loaded, loaded
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
