"""The compile cache never changes a result: same bundle bytes with or
without it, exact invalidation by imports, corrupt entries ignored, and
concurrent compiles sharing one cache directory."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from safeflags.compile.cache import compiler_fingerprint, fingerprinted_files
from safeflags.compile.driver import CompileResult, compile_repo
from safeflags.v1 import common_pb2
from tests.helpers.repo import FlagRepo, bool_flag

TEAM_LIB = ("local sf = import 'safeflags.libsonnet';\n"
            "{{ release:: sf.bool {{ owner: '{owner}', description: '{desc}' }} }}\n")


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


def test_vendoring_or_dropping_a_copy_of_the_packaged_library_is_seen(repo: FlagRepo) -> None:
    vendored = (repo.root / "templates" / "safeflags.libsonnet").read_text()
    (repo.root / "templates" / "safeflags.libsonnet").unlink()  # the packaged copy serves
    total = len(build(repo).specs)
    assert build(repo).cached == total
    operational = vendored.replace("flag('bool', 'release')", "flag('bool', 'operational')")
    (repo.root / "templates" / "safeflags.libsonnet").write_text(operational)
    res = build(repo)
    assert res.cached == 0 and res.specs["billing.team_0"].kind == common_pb2.FLAG_KIND_OPERATIONAL
    (repo.root / "templates" / "safeflags.libsonnet").unlink()
    res = build(repo)
    assert res.specs["billing.team_0"].kind == common_pb2.FLAG_KIND_RELEASE
    assert res.data == build(repo, cache=False).data


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


def test_unchanged_files_are_not_read_again_and_changed_ones_are(
    repo: FlagRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
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


# --- the compiler fingerprint: a change to any code a compile runs is a new key ---

FINGERPRINT_PROBE = """
import atexit, json, os, sys
from pathlib import Path

def _record() -> None:
    package = Path(os.environ["SAFEFLAGS_TEST_PACKAGE"])
    files = set()
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if name and Path(name).resolve().is_relative_to(package):
            files.add(str(Path(name).resolve()))
    Path(os.environ["SAFEFLAGS_TEST_IMPORTS"], f"{os.getpid()}.json").write_text(json.dumps(sorted(files)))

atexit.register(_record)
"""

# Every path through a compile: no cache, cold, warm, one flag edited (parsed
# in the driver), the config edited (cached Jsonnet output parsed again).
COMPILES = """
import sys
from pathlib import Path
from safeflags.compile.driver import compile_repo

root = Path(sys.argv[1])
compile_repo(root, revision="t", cache=False, jobs=1)
compile_repo(root, revision="t", jobs=1)
compile_repo(root, revision="t", jobs=1)
flag = root / "flags" / "gen" / "f_0.jsonnet"
flag.write_text(flag.read_text().replace("default: false", "default: true"))
compile_repo(root, revision="t", jobs=1)
config = root / "safeflags.yaml"
config.write_text(config.read_text() + "\\n# edited\\n")
compile_repo(root, revision="t", jobs=1)
"""

# One compile, as JSON: which regex module ran, the cache hits and the errors.
REPORT = """
import json, sys
from pathlib import Path
import safeflags.compile.parse.regex as regex
from safeflags.compile.driver import compile_repo

res = compile_repo(Path(sys.argv[1]), revision="t", cache=sys.argv[2] == "cache", jobs=1)
print(json.dumps({"regex": regex.__file__, "cached": res.cached, "specs": len(res.specs),
                  "errors": [[e.file, e.code, e.message] for e in res.errors]}))
