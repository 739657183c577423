"""The compile cache never changes a result: same bundle bytes with or
without it, exact invalidation by imports, corrupt entries ignored, and
concurrent compiles sharing one cache directory."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from safeflags.compile.driver import CompileResult, compile_repo
from tests.helpers.repo import FlagRepo, bool_flag

TEAM_LIB = "local sf = import 'safeflags.libsonnet';\n{{ release:: sf.bool {{ owner: '{owner}', description: '{desc}' }} }}\n"


def team_flag(team: str) -> str:
    return f"local team = import 'teams/{team}.libsonnet';\nteam.release {{ default: false }}\n"


@pytest.fixture
def repo(tmp_path: Path) -> FlagRepo:
    r = FlagRepo(tmp_path / "repo", with_examples=True)
    teams = r.root / "templates" / "teams"
    teams.mkdir()
    (teams / "billing.libsonnet").write_text(TEAM_LIB.format(owner="team-billing", desc="Billing flag."))
    (teams / "search.libsonnet").write_text(TEAM_LIB.format(owner="team-search", desc="Search flag."))
    for i in range(3):
        r.write(f"billing.team_{i}", team_flag("billing"), header=False)
        r.write(f"search.team_{i}", team_flag("search"), header=False)
    return r


def build(repo: FlagRepo, cache_dir: Path | None = None, **kw: object) -> CompileResult:
    result = compile_repo(repo.root, revision="test", cache_dir=cache_dir, **kw)  # type: ignore[arg-type]
    assert result.ok, [e.format() for e in result.errors]
    return result


def test_same_bytes_with_and_without_cache(repo: FlagRepo, tmp_path: Path) -> None:
    plain = build(repo, cache=False)
    assert not (repo.root / ".safeflags-cache").exists()
    cold = build(repo)
    warm = build(repo)
    assert cold.cached == 0 and warm.cached == len(plain.specs)
    assert plain.data == cold.data == warm.data
    assert plain.specs == warm.specs and plain.files == warm.files
    assert list(plain.specs) == list(warm.specs)  # same (path) order
    # The cache directory ignores itself, so it never makes the revision "+dirty".
    assert (repo.root / ".safeflags-cache" / ".gitignore").read_text() == "*\n"


def test_env_var_moves_the_cache(repo: FlagRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEFLAGS_CACHE_DIR", str(tmp_path / "elsewhere"))
    build(repo)
    assert (tmp_path / "elsewhere").is_dir() and not (repo.root / ".safeflags-cache").exists()
    assert build(repo).cached > 0


def test_template_edit_invalidates_exactly_its_importers(repo: FlagRepo, tmp_path: Path) -> None:
    first = build(repo)
    total = len(first.specs)
    lib = repo.root / "templates" / "teams" / "billing.libsonnet"
    lib.write_text(TEAM_LIB.format(owner="team-billing", desc="Billing flag, edited."))
    again = build(repo)
    assert again.cached == total - 3  # the three billing team flags
    assert again.specs["billing.team_0"].description == "Billing flag, edited."
    assert again.data == build(repo, cache=False).data
    # The shared library changes every flag.
    sf = repo.root / "templates" / "safeflags.libsonnet"
    sf.write_text(sf.read_text() + "\n// a comment\n")
    assert build(repo).cached == 0


def test_flag_edit_and_config_edit(repo: FlagRepo) -> None:
    total = len(build(repo).specs)
    repo.write("billing.team_1", team_flag("billing").replace("false", "true"), header=False)
    res = build(repo)
    assert res.cached == total - 1 and res.data == build(repo, cache=False).data
    # Same Jsonnet output, new config: parsed again, never stale.
    cfg = repo.root / "safeflags.yaml"
    cfg.write_text(cfg.read_text() + "\n# a comment\n")
    assert build(repo).data == build(repo, cache=False).data


def test_a_new_file_shadowing_an_import_is_seen(repo: FlagRepo) -> None:
    build(repo)
    # Imports resolve next to the importing file first: this now wins for billing/.
    (repo.root / "flags" / "billing" / "teams").mkdir()
    (repo.root / "flags" / "billing" / "teams" / "billing.libsonnet").write_text(
        TEAM_LIB.format(owner="team-billing", desc="Shadowed."))
    res = build(repo)
    assert res.specs["billing.team_2"].description == "Shadowed."
    assert res.data == build(repo, cache=False).data


def packs(repo: FlagRepo) -> list[Path]:
    return sorted((repo.root / ".safeflags-cache" / "packs").glob("*.pack"))


def test_corrupt_packs_are_recomputed(repo: FlagRepo) -> None:
    good = build(repo)
    [pack] = packs(repo)  # one file for the whole compile, not one per flag
    raw = pack.read_bytes()
    for broken in (raw[: len(raw) // 2], raw[:-10] + bytes(b ^ 0x55 for b in raw[-10:]), b""):
        for p in packs(repo):
            p.write_bytes(broken)
        again = build(repo)
        assert again.cached == 0 and again.data == good.data
    assert build(repo).cached == len(good.specs)  # rewritten


def test_unchanged_files_are_not_read_again_and_changed_ones_are(repo: FlagRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    from safeflags.compile import cache

    monkeypatch.setattr(cache, "_RACY_NS", 0)  # the files were written just now
    total = len(build(repo).specs)
    [pack] = packs(repo)
    assert build(repo).cached == total and packs(repo) == [pack]  # nothing changed: nothing written
    # Same size and modification time, new content: the inode's change time tells.
    path = repo.root / "flags" / "billing" / "team_1.jsonnet"
    before = path.stat()
    path.write_text(path.read_text().replace("false", "true "))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    res = build(repo)
    assert res.cached == total - 1 and res.data == build(repo, cache=False).data


def test_a_racily_clean_file_is_hashed_again(repo: FlagRepo) -> None:
    total = len(build(repo).specs)
    path = repo.root / "flags" / "billing" / "team_1.jsonnet"
    path.write_text(path.read_text().replace("false", "true "))
    res = build(repo)  # written within the racy window: not recorded, so read each time
    assert res.cached == total - 1
    assert build(repo).cached == total and build(repo).data == build(repo, cache=False).data


def test_old_packs_are_removed(repo: FlagRepo) -> None:
    from safeflags.compile import cache

    for i in range(cache._PACKS + 3):
        repo.write("billing.team_1", team_flag("billing").replace("false", "true" if i % 2 else "false") + f"// {i}\n",
                   header=False)
        build(repo)
    assert 1 <= len(packs(repo)) <= cache._PACKS
    assert build(repo).data == build(repo, cache=False).data


def test_concurrent_compiles_share_one_cache(repo: FlagRepo) -> None:
    expected = build(repo, cache=False).data
    results: list[bytes] = []

    def run() -> None:
        results.append(build(repo, jobs=1).data)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 3
    warm = build(repo)
    assert warm.cached == len(warm.specs) and warm.data == expected
    assert not [p for p in (repo.root / ".safeflags-cache").rglob(".tmp-*")]


def test_errors_are_never_cached(repo: FlagRepo) -> None:
    rel = repo.write("billing.broken", bool_flag("overrides: [sf.when(sf.dim.regoin.in_(['x'])).serve(true)],"))
    first = compile_repo(repo.root, revision="test")
    second = compile_repo(repo.root, revision="test")
    assert [e.format() for e in first.errors] == [e.format() for e in second.errors]
    assert [(e.file, e.code) for e in second.errors] == [(rel, "SF104")]
    assert second.cached == len(second.specs)  # the good ones
