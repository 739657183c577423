"""Package-wide rules: one name per concept, and no pipeline module at the top."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "safeflags"


def test_no_two_public_classes_share_a_name() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        if "v1" in path.relative_to(PACKAGE).parts:
            continue  # generated from the proto
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                where[node.name].append(str(path.relative_to(PACKAGE)))
    assert {name: files for name, files in where.items() if len(files) > 1} == {}


def test_the_top_level_holds_only_the_face() -> None:
    # Stages live in compile/ and source/, the shared kernel in sdk/kernel/.
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "openfeature.py", "version.py"]
