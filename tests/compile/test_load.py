"""Evaluating many files in one engine VM (the worker's batches) gives the
same results and the same located errors as evaluating each file alone."""
from __future__ import annotations

from pathlib import Path

import pytest

from safeflags.compile import load as pool
from safeflags.compile.driver import compile_repo
from tests.helpers.repo import FlagRepo, bool_flag


@pytest.fixture
def repo(tmp_path: Path) -> FlagRepo:
    r = FlagRepo(tmp_path / "repo", with_examples=True)
    for ns in ("alpha", "beta", "gamma", "delta"):
        for i in range(3):
            r.write(f"{ns}.flag_{i}", bool_flag())
    return r


def test_batches_match_one_file_per_vm(repo: FlagRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    together = compile_repo(repo.root, revision="test", cache=False)
    monkeypatch.setattr(pool, "BATCH", 1)
    alone = compile_repo(repo.root, revision="test", cache=False)
    assert together.ok and together.data == alone.data
    for rel, imports in alone.imports.items():
        assert set(imports) <= set(together.imports[rel])  # a superset at most: lazy shared libraries


def test_a_bad_file_in_a_batch_is_reported_alone(repo: FlagRepo) -> None:
    rel = repo.write("beta.broken", "sf.bool { owner: 'team-billing', description: 'x' default: false }\n")
    result = compile_repo(repo.root, revision="test", cache=False)
    assert [(e.file, e.line, e.code) for e in result.errors] == [(rel, 2, "SF101")]
    assert len(result.specs) == 20 + 12


def test_a_runaway_file_in_a_batch_is_blamed_alone(repo: FlagRepo) -> None:
    text = (repo.root / "safeflags.yaml").read_text()
    repo.set_config(text + "limits:\n  eval_timeout_seconds: 1.5\n")
    rel = repo.write("gamma.loop", "{ a: std.length(std.range(0, 2000000000)) }\n")
    result = compile_repo(repo.root, revision="test", jobs=1, cache=False)
    assert [(e.file, e.code) for e in result.errors] == [(rel, "SF101")]
    assert len(result.specs) == 20 + 12


def test_groups_never_share_a_directory() -> None:
    paths = ["flags/a/1.jsonnet", "flags/a/2.jsonnet", "flags/b/1.jsonnet", "flags/a/3.jsonnet", "flags/c/1.jsonnet"]
    groups = pool._groups(paths)
    assert sorted(p for g in groups for p in g) == sorted(paths)
    for g in groups:
        dirs = [p.rsplit("/", 1)[0] for p in g]
        assert len(dirs) == len(set(dirs))
    assert pool._interleave(paths) == [
        "flags/a/1.jsonnet", "flags/b/1.jsonnet", "flags/c/1.jsonnet", "flags/a/2.jsonnet", "flags/a/3.jsonnet"]
