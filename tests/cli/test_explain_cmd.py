"""`safeflags explain` from a repository and from a bundle."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from safeflags.cli.main import cli
from tests.helpers.repo import FlagRepo


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> FlagRepo:
    return FlagRepo(tmp_path_factory.mktemp("explain") / "repo", with_examples=True)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_explain_shows_the_matched_rule_and_its_source(repo: FlagRepo) -> None:
    code, out, err = run("explain", "billing.new_invoice_path", "--repo", str(repo.root),
                         "--static", "region=us-east-1", "--static", "service=billing",
                         "--static", "service_version=2.15.0", "--ctx", "workspace_id=ws-1234")
    assert code == 0, err
    assert "value:  true" in out and "reason: TARGETING_MATCH" in out
    assert "matched rule 2 'override 2: Design partner, opted in early.' at line 13" in out
    # The GovCloud override cannot match in us-east-1: pre-evaluation removed it.
    assert "rules here (2 of 4 can match)" in out and "us-gov-west-1" not in out
    assert "sf.when(sf.dim.workspace_id.in_(['ws-1234'])).serve(true)" in out


def test_explain_from_a_bundle_as_json(repo: FlagRepo, tmp_path: Path) -> None:
    bundle = tmp_path / "b.pb"
    assert run("compile", "--repo", str(repo.root), "-o", str(bundle), "-q")[0] == 0
    code, out, err = run("explain", "billing.new_invoice_path", "--bundle", str(bundle), "--json",
                         "--static", "region=us-gov-west-1", "--static", "service=billing",
                         "--static", "service_version=3.0.0", "--ctx", "workspace_id=ws-1234")
    assert code == 0, err
    data = json.loads(out)
    assert (data["value"], data["reason"], data["matched_rule"]["line"]) == (False, "STATIC", 11)
    assert data["static"]["region"] == "us-gov-west-1"


def test_explain_typed_context_and_errors(repo: FlagRepo) -> None:
    code, _, err = run("explain", "billing.new_invoice_path", "--repo", str(repo.root), "--ctx", "regoin=x")
    assert code == 2 and "'regoin' is not a declared dimension (did you mean 'region'?)" in err
    code, _, err = run("explain", "billing.new_invoice_pth", "--repo", str(repo.root))
    assert code == 2 and "did you mean 'billing.new_invoice_path'?" in err
    code, _, err = run("explain", "billing.invoice_email_batch_size", "--repo", str(repo.root), "--ctx", "seats=many")
    assert code == 2 and "'many' is not a valid value for 'seats'" in err
