"""`safeflags validate --base` on real git repositories.

One base commit copies the example repository (flags, safeflags.yaml,
validators, the deployment inventory; no templates/, so its flags import
the packaged library) plus a code tree;
each test commits a pull request on its own branch and runs the command
in-process. Every failing PR must fail with the right code at the right
file and line; the line is found in the edited source, so the assertion
is about the line the change touched.

Approvals come from a stand-in for the GitHub REST API
(tests/helpers/github_api.py): reviews, who applied each label, team
membership, exactly as validate reads them in CI with the job's token.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from safeflags.cli.validate_cmd import command
from tests.helpers.github_api import GitHubApi

ROOT = Path(__file__).resolve().parents[2]
CODE = ('from app import client\n\n\ndef tax(ctx):\n'
        '    if client.get_bool("billing.tax_engine_v2", False, ctx):\n        return 2\n    return 1\n')


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com", *args], cwd=repo,
                         check=True, capture_output=True, text=True)
    return out.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("flagrepo")
    for name in ("flags", "validators"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    for name in ("safeflags.yaml", "deployments.yaml"):
        shutil.copy(ROOT / name, root / name)
    (root / "src" / "billing").mkdir(parents=True)
    (root / "src" / "billing" / "invoice.py").write_text(CODE)
    (root / ".gitignore").write_text(".safeflags-cache/\n__pycache__/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


def edit(repo: Path, rel: str, old: str, new: str) -> int:
    """Replace `old` by `new` once in a file; return the 1-based line of `new`."""
    path = repo / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    text = text.replace(old, new, 1)
    path.write_text(text)
    return text[: text.index(new)].count("\n") + 1 + new[: len(new) - len(new.lstrip("\n"))].count("\n")


def pr(repo: Path, name: str, change: Callable[[], Any], base: str = "main") -> Any:
    git(repo, "checkout", "-q", "-B", name, base)
    result = change()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", name)
    return result


@pytest.fixture
def api() -> Iterator[GitHubApi]:
    with GitHubApi(owner="acme", repo="flags") as server:
        server.team("acme/flag-reviewers", members=["lead"])
        server.team("acme/team-security", members=["sec"])
        yield server


def opened(repo: Path, api: GitHubApi) -> GitHubApi:
    """Pull request #1 by `dev`, its head the branch just committed."""
    api.add_pull(1, author="dev", head_sha=git(repo, "rev-parse", "HEAD").strip())
    return api


