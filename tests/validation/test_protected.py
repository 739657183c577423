"""SF311's scopes are checked against the judging catalog: located errors in safeflags.yaml."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from safeflags.source.errors import ConfigError
from safeflags.validation.builtin.protected import ProtectedScopes
from safeflags.validation.session import Options, validate
from tests.helpers.repo import TEMPLATES

HERE = Path(__file__).parent
FLAG = ("local sf = import 'safeflags.libsonnet';\n"
        "sf.bool { owner: 'team-a', description: 'Shows the new invoice layout to workspaces.', default: false,\n"
        "  expires: '2027-06-01' }\n")


def _repo(tmp_path: Path, scopes: str) -> tuple[Path, int]:
    text = (HERE / "data" / "safeflags.yaml").read_text()
    section = "validation:\n  rules:\n    SF311:\n      scopes:\n" + textwrap.indent(textwrap.dedent(scopes), " " * 8)
    (tmp_path / "safeflags.yaml").write_text(text + section)
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    (tmp_path / "flags" / "a").mkdir(parents=True)
    (tmp_path / "flags" / "a" / "b.jsonnet").write_text(FLAG)
    return tmp_path, len(text.splitlines()) + 5  # the line of the first scope


def test_scopes_name_static_enum_dimensions_and_their_values(tmp_path: Path) -> None:
    root, first = _repo(tmp_path, """\
        - name: residency
          where: {regoin: [ap-south-1]}
          reason: Residency
          approvers: {users: [lead]}
        - name: tiers
          where: {org_tier: [enterprise]}
          reason: Contracts
          approvers: {users: [lead]}
        - name: india
          where:
            region: [ap-south-1, ap-south-2]
          reason: Residency
          approvers: {groups: [team-security]}
    """)
    with pytest.raises(ConfigError) as err:
        validate(Options(root, jobs=1))
    got = [(e.line, e.message, e.hint) for e in err.value.errors if e.file == "safeflags.yaml"]
    assert got == [
        (first + 1, "scope 'residency': 'regoin' is no dimension; a protected scope is written on static enum "
                    "dimensions (environment, region)", "did you mean 'region'?"),
        (first + 5, "scope 'tiers': 'org_tier' is a runtime dimension; a protected scope is written on static enum "
                    "dimensions (environment, region)", None),
        (first + 10, "scope 'india': 'ap-south-2' is not a value of 'region'", "did you mean 'ap-south-1'?"),
    ]


def test_a_valid_scope_passes_a_run_with_nothing_changed(tmp_path: Path) -> None:
    root, _ = _repo(tmp_path, """\
        - {name: india, where: {region: ap-south-1}, reason: Residency, approvers: {users: [lead]}}
    """)
    outcome = validate(Options(root, jobs=1))
    assert not outcome.failed, outcome.findings


@pytest.mark.parametrize(("scope", "problem"), [
    ({"name": "x", "where": {"region": ["eu-west-1"]}, "reason": "r", "approvers": {}}, "names no approvers"),
    ({"name": "x", "where": {"region": []}, "reason": "r", "approvers": {"users": ["a"]}}, "at least one value"),
    ({"name": "x", "where": {}, "reason": "r", "approvers": {"users": ["a"]}}, "at least 1 item"),
    ({"name": "x", "where": {"region": ["eu-west-1"]}, "approvers": {"users": ["a"]}}, "Field required"),
])
def test_a_scope_says_where_why_and_who(scope: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        ProtectedScopes.Options.model_validate({"scopes": [scope]})
    two = {"name": "x", "where": {"region": ["eu-west-1"]}, "reason": "r", "approvers": {"users": ["a"]}}
    with pytest.raises(ValidationError, match="unique"):
        ProtectedScopes.Options.model_validate({"scopes": [two, two]})
