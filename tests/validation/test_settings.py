"""The `validation:` section's approver groups, checked strictly and located."""
from __future__ import annotations

from pathlib import Path

import pytest

from safeflags.compile.config import load_config
from safeflags.source.errors import ConfigError
from safeflags.validation.approvals import ApproverGroup
from safeflags.validation.builtin import BUILTIN
from safeflags.validation.settings import parse_settings, resolve_rules

HERE = Path(__file__).parent


def _config(tmp_path: Path, validation: str) -> tuple[object, int]:
    text = (HERE / "data" / "safeflags.yaml").read_text()
    (tmp_path / "safeflags.yaml").write_text(text + validation)
    return load_config(tmp_path), len(text.splitlines())


def test_approver_groups_become_the_approvals_groups(tmp_path: Path) -> None:
    config, _ = _config(tmp_path, "validation:\n  approvers:\n"
                                  "    security: {users: [ana, bo], github_team: acme/team-security}\n"
                                  "    sre: {github_team: acme/sre}\n")
    groups = parse_settings(config).approver_groups()  # type: ignore[arg-type]
    assert groups == {"security": ApproverGroup(frozenset({"ana", "bo"}), "acme/team-security"),
                      "sre": ApproverGroup(frozenset(), "acme/sre")}


@pytest.mark.parametrize(("group", "problem"), [
    ("{github_team: team-security}", "github_team must be written org/slug"),
    ("{github_team: acme/team/security}", "github_team must be written org/slug"),
    ("{users: []}", "names its users, its github_team, or both"),
    ("{user: [ana]}", "unknown key 'user'"),
])
def test_a_malformed_group_is_a_located_error(tmp_path: Path, group: str, problem: str) -> None:
    config, base = _config(tmp_path, f"validation:\n  approvers:\n    security: {group}\n")
    with pytest.raises(ConfigError) as err:
        parse_settings(config)  # type: ignore[arg-type]
    (e,) = err.value.errors
    assert problem in e.message and e.file == "safeflags.yaml" and e.line == base + 3
    assert e.field_path.startswith("validation.approvers.security")


@pytest.mark.parametrize(("validation", "line", "message", "hint"), [
    ("  rulez: {}\n", 2, "unknown key 'rulez'", "did you mean 'rules'?"),
    ("  rules:\n    SF404: {enabeld: false}\n", 3, "unknown key 'enabeld'", "did you mean 'enabled'?"),
    ("  rules:\n    SF404: {max_dyas: 3}\n", 3, "unknown key 'max_dyas'", "did you mean 'max_days'?"),
    ("  rules:\n    SF404: {severity: eror}\n", 3, "Input should be 'error', 'warning' or 'notice'",
     "did you mean 'error'?"),
])
def test_a_misspelt_setting_is_located_with_what_was_meant(tmp_path: Path, validation: str, line: int,
                                                           message: str, hint: str) -> None:
    config, base = _config(tmp_path, "validation:\n" + validation)
    with pytest.raises(ConfigError) as err:
        resolve_rules(config, parse_settings(config), BUILTIN)  # type: ignore[arg-type]
    (e,) = err.value.errors
    assert (e.line, e.message, e.hint) == (base + line, message, hint)
    assert e.source_line == validation.splitlines()[line - 2]