def invoke(repo: Path, tmp_path: Path, *extra: str, labels: tuple[str, ...] = (), base: str = "main",
           api: GitHubApi | None = None, token: str | None = None) -> Any:
    """Run validate as the action does: the event payload, and the API when a stand-in is given."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 1, "user": {"login": "dev"}, "head": {"sha": "stale"},
                                                  "labels": [{"name": x} for x in labels]},
                                 "repository": {"full_name": "acme/flags"}}))
    # Nothing from the environment running the tests reaches a real API.
    env: dict[str, str | None] = {"GITHUB_TOKEN": None, "GITHUB_API_URL": None, "GITHUB_REPOSITORY": None}
    if api is not None:
        env.update(GITHUB_TOKEN=token or api.token, GITHUB_API_URL=api.url, GITHUB_REPOSITORY=api.repository)
    args = ["--repo", str(repo), "--base", base, "--event", str(event), *extra]
    return CliRunner().invoke(command, args, env=env)


def validate(
    repo: Path, tmp_path: Path, *extra: str, labels: tuple[str, ...] = (), base: str = "main",
    api: GitHubApi | None = None,
) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "report.json"
    result = invoke(repo, tmp_path, "--format", "json", "--output", str(out), *extra, labels=labels, base=base,
                    api=api)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(out.read_text())


def errors(report: dict[str, Any]) -> set[str]:
    return {f["code"] for f in report["findings"] if f["severity"] == "error"}


def at(report: dict[str, Any], code: str) -> list[tuple[str, int]]:
    return [(f["file"], f["line"]) for f in report["findings"] if f["code"] == code]


RERANK = "flags/search/reranker_explanations.jsonnet"
EDGE = "flags/platform/edge_cache_v2.jsonnet"


def test_skipping_two_stages_fails_without_the_label(repo: Path, tmp_path: Path, api: GitHubApi) -> None:
    line = pr(repo, "skip", lambda: edit(repo, RERANK, "stage=1)", "stage=3)"))
    code, report = validate(repo, tmp_path)
    assert code == 1 and errors(report) == {"SF301"}
    assert at(report, "SF301") == [(RERANK, line)]
    opened(repo, api).label(1, "safeflags/skip-stage", actor="lead")
    code, report = validate(repo, tmp_path, api=api)
    assert code == 0, report["findings"]


def test_blast_radius_past_the_threshold_needs_approval(repo: Path, tmp_path: Path, api: GitHubApi) -> None:
    line = pr(repo, "blast", lambda: edit(repo, EDGE, "stage=2,", "stage=3,"))
    code, report = validate(repo, tmp_path)
    assert code == 1 and errors(report) == {"SF302"}
    assert at(report, "SF302") == [(EDGE, line)]
    change = report["changes"][0]
    assert change["flag"] == "platform.edge_cache_v2"
    assert change["exposure"]["newly"] == pytest.approx(0.21)  # eu-west-1 11 + eu-central-1 6 + ap 3 + 1
    opened(repo, api).label(1, "safeflags/approved-blast-radius", actor="lead")
    code, report = validate(repo, tmp_path, api=api)
    assert code == 0 and errors(report) == set()


def test_enabling_before_the_required_version_is_deployed(repo: Path, tmp_path: Path) -> None:
    rel = "flags/billing/new_invoice_path.jsonnet"
    line = pr(repo, "version", lambda: edit(repo, rel, "stage=2)", "stage=3)"))
    code, report = validate(repo, tmp_path)
    assert code == 1 and errors(report) == {"SF303"}
    assert at(report, "SF303") == [(rel, line)]
    assert "billing 2.13.4 is deployed" in next(f["message"] for f in report["findings"] if f["code"] == "SF303")


def test_migration_jumping_from_a_to_ba(repo: Path, tmp_path: Path) -> None:
    rel = "flags/storage/blob_store_migration.jsonnet"
    pr(repo, "mig-base", lambda: edit(repo, rel, "state='AB'", "state='A'"))
    line = pr(repo, "mig", lambda: edit(repo, rel, "state='A'", "state='BA'"), base="mig-base")
    code, report = validate(repo, tmp_path, base="mig-base")
    assert code == 1 and "SF304" in errors(report)
    assert at(report, "SF304") == [(rel, line)]
    assert "from A to BA" in next(f["message"] for f in report["findings"] if f["code"] == "SF304")


def test_a_typo_in_a_region(repo: Path, tmp_path: Path) -> None:
    line = pr(repo, "typo", lambda: edit(repo, EDGE, "eq('us-gov-west-1')", "eq('us-gov-west1')"))
    code, report = validate(repo, tmp_path)
    assert code == 1 and errors(report) == {"SF105"}
    (finding,) = [f for f in report["findings"] if f["code"] == "SF105"]
    assert (finding["file"], finding["line"]) == (EDGE, line)
    assert "did you mean 'us-gov-west-1'?" in finding["hint"]


def test_deleting_a_flag_the_code_still_reads(repo: Path, tmp_path: Path) -> None:
    pr(repo, "delete", lambda: (repo / "flags/billing/tax_engine_v2.jsonnet").unlink())
    code, report = validate(repo, tmp_path)
    assert code == 1 and errors(report) == {"SF306"}
    line = CODE[: CODE.index("billing.tax_engine_v2")].count("\n") + 1
    assert at(report, "SF306") == [("src/billing/invoice.py", line)]


def test_a_pr_cannot_weaken_the_checks_that_judge_it(repo: Path, tmp_path: Path) -> None:
    def change() -> tuple[int, int]:
        edit(repo, "validators/payments.py", "        if tagged and not flag.co_owners:", "        if False:")
        edit(repo, "safeflags.yaml", "  rules:\n", "  rules:\n    SF301: {enabled: false}\n")
        skip = edit(repo, RERANK, "stage=1)", "stage=3)")
        edit(repo, "flags/billing/payment_processor.jsonnet", "  co_owners: ['team-security'],\n", "")
        text = (repo / "flags/billing/payment_processor.jsonnet").read_text()
        return skip, next(i for i, ln in enumerate(text.splitlines(), 1) if re.match(r"\s*owner:", ln))

    skip_line, owner_line = pr(repo, "weaken", change)
    code, report = validate(repo, tmp_path)
    assert code == 1 and errors(report) == {"SF301", "PAY001"}
    assert at(report, "SF301") == [(RERANK, skip_line)]
    assert at(report, "PAY001") == [("flags/billing/payment_processor.jsonnet", owner_line)]
    assert {f for f, _ in at(report, "SF308")} == {"safeflags.yaml", "validators/payments.py"}


def test_a_clean_pr_passes(repo: Path, tmp_path: Path) -> None:
    pr(repo, "clean", lambda: edit(repo, "flags/checkout/express_pay_mobile.jsonnet", "stage=3)", "stage=4)"))
    code, report = validate(repo, tmp_path)
    assert code == 0 and errors(report) == set()
    assert [c["flag"] for c in report["changes"]] == ["checkout.express_pay_mobile"]


def test_a_validator_that_fails_to_load_fails_the_run_named(repo: Path, tmp_path: Path) -> None:
    broken_import = "import no_such_module\nfrom collections.abc"
    pr(repo, "broken", lambda: edit(repo, "validators/payments.py", "from collections.abc", broken_import))
    result = CliRunner().invoke(command, ["--repo", str(repo)])
    assert result.exit_code == 2
    assert "validator validators/payments.py failed to load" in result.output
    assert "ModuleNotFoundError" in result.output


def test_usage_errors_exit_2(repo: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(command, ["--repo", str(repo), "--base", "no-such-branch"])
    assert result.exit_code == 2 and "unknown revision 'no-such-branch'" in result.output
    bad = tmp_path / "event.json"
    bad.write_text("[1, 2]")
    result = CliRunner().invoke(command, ["--repo", str(repo), "--event", str(bad)])
    assert result.exit_code == 2 and "is not a JSON object" in result.output


def test_a_broken_inventory_is_a_located_error(repo: Path, tmp_path: Path) -> None:
    misspelt = "services:\n  billing:\n    - versoin: 1.0.0\n"
    pr(repo, "inventory", lambda: (repo / "deployments.yaml").write_text(misspelt))
    pr(repo, "inventory-pr", lambda: edit(repo, EDGE, "stage=2,", "stage=3,"), base="inventory")
    result = CliRunner().invoke(command, ["--repo", str(repo), "--base", "inventory"])
    assert result.exit_code == 1
    assert "deployments.yaml:3:" in result.output


def _blast(repo: Path) -> int:
    """A step over SF302's threshold (approval: team flag-reviewers or its label); the line it edits."""
    return pr(repo, "blast-approval", lambda: edit(repo, EDGE, "stage=2,", "stage=3,"))


