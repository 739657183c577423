"""Flag files cannot read the machine: discovery refuses a flag file or a
directory of flags that is a symbolic link (wherever it leads, inside the
repository too) without opening it, a path too long for the system is a
located error naming the repository-relative path only, and no output
format prints a byte of a linked file or the machine's absolute paths."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from safeflags.compile.discovery import MAX_PATH_BYTES
from safeflags.compile.driver import compile_repo
from safeflags.source.errors import SourceError, read_line
from safeflags.source.sandbox import RepoFileRefused, open_in_repo
from tests.helpers.repo import ROOT, FlagRepo, bool_flag

SECRET = "sf-secret-5f1c2a"  # in every file a link points at; must never be printed
CLI = "from safeflags.cli.main import main; main()"


@pytest.fixture
def repo(tmp_path: Path) -> FlagRepo:
    r = FlagRepo(tmp_path / "repo")
    shutil.copytree(ROOT / "validators", r.root / "validators")  # safeflags.yaml enables the team validator
    shutil.copy(ROOT / "deployments.yaml", r.root / "deployments.yaml")
    r.write("billing.good", bool_flag())
    r.write("search.good", bool_flag())
    return r


def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "credentials"
    path.write_text(f"{{ token: '{SECRET}' }}\n")  # valid Jsonnet: followed, it would compile into the bundle
    return path


def errors_of(repo: FlagRepo) -> list[tuple[str, int, str | None]]:
    result = compile_repo(repo.root, revision="test", cache=False)
    assert {"billing.good", "search.good"} <= set(result.specs)
    return [(e.file, e.line, e.code) for e in result.errors]


@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/environ", "outside", "inside"])
def test_a_linked_flag_file_is_refused_at_its_path(repo: FlagRepo, tmp_path: Path, target: str) -> None:
    to = {"outside": secret_file(tmp_path), "inside": repo.root / "flags/billing/good.jsonnet"}.get(target, target)
    os.symlink(to, repo.root / "flags/billing/linked.jsonnet")
    result = compile_repo(repo.root, revision="test", cache=False)
    assert [(e.file, e.line, e.code) for e in result.errors] == [("flags/billing/linked.jsonnet", 0, "SF106")]
    assert "not a symbolic link" in result.errors[0].message
    assert "billing.linked" not in result.specs and "billing.good" in result.specs


@pytest.mark.timeout(60)
def test_the_link_target_is_never_opened(repo: FlagRepo, tmp_path: Path) -> None:
    # Opening a FIFO nobody writes blocks: a compile that read the target would hang here.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    os.symlink(fifo, repo.root / "flags/billing/linked.jsonnet")
    assert errors_of(repo) == [("flags/billing/linked.jsonnet", 0, "SF106")]


def test_a_linked_directory_of_flags_is_refused_and_nothing_under_it_read(repo: FlagRepo, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "flags"
    outside.mkdir(parents=True)
    (outside / "leak.jsonnet").write_text(f"{{ token: '{SECRET}' }}\n")
    os.symlink(outside, repo.root / "flags/linked")
    os.symlink(repo.root / "flags/billing", repo.root / "flags/alias")  # inside the repository: refused too
    assert errors_of(repo) == [("flags/alias", 0, "SF106"), ("flags/linked", 0, "SF106")]


def test_a_linked_flags_directory_is_refused(repo: FlagRepo) -> None:
    os.rename(repo.root / "flags", repo.root / "real")
    os.symlink(repo.root / "real", repo.root / "flags")
    result = compile_repo(repo.root, revision="test", cache=False)
    assert [(e.file, e.line, e.code) for e in result.errors] == [("flags", 0, "SF106")]
    assert result.specs == {}


def test_links_that_are_no_flag_files_are_left_to_the_import_sandbox(repo: FlagRepo) -> None:
    shared = repo.root / "templates" / "shared.libsonnet"
    shared.write_text("{ owner: 'team-billing' }\n")
    os.symlink(shared, repo.root / "flags/billing/shared.libsonnet")
    repo.write("billing.uses", "local s = import 'shared.libsonnet';\n"
               "sf.bool { owner: s.owner, description: 'x', default: false }\n")
    assert errors_of(repo) == []


def test_a_flag_file_that_is_a_pipe_is_refused(repo: FlagRepo) -> None:
    os.mkfifo(repo.root / "flags/billing/pipe.jsonnet")
    assert errors_of(repo) == [("flags/billing/pipe.jsonnet", 0, "SF106")]


def make_deep(base: Path, names: list[str], leaf: str) -> str:
    """Directories `names` under `base`, a flag file `leaf` at the bottom,
    made by descriptor: the absolute path may exceed what open() accepts."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
        out = os.open(leaf, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, bool_flag().encode())
        os.close(out)
    finally:
        os.close(fd)
    return "/".join([*names, leaf])


def test_a_flag_path_over_the_bound_is_refused_by_its_relative_path(repo: FlagRepo) -> None:
    below = make_deep(repo.root / "flags", ["deep"] + ["d" * 99] * 4, "n" * 100 + ".jsonnet")
    rel = "flags/" + below
    assert len(rel.encode()) > MAX_PATH_BYTES
    assert errors_of(repo) == [(rel, 0, "SF106")]


