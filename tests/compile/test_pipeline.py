"""Flags parsed and lowered in the evaluator processes come out exactly as
when the compiling process parses them: same specs, bundle and located errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from safeflags.compile import driver as compiler
from safeflags.compile.driver import compile_repo
from tests.helpers.repo import FlagRepo, bool_flag


@pytest.fixture
def repo(tmp_path: Path) -> FlagRepo:
    r = FlagRepo(tmp_path / "repo", with_examples=True)
    for ns in ("alpha", "beta"):
        for i in range(3):
            r.write(f"{ns}.flag_{i}", bool_flag("overrides: [sf.when(sf.dim.region.in_(['us-east-1'])).serve(true)],"))
    return r


def both(repo: FlagRepo, monkeypatch: pytest.MonkeyPatch) -> tuple[compiler.CompileResult, compiler.CompileResult]:
    monkeypatch.setattr(compiler, "PARSE_IN_WORKERS_FROM", 0)
    there = compile_repo(repo.root, revision="test", cache=False)
    monkeypatch.setattr(compiler, "PARSE_IN_WORKERS_FROM", 10**9)
    here = compile_repo(repo.root, revision="test", cache=False)
    return there, here


def test_same_bundle_and_specs(repo: FlagRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    there, here = both(repo, monkeypatch)
    assert there.ok and there.data == here.data
    assert there.specs == here.specs and there.files == here.files and there.imports == here.imports


def test_same_located_errors(repo: FlagRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.write("alpha.typed", bool_flag("overrides: [sf.when({op: 'in', dim: 'regoin', values: ['x']}).serve(3)],"))
    repo.write("beta.syntax", "sf.bool { owner: 'team-billing' description: 'x', default: false }\n")
    repo.write("beta.unknown", bool_flag("descripton: 'typo',"))
    there, here = both(repo, monkeypatch)
    assert there.errors and there.errors == here.errors
    assert [e.source_line for e in there.errors] == [e.source_line for e in here.errors]
    assert there.specs == here.specs


def test_a_config_that_changed_under_the_workers_is_parsed_here(
    repo: FlagRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The workers read safeflags.yaml themselves; when their digest differs
    # from the caller's they leave parsing to the caller.
    monkeypatch.setattr(compiler, "PARSE_IN_WORKERS_FROM", 0)
    real = compiler.digest
    monkeypatch.setattr(compiler, "digest", lambda *parts: real(*parts) if len(parts) != 1 else "not-the-workers'")
    odd = compile_repo(repo.root, revision="test", cache=False)
    monkeypatch.setattr(compiler, "digest", real)
    assert odd.ok and odd.data == compile_repo(repo.root, revision="test", cache=False).data


def test_worker_parsed_flags_are_cached(repo: FlagRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(compiler, "PARSE_IN_WORKERS_FROM", 0)
    cold = compile_repo(repo.root, revision="test", cache_dir=tmp_path / "cache")
    warm = compile_repo(repo.root, revision="test", cache_dir=tmp_path / "cache")
    plain = compile_repo(repo.root, revision="test", cache=False)
    assert cold.cached == 0 and warm.cached == len(plain.specs)
    assert cold.data == warm.data == plain.data and warm.specs == plain.specs