"""

REGEX_FLAG = bool_flag("overrides: [sf.when(sf.dim.email.regex('@corp[.]example$')).serve(true)],")


def copy_package(dst: Path) -> Path:
    """A copy of the installed package folder (`dst/safeflags`)."""
    import safeflags

    target = dst / "safeflags"
    shutil.copytree(Path(safeflags.__file__).resolve().parent, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def python(code: str, *args: str, cwd: Path, path: list[Path], env: dict[str, str] | None = None) -> str:
    """Run `code` in a fresh interpreter with `path` first on PYTHONPATH (the
    evaluator processes it starts inherit it), outside the source checkout."""
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join([*map(str, path), *filter(None, [os.environ.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_every_fingerprinted_file_changes_the_fingerprint(tmp_path: Path) -> None:
    from safeflags.compile import cache

    package = copy_package(tmp_path)
    files = fingerprinted_files(package)
    covered = {p.relative_to(package).as_posix() for p in files}
    assert {"__init__.py", "version.py", "compile/parse/regex.py", "compile/lower.py", "source/jsonnet.py",
            "sdk/kernel/bucketing.py", "v1/bundle_pb2.py", "templates/safeflags.libsonnet"} <= covered
    cache._fingerprint.cache_clear()  # memoised per folder for a process; these edits happen within one
    original = compiler_fingerprint(package)
    for path in files:
        before = path.read_bytes()
        path.write_bytes(before + b"\n# edited\n")
        cache._fingerprint.cache_clear()
        try:
            assert compiler_fingerprint(package) != original, path.relative_to(package)
        finally:
            path.write_bytes(before)
    # Validation code decides no compile output: editing it keeps the cache.
    runner = package / "validation" / "runner.py"
    runner.write_text(runner.read_text() + "\n# edited\n")
    cache._fingerprint.cache_clear()
    assert compiler_fingerprint(package) == original


def test_a_compile_imports_only_fingerprinted_modules(tmp_path: Path) -> None:
    import safeflags
    from safeflags.compile.driver import PARSE_IN_WORKERS_FROM

    repo = FlagRepo(tmp_path / "repo", with_examples=True)
    for i in range(PARSE_IN_WORKERS_FROM):  # enough flags that the evaluator processes parse too
        repo.write(f"gen.f_{i}", bool_flag())
    repo.write("gen.rx", REGEX_FLAG)
    repo.write("gen.broken", bool_flag("overrides: [sf.when(sf.dim.regoin.in_(['x'])).serve(true)],"))
    probe, logs = tmp_path / "probe", tmp_path / "imports"
    probe.mkdir()
    logs.mkdir()
    (probe / "sitecustomize.py").write_text(FINGERPRINT_PROBE)
    package = Path(safeflags.__file__).resolve().parent
    python(COMPILES, str(repo.root), cwd=tmp_path, path=[probe],
           env={"SAFEFLAGS_TEST_PACKAGE": str(package), "SAFEFLAGS_TEST_IMPORTS": str(logs)})
    per_process = [set(json.loads(p.read_text())) for p in logs.glob("*.json")]
    worker = str(package / "compile" / "load.py")
    assert len(per_process) >= 2 and any(worker in files for files in per_process)  # the evaluators too
    loaded = set().union(*per_process)
    assert str(package / "compile" / "parse" / "regex.py") in loaded
    allowed = {str(p.resolve()) for p in fingerprinted_files(package)}
    assert sorted(loaded - allowed) == []


# A change to the compiler in a copy of the package, by stage: the file, the
# line it follows or replaces, the new text, and the code every flag it
# touches now fails with.
PATCHES = {
    "parse": ("compile/parse/regex.py", '    """None if `pattern` is acceptable, else why not."""\n',
              '    """None if `pattern` is acceptable, else why not."""\n'
              '    return "no pattern is accepted by this build"\n', "SF109"),
    "evaluation": ("source/jsonnet.py", "    return Evaluated(path, text, tuple(sorted(importer.imported)))\n",
                   '    raise JsonnetFailed(SourceError(path, 1, 1, "no file is evaluated by this build"))\n', "SF101"),
}


@pytest.mark.parametrize("stage", sorted(PATCHES))
def test_a_changed_compiler_never_gets_the_old_ones_cached_result(tmp_path: Path, stage: str) -> None:
    original = copy_package(tmp_path / "original").parent
    patched = copy_package(tmp_path / "patched")
    file, old, new, code = PATCHES[stage]
    text = (patched / file).read_text()
    assert old in text
    (patched / file).write_text(text.replace(old, new))
    repo = FlagRepo(tmp_path / "repo")
    rel = repo.write("billing.rx", REGEX_FLAG)
    repo.write("billing.plain", bool_flag())

    def compile_with(package_parent: Path, cache: bool = True) -> dict[str, Any]:
        mode = "cache" if cache else "none"
        out = json.loads(python(REPORT, str(repo.root), mode, cwd=tmp_path, path=[package_parent]))
        assert Path(out["regex"]).resolve().is_relative_to(package_parent.resolve())
        return out

    cold = compile_with(original)
    warm = compile_with(original)
    assert cold["errors"] == warm["errors"] == []
    assert warm["cached"] == warm["specs"] == 2  # the cache holds every flag, the regex one included
    fresh = compile_with(patched.parent, cache=False)
    assert rel in {f for f, _, _ in fresh["errors"]} and {c for _, c, _ in fresh["errors"]} == {code}
    changed = compile_with(patched.parent)  # warm: the cache was filled by the original
    assert (changed["errors"], changed["specs"]) == (fresh["errors"], fresh["specs"])


def test_the_fingerprint_names_the_libraries_that_decide_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    from safeflags.compile import cache

    # An RE2 or pydantic upgrade can change what a flag compiles to (or
    # whether it compiles): the installed versions are part of the key.
    versions = cache.library_versions()
    assert [v.split("==")[0] for v in versions] == list(cache.LIBRARIES)
    assert all(not v.endswith("==unknown") for v in versions)
    package = Path(cache.__file__).resolve().parent.parent
    cache._fingerprint.cache_clear()
    before = cache.compiler_fingerprint(package)
    upgraded = [v.replace("google-re2==", "google-re2==9") for v in versions]
    monkeypatch.setattr(cache, "library_versions", lambda: upgraded)
    cache._fingerprint.cache_clear()
    assert cache.compiler_fingerprint(package) != before
    cache._fingerprint.cache_clear()


def test_a_pull_requests_base_and_head_stay_warm_round_after_round(repo: FlagRepo, tmp_path: Path) -> None:
    """validate --base compiles the head in place and the base in a fresh
    export (new inodes, so each base compile writes a pack of file records).
    Packs age by last use: round after round, neither side evaluates again."""
    from safeflags.compile import cache

    shared = tmp_path / "cache"
    teams = repo.root / "templates" / "teams" / "billing.libsonnet"
    base_lib = teams.read_text()
    teams.write_text(base_lib.replace("Billing flag.", "Billing flag, edited by the pull request."))
    total = len(build(repo, shared).specs)
    for round_ in range(cache._PACKS + 2):
        export = tmp_path / f"base-{round_}"
        shutil.copytree(repo.root, export)
        (export / "templates" / "teams" / "billing.libsonnet").write_text(base_lib)
        base = compile_repo(export, revision="base", cache_dir=shared)
        head = build(repo, shared)
        if round_:
            assert (base.cached, head.cached) == (total, total), f"round {round_}"
        shutil.rmtree(export)
