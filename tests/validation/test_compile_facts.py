"""Validators read what the compiler computed (`CompileResult.flag_facts`):
none lowers a flag again or indexes a flag file's source itself, so what
they judge is what the compiler made of the flag."""
from __future__ import annotations

import ast
from pathlib import Path

import safeflags.validation
from tests.helpers.repo import FlagRepo, bool_flag

VALIDATION = Path(safeflags.validation.__file__).resolve().parent
COMPILER_WORK = {"Lowerer", "Locator", "parse_flag"}  # names only the compile package may call


def calls(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            found.add(f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "")
    return found


def test_the_scan_sees_a_call() -> None:
    assert calls("x = Lowerer(dims).lower(spec)") >= {"Lowerer", "lower"}
    assert "Locator" in calls("import m\nloc = m.Locator(text)")


def test_no_validation_module_redoes_the_compilers_work() -> None:
    offenders = {}
    for path in sorted(VALIDATION.rglob("*.py")):
        bad = calls(path.read_text(encoding="utf-8")) & COMPILER_WORK
        if bad:
            offenders[path.relative_to(VALIDATION).as_posix()] = sorted(bad)
    assert offenders == {}


def test_positions_come_from_the_compile_result(tmp_path: Path) -> None:
    from safeflags.compile.parse.locate import Locator
    from safeflags.validation.api import Context

    repo = FlagRepo(tmp_path / "repo")
    rel = repo.write("alpha.flag", bool_flag("overrides: [sf.when(sf.dim.region.in_(['us-east-1'])).serve(true)],"))
    head = repo.compile()
    ctx = Context(head)
    spec = head.specs["alpha.flag"]
    text = (repo.root / rel).read_text(encoding="utf-8")
    (repo.root / rel).unlink()  # the result holds the source the compiler read
    where = ctx.field(spec, "default")
    assert where == Locator(text).find_field("default") and where != (spec.location.line, spec.location.column)
    assert ctx.locator(rel) is head.flag_facts("alpha.flag").locator
