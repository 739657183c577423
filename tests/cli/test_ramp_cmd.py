"""`safeflags ramp`, `kill` and `enable` on the command line: help, output and exit codes."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from safeflags.cli.main import cli
from tests.ops.examples import example_git_repo

FILE = "flags/storage/compaction_v3.jsonnet"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_git_repo(tmp_path_factory.mktemp("ramp") / "repo")


@pytest.fixture(autouse=True)
def pristine(repo: Path) -> Iterator[None]:
    files = {p: p.read_bytes() for p in (repo / "flags").rglob("*.jsonnet")}
    yield
    for p, data in files.items():
        p.write_bytes(data)


def _run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, list(args))
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize("name", ["ramp", "kill", "enable"])
def test_help_explains_the_edit_and_the_exit_codes(name: str) -> None:
    code, out, _ = _run(name, "--help")
    assert code == 0
    assert "--dry-run" in out and "--base" in out
    assert "1 when the result does not validate" in " ".join(out.split())


def test_the_command_list_names_them() -> None:
    code, out, _ = _run("--help")
    assert code == 0
    assert all(f"  {name} " in out for name in ("ramp", "kill", "enable"))


def test_ramp_next_writes_the_one_number_and_prints_diff_and_exposure(repo: Path) -> None:
    before = (repo / FILE).read_text(encoding="utf-8")
    code, out, err = _run("ramp", "storage.compaction_v3", "--next", "--repo", str(repo))
    assert code == 0, err
    assert "-    stage=2,\n+    stage=3,\n" in out
    assert "stage 2 (10%) -> 3 (25%)" in out
    assert "all traffic:" in out and "→" in out
    assert f"wrote {FILE}" in out
    assert (repo / FILE).read_text(encoding="utf-8") == before.replace("stage=2,", "stage=3,")


def test_a_dry_run_writes_nothing(repo: Path) -> None:
    before = (repo / FILE).read_bytes()
    code, out, _ = _run("ramp", "storage.compaction_v3", "--back", "--dry-run", "--repo", str(repo))
    assert code == 0
    assert "+    stage=1,\n" in out and "dry run" in out
    assert (repo / FILE).read_bytes() == before


def test_a_ramp_that_skips_stages_exits_1_and_writes_nothing(repo: Path) -> None:
    before = (repo / FILE).read_bytes()
    code, out, err = _run("ramp", "storage.compaction_v3", "--to", "5", "--repo", str(repo))
    assert code == 1
    assert "+    stage=5,\n" in out
    assert "SF301" in err and "left unchanged" in err
    assert (repo / FILE).read_bytes() == before


@pytest.mark.parametrize(("args", "message"), [
    (["ramp", "storage.compaction_v3"], "exactly one of --next, --back or --to"),
    (["ramp", "storage.compaction_v3", "--next", "--to", "3"], "exactly one of --next, --back or --to"),
    (["ramp", "billing.tax_engine_v2", "--next"], "already at its last stage"),
    (["ramp", "storage.nope", "--next"], "no flag 'storage.nope'"),
    (["ramp", "storage.compaction_v2", "--next"], "did you mean 'storage.compaction_v3'?"),
    (["kill", "checkout.disable_recommendations", "--scope", "user_id=u1"], "static string or enum dimensions"),
    (["kill", "checkout.disable_recommendations", "--scope", "region"], "DIM=VALUE"),
    (["enable", "billing.new_invoice_path"], "already enabled"),
])
def test_no_such_step_exits_2(repo: Path, args: list[str], message: str) -> None:
    code, _, err = _run(*args, "--repo", str(repo))
    assert code == 2
    assert message in err


def test_kill_then_enable(repo: Path) -> None:
    code, out, err = _run("kill", "checkout.disable_recommendations", "--repo", str(repo))
    assert code == 0, err
    assert "+  default: true,\n" in out and "all traffic: 0 % → 100 %" in out
    code, _, err = _run("kill", "checkout.disable_recommendations", "--repo", str(repo))
    assert code == 2 and "already engaged" in err
