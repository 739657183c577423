"""`safeflags compile` and `safeflags new` as a user runs them."""
from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner

from safeflags.cli.main import cli
from tests.helpers.repo import FlagRepo, bool_flag


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_compile_writes_a_deterministic_bundle(tmp_path: Path) -> None:
    repo = FlagRepo(tmp_path / "repo", with_examples=True)
    a, b = tmp_path / "a.pb", tmp_path / "b.pb"
    code, out, err = run("compile", "--repo", str(repo.root), "-o", str(a), "--revision", "r1")
    assert code == 0, err
    assert run("compile", "--repo", str(repo.root), "-o", str(b), "--revision", "r1")[0] == 0
    digest = "sha256-" + hashlib.sha256(a.read_bytes()).hexdigest()
    assert a.read_bytes() == b.read_bytes()
    n = len(list((repo.root / "flags").rglob("*.jsonnet")))
    assert f"compiled {n} flags -> {a} ({a.stat().st_size:,} bytes, {digest})" in out


def test_compile_default_output_path(tmp_path: Path) -> None:
    repo = FlagRepo(tmp_path / "repo", with_examples=True)
    assert run("compile", "--repo", str(repo.root), "-q")[0] == 0
    assert (repo.root / "build" / "bundle.pb").stat().st_size > 0


def test_compile_reports_every_error_and_writes_nothing(tmp_path: Path) -> None:
    repo = FlagRepo(tmp_path / "repo")
    repo.write("billing.one", bool_flag("descripton: 'typo',"))
    repo.write("billing.two", bool_flag("", default="'no'"))
    out_file = tmp_path / "out.pb"
    code, _out, err = run("compile", "--repo", str(repo.root), "-o", str(out_file))
    assert code == 1
    assert not out_file.exists()
    assert "flags/billing/one.jsonnet:6:3: error SF102: unknown field 'descripton'" in err
    assert "flags/billing/two.jsonnet:5:12: error SF103: 'no' is not a bool value" in err
    assert "safeflags: 2 errors; no bundle written" in err


def test_compile_reports_a_bad_config_with_its_location(tmp_path: Path) -> None:
    repo = FlagRepo(tmp_path / "repo")
    repo.set_config("""
    version: 1
    dimensions:
      region: {type: enum}
      tier: {type: string, statik: true}
    """)
    code, _, err = run("compile", "--repo", str(repo.root))
    assert code == 1
    assert "safeflags.yaml:4:3: error: an enum dimension needs its 'values' (at dimensions.region)" in err
    assert "safeflags.yaml:5:24: error: unknown key 'statik' (at dimensions.tier.statik)" in err


def test_new_scaffolds_a_flag_that_compiles(tmp_path: Path) -> None:
    repo = FlagRepo(tmp_path / "repo")
    code, out, err = run("new", "billing.shiny", "--repo", str(repo.root), "--owner", "team-billing",
                         "--description", "A shiny thing.", "--ramp", "standard", "--unit", "workspace_id",
                         "--expires", "2027-01-31")
    assert code == 0, err
    assert out.startswith("created flags/billing/shiny.jsonnet")
    result = repo.compile()
    spec = result.specs["billing.shiny"]
    got = (spec.owner, spec.expires, spec.rollout.template, spec.rollout.stage)
    assert got == ("team-billing", "2027-01-31", "standard", 0)


def test_new_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    repo = FlagRepo(tmp_path / "repo")
    code, _, err = run("new", "billing.x", "--repo", str(repo.root), "--owner", "team-biling", "--description", "d")
    assert code == 2 and "did you mean 'team-billing'?" in err
    code, _, err = run("new", "Billing.X", "--repo", str(repo.root), "--owner", "team-billing", "--description", "d")
    assert code == 2 and "is not a flag key" in err
    code, _, err = run("new", "billing.x", "--repo", str(repo.root), "--owner", "team-billing", "--description", "d",
                       "--type", "int")
    assert code == 2 and "needs --default" in err
    assert not list((repo.root / "flags").rglob("*.jsonnet"))


def test_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    import subprocess
    import sys

    repo = FlagRepo(tmp_path / "repo", with_examples=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "safeflags.cli.main", "explain", "billing.new_invoice_path", "--repo", str(repo.root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 141
    assert "Traceback" not in err and "internal error" not in err
