"""What the compile result gives validators besides the bundle (`FlagFacts`:
each flag's lowering in parts and its source) is the same whichever way a
flag was compiled: in this process, in the evaluator processes, or taken
from the cache. Each is made once, and never again on the parent's side
when this process already made it."""
from __future__ import annotations

from pathlib import Path

import pytest

from safeflags.compile import driver as compiler
from safeflags.compile.driver import CompileResult, compile_repo
from safeflags.compile.lower import Lowerer
from tests.helpers.repo import FlagRepo, bool_flag


@pytest.fixture
def repo(tmp_path: Path) -> FlagRepo:
    r = FlagRepo(tmp_path / "repo", with_examples=True)
    r.write("alpha.off", bool_flag("""
        enabled: false,
        prerequisites: [sf.prereq('billing.new_invoice_path')],
        overrides: [sf.when(sf.dim.region.in_(['us-east-1'])).serve(true)],
    """))
    for i in range(3):
        r.write(f"alpha.flag_{i}", bool_flag("overrides: [sf.when(sf.dim.region.in_(['eu-west-1'])).serve(true)],"))
    return r


def inputs(result: CompileResult) -> dict[str, tuple[object, ...]]:
    """Everything validators read per flag, as comparable values."""
    out: dict[str, tuple[object, ...]] = {}
    for key in result.specs:
        facts = result.flag_facts(key)
        low, loc = facts.lowered, facts.locator
        assert loc is not None
        out[key] = (low.body, low.gate, low.overrides, low.scopes, low.names, loc.text, loc.find_field("default"))
    return out


def compile_with(repo: FlagRepo, monkeypatch: pytest.MonkeyPatch, *, workers: bool, **kw: object) -> CompileResult:
    monkeypatch.setattr(compiler, "PARSE_IN_WORKERS_FROM", 0 if workers else 10**9)
    result = compile_repo(repo.root, revision="test", **kw)  # type: ignore[arg-type]
    assert result.ok, [e.format() for e in result.errors]
    return result


def test_validator_inputs_are_the_same_on_every_path(repo: FlagRepo, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    here = compile_with(repo, monkeypatch, workers=False, cache=False)
    want = inputs(here)
    lowered = {key: here.flag_facts(key).lowered for key in here.specs}
    assert lowered["alpha.off"].body.disabled and lowered["alpha.off"].body.rules  # lowered although switched off
    assert any(low.scopes for low in lowered.values())  # some rollout stage has a scope
    assert any(low.gate is not None for low in lowered.values())  # some flag has a gate
    there = compile_with(repo, monkeypatch, workers=True, cache=False)
    cold = compile_with(repo, monkeypatch, workers=True, cache_dir=tmp_path / "cache")
    warm = compile_with(repo, monkeypatch, workers=False, cache_dir=tmp_path / "cache")
    assert warm.cached == len(here.specs)
    for other in (there, cold, warm):
        assert other.data == here.data
        assert inputs(other) == want


def test_the_bundle_form_is_put_together_from_the_parts(repo: FlagRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    result = compile_with(repo, monkeypatch, workers=False, cache=False)
    for key, spec in result.specs.items():
        low = result.flag_facts(key).lowered
        compiled = low.compiled()
        assert compiled == Lowerer(result.config.dimensions).flag(spec)
        if spec.enabled:
            gate = [low.gate] if low.gate is not None else []
            assert list(compiled.rules) == gate + list(low.body.rules)
        else:
            assert not compiled.rules and list(compiled.values) == [spec.default]


def test_each_flag_is_lowered_once(repo: FlagRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[str] = []
    real = Lowerer.lower

    def counting(self: Lowerer, spec: object) -> object:
        calls.append(spec.key)  # type: ignore[attr-defined]
        return real(self, spec)  # type: ignore[arg-type]

    monkeypatch.setattr(Lowerer, "lower", counting)
    here = compile_with(repo, monkeypatch, workers=False, cache_dir=tmp_path / "cache")
    assert sorted(calls) == sorted(here.specs)
    inputs(here)
    inputs(here)
    assert sorted(calls) == sorted(here.specs)  # the parser's lowering is the one validators read
    calls.clear()
    warm = compile_with(repo, monkeypatch, workers=False, cache_dir=tmp_path / "cache")
    assert warm.cached == len(warm.specs) and calls == []
    inputs(warm)
    inputs(warm)
    assert sorted(calls) == sorted(warm.specs)  # from the cache: lowered on first use, once


def test_each_flag_file_is_indexed_once(repo: FlagRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from safeflags.compile import driver, pipeline
    from safeflags.compile.parse import locate, spec

    made: list[str] = []
    real = locate.Locator

    def counting(text: str) -> locate.Locator:
        made.append(text)
        return real(text)

    for module in (driver, pipeline, spec):
        monkeypatch.setattr(module, "Locator", counting)
    here = compile_with(repo, monkeypatch, workers=False, cache_dir=tmp_path / "cache")
    inputs(here)
    inputs(here)
    # Parsed here: the parser's locator is the one validators read.
    assert len(made) == len(here.specs)


def test_a_result_made_by_hand_derives_its_facts(repo: FlagRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    full = compile_with(repo, monkeypatch, workers=False, cache=False)
    slice_ = CompileResult(full.config, specs=dict(full.specs), files=dict(full.files))
    assert inputs(slice_) == inputs(full)
    rel = full.files["alpha.off"]
    assert slice_.locator(rel) is slice_.flag_facts("alpha.off").locator
    assert slice_.locator("flags/alpha/missing.jsonnet") is None
