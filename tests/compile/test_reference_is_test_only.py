"""The reference interpreter (safeflags/compile/reference.py) is the tests'
oracle for the lowering: were production code to use it, the oracle would
be checking itself. No module of the package imports it, in any spelling."""
from __future__ import annotations

import ast
from pathlib import Path

import safeflags

PACKAGE = Path(safeflags.__file__).resolve().parent
REFERENCE = "safeflags.compile.reference"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def referenced(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module `source` (the text of `module`) imports or may import:
    absolute and relative imports, each `from X import name` also as X.name,
    and string constants naming a module (for importlib)."""
    here = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("safeflags."):
            found.add(node.value)
    return found


def test_the_scan_sees_every_spelling() -> None:
    spellings = [
        "import safeflags.compile.reference",
        "from safeflags.compile.reference import Reference",
        "from safeflags.compile import reference",
        "from . import reference",
        "from .reference import py_value",
        "def f() -> None:\n    from safeflags.compile.reference import Reference",
        "import importlib\nimportlib.import_module('safeflags.compile.reference')",
    ]
    for text in spellings:
        assert REFERENCE in referenced(text, "safeflags.compile.driver"), text
    assert REFERENCE in referenced("from ..compile import reference", "safeflags.validation.api")
    assert REFERENCE in referenced("from .. import reference", "safeflags.compile.parse", is_package=True)
    assert REFERENCE not in referenced("from safeflags.compile import lower", "safeflags.validation.api")


def test_no_package_module_imports_the_reference_interpreter() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name == REFERENCE or "v1" in path.relative_to(PACKAGE).parts:
            continue
        if REFERENCE in referenced(path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py"):
            offenders.append(name)
    assert offenders == []