def test_a_team_members_approval_on_the_head_lets_a_big_step_through(
    repo: Path, tmp_path: Path, api: GitHubApi,
) -> None:
    _blast(repo)
    opened(repo, api).review(1, "lead", "APPROVED")
    code, report = validate(repo, tmp_path, api=api)
    assert code == 0 and errors(report) == set()
    asked = {ex.path for ex in api.log}
    assert "/orgs/acme/teams/flag-reviewers/memberships/lead" in asked


@pytest.mark.parametrize(("name", "given", "why"), [
    ("a requested review", lambda api: api.request_review(1, "lead", requester="dev"), ""),
    ("the author's own approval", lambda api: (api.team("acme/flag-reviewers", members=["dev"]),
                                               api.review(1, "dev", "APPROVED")),
     "the author's own approval does not count"),
    ("an approval of an older commit", lambda api: api.review(1, "lead", "APPROVED", commit="0" * 40),
     "lead approved an older commit (0000000)"),
    ("an approval taken back", lambda api: (api.review(1, "lead", "APPROVED"),
                                            api.review(1, "lead", "CHANGES_REQUESTED")), ""),
    ("a dismissed approval", lambda api: (api.review(1, "lead", "APPROVED"), api.dismiss(1, "lead")), ""),
    ("an approval from outside the team", lambda api: api.review(1, "mallory", "APPROVED"), ""),
    ("the label applied by the author", lambda api: api.label(1, "safeflags/approved-blast-radius", actor="dev"),
     "applied by the author"),
])
def test_what_never_counts_as_approval(
    repo: Path, tmp_path: Path, api: GitHubApi, name: str, given: Callable[[GitHubApi], Any], why: str,
) -> None:
    line = _blast(repo)
    given(opened(repo, api))
    code, report = validate(repo, tmp_path, api=api)
    assert code == 1 and errors(report) == {"SF302"}, name
    assert at(report, "SF302") == [(EDGE, line)]
    (finding,) = [f for f in report["findings"] if f["code"] == "SF302"]
    assert why in finding["hint"]


