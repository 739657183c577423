"""Compile errors are the runner's own findings: reported once, as errors,
whichever validators run and whatever rules, scope or suppressions say."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from safeflags.compile.config import load_config
from safeflags.compile.driver import CompileResult
from safeflags.source.errors import SourceError
from safeflags.v1 import common_pb2, spec_pb2
from safeflags.validation import registry
from safeflags.validation.api import Context, FlagValidator, NoOptions, Validator
from safeflags.validation.finding import Finding, Severity
from safeflags.validation.runner import compile_findings, run
from safeflags.validation.settings import Rule
from tests.validation.harness import HERE

BROKEN = "flags/ns/broken.jsonnet"
ERRORS = [
    SourceError(BROKEN, 11, 6, "Expected a comma before next array element", stage="jsonnet", code="SF101"),
    SourceError("flags/ns/typo.jsonnet", 4, 3, "unknown field 'descripton'", stage="parse", code="SF102",
                hint="did you mean 'description'?", field_path="descripton"),
    SourceError("flags/ns/odd.jsonnet", 2, 1, "something the parser gave no code", stage="parse"),
]


class _Quiet(FlagValidator):
    """Finds nothing."""

    code, name = "TST010", "quiet"

    def check_flag(self, flag: spec_pb2.FlagSpec, ctx: Context) -> Iterator[Finding]:
        yield from ()


def _head(tmp_path: Path) -> CompileResult:
    (tmp_path / "safeflags.yaml").write_text((HERE / "data" / "safeflags.yaml").read_text())
    location = common_pb2.Location(file="flags/ns/good.jsonnet", line=2, column=1)
    spec = spec_pb2.FlagSpec(key="ns.good", location=location)
    return CompileResult(load_config(tmp_path), specs={"ns.good": spec}, errors=list(ERRORS))


def _located(findings: list[Finding]) -> list[tuple[str, str, int, int, Severity]]:
    return sorted((f.code, f.file, f.line, f.column, f.severity) for f in findings)


WANT = sorted([("SF101", BROKEN, 11, 6, Severity.ERROR), ("SF102", "flags/ns/typo.jsonnet", 4, 3, Severity.ERROR),
               ("SF102", "flags/ns/odd.jsonnet", 2, 1, Severity.ERROR)])


def test_compile_errors_fail_a_run_with_no_compile_validator(tmp_path: Path) -> None:
    out = run(Context(_head(tmp_path)), [_Quiet()], {})
    assert _located(out.findings) == WANT
    assert out.failed
    typo = next(f for f in out.findings if f.file == "flags/ns/typo.jsonnet")
    assert (typo.message, typo.hint) == ("unknown field 'descripton' (at descripton)", "did you mean 'description'?")


def test_each_compile_error_is_reported_once_with_every_builtin(tmp_path: Path) -> None:
    validators: list[Validator] = [cls() for cls in registry.load(HERE)]
    out = run(Context(_head(tmp_path)), validators, {})
    assert _located([f for f in out.findings if f.code.startswith("SF1")]) == WANT


@pytest.mark.parametrize("rule", [
    Rule(False, Severity.ERROR, (), NoOptions()),
    Rule(True, Severity.NOTICE, (), NoOptions()),
    Rule(True, Severity.ERROR, ("nothing/**",), NoOptions()),
], ids=["disabled", "re-graded", "scoped-away"])
def test_no_rule_turns_a_compile_error_off(tmp_path: Path, rule: Rule) -> None:
    # Settings refuse such rules (tests/cli/test_validate_cmd.py); the runner does not rely on it.
    validators: list[Validator] = [cls() for cls in registry.BUILTIN[:2]]
    out = run(Context(_head(tmp_path)), validators, {"SF101": rule, "SF102": rule})
    assert _located(out.findings) == WANT and out.failed


def test_compile_errors_count_outside_the_scope_and_are_never_suppressed(tmp_path: Path) -> None:
    head = _head(tmp_path)
    head.specs["ns.good"].suppressions.add(code="SF101", reason="this would silence a compile error")
    ctx = Context(head, CompileResult(head.config), scope=frozenset({"ns.good"}))
    out = run(ctx, [_Quiet()], {})
    assert _located(out.findings) == WANT and out.hidden == 0
    assert [len(s.silenced) for s in out.suppressions] == [0]


def test_a_head_that_does_not_compile_fails_even_without_findings(tmp_path: Path) -> None:
    out = run(Context(_head(tmp_path)), [_Quiet()], {})
    out.findings.clear()
    assert out.failed
    assert not run(Context(CompileResult(_head(tmp_path).config)), [_Quiet()], {}).failed


def test_compile_findings_keep_the_located_error(tmp_path: Path) -> None:
    [f] = compile_findings(CompileResult(_head(tmp_path).config, errors=ERRORS[:1]))
    assert f == Finding("SF101", Severity.ERROR, ERRORS[0].message, BROKEN, 11, 6, None, None)