def test_directories_deeper_than_the_system_allows_are_a_located_error(repo: FlagRepo) -> None:
    make_deep(repo.root / "flags", ["deep"] + ["q" * 200] * 25, "x.jsonnet")  # > 4096 bytes absolute
    assert errors_of(repo) == [("flags/deep/" + "/".join(["q" * 200] * 3), 0, "SF106")]


def test_an_import_name_too_long_for_the_system_is_refused_at_its_line(repo: FlagRepo, tmp_path: Path) -> None:
    rel = repo.write("billing.long_import", "local t = import '" + "a" * 300 + ".libsonnet';\nt\n")
    result = compile_repo(repo.root, revision="test", cache=False)
    assert [(e.file, e.line, e.code) for e in result.errors] == [(rel, 2, "SF101")]
    assert result.errors[0].message.endswith("cannot read: file name too long")
    assert str(tmp_path) not in result.errors[0].format(repo.root)


def test_a_nul_byte_is_located_and_others_in_its_batch_compile(repo: FlagRepo) -> None:
    for ns in ("alpha", "beta", "gamma"):
        repo.write(f"{ns}.fine", bool_flag())
    line = "  owner: 'team-billing', description: 'x\0y', default: false }"
    rel = repo.write("beta.nul", "sf.bool {\n" + line + "\n")
    result = compile_repo(repo.root, revision="test", cache=False)
    assert [(e.file, e.line, e.column, e.code) for e in result.errors] == [(rel, 3, line.index("\0") + 1, "SF101")]
    assert "NUL" in result.errors[0].message
    assert {"alpha.fine", "beta.fine", "gamma.fine", "billing.good"} <= set(result.specs)


def test_bytes_that_are_not_utf8_are_located(repo: FlagRepo) -> None:
    (repo.root / "flags/billing/latin.jsonnet").write_bytes(b"{\n  a: 'caf\xe9' }\n")
    result = compile_repo(repo.root, revision="test", cache=False)
    assert [(e.file, e.line, e.column) for e in result.errors] == [("flags/billing/latin.jsonnet", 2, 10)]
    assert "0xe9" in result.errors[0].message


def test_source_lines_are_read_only_inside_the_repository_and_never_through_a_link(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "flags").mkdir(parents=True)
    (root / "flags" / "ok.jsonnet").write_text("first\nsecond\n")
    secret = secret_file(tmp_path)
    os.symlink(secret, root / "flags" / "link.jsonnet")
    os.symlink(tmp_path, root / "flags" / "up")
    assert read_line(root / "flags/ok.jsonnet", 2, root=root) == "second"
    for path in ("flags/link.jsonnet", "flags/up/credentials", "../credentials", str(secret)):
        assert read_line(root / path, 1, root=root) is None
        assert SECRET not in SourceError(path, 1, 1, "boom").format(root)
    assert read_line(root / "flags/link.jsonnet", 1) is None  # without a root: not through a final link
    with pytest.raises(RepoFileRefused, match="symbolic link") as err:
        open_in_repo(root, "flags/link.jsonnet")
    assert str(tmp_path) not in str(err.value)


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SAFEFLAGS_PROBE=SECRET)  # so /proc/self/environ holds the secret too
    return subprocess.run([sys.executable, "-c", CLI, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=240, check=False)


def test_no_output_format_prints_a_linked_file_or_an_absolute_path(repo: FlagRepo, tmp_path: Path) -> None:
    flags = repo.root / "flags"
    os.symlink("/etc/passwd", flags / "billing/passwd.jsonnet")
    os.symlink("/proc/self/environ", flags / "billing/environ.jsonnet")
    os.symlink(secret_file(tmp_path), flags / "billing/creds.jsonnet")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "leak.jsonnet").write_text(f"{{ token: '{SECRET}' }}\n")
    os.symlink(outside, flags / "linked")
    make_deep(flags, ["deep"] + ["q" * 200] * 25, "x.jsonnet")
    repo.write("search.nul", "{ a: '\0' }\n", header=False)
    passwd = Path("/etc/passwd").read_text().splitlines()[0]
    forbidden = [str(tmp_path), str(tmp_path.resolve()), str(ROOT), SECRET, passwd]
    runs = {fmt: run_cli(repo.root, "validate", "--format", fmt) for fmt in ("text", "json", "sarif", "github")}
    runs["compile"] = run_cli(repo.root, "compile", "--revision", "test")
    for name, proc in runs.items():
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, (name, out)
        assert [word for word in forbidden if word in out] == [], name
        assert "flags/billing/passwd.jsonnet" in out and "flags/search/nul.jsonnet" in out, name
    found = json.loads(runs["json"].stdout)["findings"]
    assert sorted(f["file"] for f in found if f["code"] == "SF106") == [
        "flags/billing/creds.jsonnet", "flags/billing/environ.jsonnet", "flags/billing/passwd.jsonnet",
        "flags/deep/" + "/".join(["q" * 200] * 3), "flags/linked"]