def test_without_a_token_nothing_counts_and_the_report_says_why(repo: Path, tmp_path: Path) -> None:
    _blast(repo)
    result = invoke(repo, tmp_path, labels=("safeflags/approved-blast-radius",))
    assert result.exit_code == 1
    assert "approvals cannot count: reviews and who applied labels were not read, no GitHub token" in result.output
    code, report = validate(repo, tmp_path, labels=("safeflags/approved-blast-radius",))
    assert code == 1 and errors(report) == {"SF302"}


def test_an_api_that_refuses_the_token_stops_the_run(repo: Path, tmp_path: Path, api: GitHubApi) -> None:
    _blast(repo)
    opened(repo, api)
    result = invoke(repo, tmp_path, api=api, token="expired")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"GET {api.url}/repos/acme/flags/pulls/1 returned HTTP 401" in result.output


PAYMENT = "flags/billing/payment_processor.jsonnet"
FEDPAY = ("    sf.when(sf.dim.region.in_(['us-gov-west-1'])).serveVariant('fedpay')\n"
          "    .describe('FedRAMP: GovCloud traffic must not leave the authorised boundary.'),\n")


def test_the_govcloud_override_is_a_protected_scope(repo: Path, tmp_path: Path, api: GitHubApi) -> None:
    def change() -> int:
        text = (repo / PAYMENT).read_text()
        assert FEDPAY in text
        (repo / PAYMENT).write_text(text.replace(FEDPAY, ""))
        return next(i for i, ln in enumerate(text.splitlines(), 1) if ln.strip().startswith("overrides:"))

    line = pr(repo, "fedramp", change)
    opened(repo, api).review(1, "lead", "APPROVED")  # a flag reviewer, not security
    code, report = validate(repo, tmp_path, api=api)
    assert code == 1 and errors(report) == {"SF311"}
    assert at(report, "SF311") == [(PAYMENT, line)]
    (finding,) = [f for f in report["findings"] if f["code"] == "SF311"]
    assert "~100% of the protected scope 'fedramp' (region: us-gov-west-1, \"fedpay\" → \"stripe\")" in (
        finding["message"])
    assert "a member of team-security" in finding["hint"]
    api.review(1, "sec", "APPROVED")
    code, report = validate(repo, tmp_path, api=api)
    assert code == 0 and errors(report) == set()
