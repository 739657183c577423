"""The package root is a thin, lazy face: importing the compile side loads no
delivery, store or server module, and `import safeflags` alone loads nothing
but the version. import-linter checks the static graph; this checks what a
real interpreter loads, lazy imports and `__getattr__` faces included."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

RUNTIME = ("safeflags.delivery", "safeflags.store", "safeflags.serve", "safeflags.openfeature")


def loaded_after(statement: str) -> list[str]:
    code = (f"import sys, json\n{statement}\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('safeflags'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return list(json.loads(out.stdout))


def test_import_safeflags_loads_only_the_face() -> None:
    assert loaded_after("import safeflags") == ["safeflags", "safeflags.version"]


@pytest.mark.parametrize("module", [
    "safeflags.compile.lower", "safeflags.compile.pack", "safeflags.compile.driver", "safeflags.compile.parse.spec",
    "safeflags.validation.session", "safeflags.report",
])
def test_the_compile_side_loads_no_runtime_module(module: str) -> None:
    mods = loaded_after(f"import {module}")
    assert module in mods
    assert [m for m in mods if m.startswith(RUNTIME)] == []


def test_the_face_resolves_every_public_name() -> None:
    mods = loaded_after("import safeflags\nfor n in safeflags.__all__: getattr(safeflags, n)\n"
                        "assert safeflags.Client.__mro__[1] is safeflags.Evaluator")
    assert "safeflags.delivery.client" in mods and "safeflags.sdk.evaluator" in mods
