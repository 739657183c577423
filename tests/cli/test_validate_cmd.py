"""`safeflags validate` fails closed: every compile error fails it, whatever
validators are loaded and whatever the settings say, and a run that would
check nothing refuses to run. Some runs are real interpreters where the
package metadata (entry points) is hidden, as in a vendored copy."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib.metadata import EntryPoints
from pathlib import Path

import pytest
from click.testing import CliRunner

from safeflags.cli.main import cli
from safeflags.compile.driver import compile_repo
from safeflags.source.errors import SourceError
from safeflags.validation import registry
from safeflags.validation.builtin import BUILTIN
from tests.helpers.repo import ROOT, FlagRepo, bool_flag

TRUNCATED = "flags/billing/new_invoice_path.jsonnet"

# A validate run in an interpreter where the validators' entry-point group is empty.
HIDDEN_METADATA = """
import importlib.metadata as md
import sys

_every = md.entry_points

def entry_points(**params):
    if params.get("group") == "safeflags.validators":
        return md.EntryPoints(())
    return _every(**params)

md.entry_points = entry_points
from safeflags.cli.main import cli
cli(prog_name="safeflags", args=sys.argv[1:])
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run_without_metadata(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", HIDDEN_METADATA, "validate", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def example(path: Path) -> FlagRepo:
    """A copy of the example repository, its team validator and inventory included."""
    repo = FlagRepo(path, with_examples=True)
    shutil.copytree(ROOT / "validators", path / "validators")
    shutil.copy(ROOT / "deployments.yaml", path / "deployments.yaml")
    return repo


def truncate(repo: FlagRepo, rel: str = TRUNCATED) -> SourceError:
    """Cut a flag file off mid-object; the compile error `compile` reports."""
    path = repo.root / rel
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    [err] = compile_repo(repo.root, cache=False).errors
    assert (err.file, err.code) == (rel, "SF101")
    return err


def without_settings(repo: FlagRepo) -> None:
    config = repo.root / "safeflags.yaml"
    config.write_text(config.read_text().partition("\nvalidation:")[0] + "\n")


@pytest.mark.parametrize("settings", [True, False], ids=["example-settings", "no-settings"])
def test_without_entry_points_a_repository_that_does_not_compile_fails(tmp_path: Path, settings: bool) -> None:
    repo = example(tmp_path / "repo")
    if not settings:
        without_settings(repo)  # with no rule naming a built-in code, nothing else would catch it
    err = truncate(repo)
    proc = run_without_metadata(tmp_path, "--repo", str(repo.root), "-j", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.count(f"{err.file}:{err.line}:{err.column}: error SF101 {err.message}") == 1
    assert re.search(r"^safeflags: 1 error, \d+ warnings? in ", proc.stdout, re.M), proc.stdout


def test_without_entry_points_the_builtins_still_run(tmp_path: Path) -> None:
    repo = example(tmp_path / "repo")
    proc = run_without_metadata(tmp_path, "--repo", str(repo.root), "-j", "1", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    ran = {v["code"]: v["ran"] for v in doc["validators"]}
    assert ran == {**{c.code: not c.needs_base for c in BUILTIN}, "PAY001": True}
    assert doc["summary"]["failed"] is False


@pytest.mark.parametrize("rule", ["{enabled: false}", "{severity: warning}", "{paths: ['nothing/**']}"])
def test_settings_cannot_turn_a_compile_error_off(tmp_path: Path, rule: str) -> None:
    repo = example(tmp_path / "repo")
    err = truncate(repo)
    config = repo.root / "safeflags.yaml"
    config.write_text(config.read_text().replace("  rules:\n", f"  rules:\n    SF101: {rule}\n", 1))
    code, _, stderr = run("validate", "--repo", str(repo.root), "-j", "1")
    assert code == 1
    assert "SF101 reports compile errors: it cannot be disabled, re-graded or scoped" in stderr
    # The flag that does not compile is reported too, located, as `compile` reports it.
    assert stderr.count(f"{err.file}:{err.line}:{err.column}: error SF101: {err.message}") == 1
    assert "safeflags: 2 errors" in stderr


def test_a_run_with_no_validator_refuses_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = example(tmp_path / "repo")
    without_settings(repo)
    monkeypatch.setattr(registry, "BUILTIN", ())
    monkeypatch.setattr(registry, "entry_points", lambda **_: EntryPoints(()))
    code, out, stderr = run("validate", "--repo", str(repo.root), "-j", "1")
    assert code == 2 and out == ""
    assert len(stderr.splitlines()) == 1 and stderr.startswith("safeflags: error: no validator loaded"), stderr


def test_a_third_party_entry_point_taking_a_builtin_code_stops_the_run(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    info = site / "acme_cli_impostor-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-cli-impostor\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[safeflags.validators]\nSF404 = acme_cli_impostor:Lenient\n")
    (site / "acme_cli_impostor.py").write_text(
        "from safeflags.validation import FlagValidator\n\n"
        "class Lenient(FlagValidator):\n    '''Never minds a stale rollout.'''\n\n"
        "    code, name = 'SF404', 'stale-rollout'\n\n    def check_flag(self, flag, ctx):\n        return []\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "acme_cli_impostor", raising=False)
    code, _, stderr = run("validate", "--repo", str(example(tmp_path / "repo").root), "-j", "1")
    assert code == 2
    assert stderr.startswith("safeflags: error: validator SF404 (acme_cli_impostor:Lenient) failed to load: "
                             "code SF404 is already taken by SF404 (built-in "), stderr
    sys.modules.pop("acme_cli_impostor", None)


def _count(fmt: str, text: str, file: str, code: str) -> int:
    if fmt == "json":
        return sum(1 for f in json.loads(text)["findings"] if (f["file"], f["code"]) == (file, code))
    if fmt == "sarif":
        results = json.loads(text)["runs"][0]["results"]
        return sum(1 for r in results
                   if (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["ruleId"]) == (file, code))
    if fmt == "github":
        return sum(1 for line in text.splitlines()
                   if line.startswith(f"::error file={file},") and f"title={code} " in line)
    return sum(1 for line in text.splitlines() if line.startswith(f"{file}:") and f": error {code} " in line)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_each_compile_error_is_reported_once_in_every_format(tmp_path: Path, fmt: str) -> None:
    repo = example(tmp_path / "repo")
    truncate(repo)
    typo = repo.write("billing.typo", bool_flag("descripton: 'typo',"))
    code, out, _ = run("validate", "--repo", str(repo.root), "-j", "1", "--format", fmt)
    assert code == 1
    assert _count(fmt, out, TRUNCATED, "SF101") == 1, out
    assert _count(fmt, out, typo, "SF102") == 1, out
