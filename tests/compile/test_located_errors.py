"""Every kind of broken flag is reported at its file, line and column, with
the source line, a caret and (where one exists) a did-you-mean hint."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from safeflags.source.errors import SourceError
from safeflags.source.sandbox import PACKAGED, PACKAGED_TEMPLATES
from tests.helpers.repo import FlagRepo, bool_flag


@pytest.fixture
def repo(tmp_path: Path) -> FlagRepo:
    return FlagRepo(tmp_path / "repo")


def only_error(repo: FlagRepo) -> SourceError:
    result = repo.compile()
    assert result.bundle is None and not result.data
    assert len(result.errors) == 1, [e.format() for e in result.errors]
    return result.errors[0]


def test_syntax_error(repo: FlagRepo) -> None:
    rel = repo.write("billing.broken", """
    sf.bool {
      owner: 'team-billing'
      description: 'missing comma above',
      default: false,
    }
    """)
    err = only_error(repo)
    assert (err.file, err.line, err.column, err.code) == (rel, 4, 3, "SF101")
    assert "comma" in err.message
    text = err.format(repo.root)
    assert text.startswith(f"{rel}:4:3: error SF101: ")
    assert "\n      description: 'missing comma above',\n      ^" in text


def test_failing_assert_in_template_points_at_the_flag_line(repo: FlagRepo) -> None:
    rel = repo.write("billing.ramp", bool_flag("rollout: sf.ramps.standard(unit='workspace_id', stage=9),"))
    err = only_error(repo)
    assert err.file == rel and err.line == 6 and err.code == "SF101"
    assert "stage" in err.message
    assert err.hint is not None and err.hint.startswith("raised at templates/")


def test_user_assert(repo: FlagRepo) -> None:
    rel = repo.write("billing.asserted", """
    local limit = 5;
    assert limit < 3 : 'limit must stay below 3';
    sf.int { owner: 'team-billing', description: 'x', default: limit }
    """)
    err = only_error(repo)
    assert (err.file, err.line, err.code) == (rel, 3, "SF101")
    assert err.message == "limit must stay below 3"


def test_unknown_field_with_hint(repo: FlagRepo) -> None:
    rel = repo.write("billing.typo", bool_flag("descripton: 'typo',"))
    err = only_error(repo)
    assert (err.file, err.line, err.column, err.code) == (rel, 6, 3, "SF102")
    assert err.message == "unknown field 'descripton'"
    assert err.hint == "did you mean 'description'?"


def test_missing_field(repo: FlagRepo) -> None:
    repo.write("billing.noowner", "sf.bool { description: 'x', default: false }\n")
    err = only_error(repo)
    assert err.code == "SF102" and err.message == "missing required field 'owner'"


def test_wrong_value_type(repo: FlagRepo) -> None:
    rel = repo.write("billing.wrongtype", """
    sf.int {
      owner: 'team-billing',
      description: 'timeout',
      default: 'thirty',
    }
    """)
    err = only_error(repo)
    assert (err.file, err.line, err.column, err.code) == (rel, 5, 12, "SF103")
    assert err.message == "'thirty' is not an int value (the flag's type is int)"
    assert err.field_path == "default"


def test_wrong_override_value_type(repo: FlagRepo) -> None:
    rel = repo.write("billing.wrongserve", bool_flag("""
    overrides: [
      sf.when(sf.dim.org_tier.in_(['pro'])).serve('yes'),
    ],
    """))
    err = only_error(repo)
    assert (err.file, err.line, err.code, err.field_path) == (rel, 7, "SF103", "overrides[0].serve.value")


def test_undeclared_dimension_fails_in_jsonnet_with_hint(repo: FlagRepo) -> None:
    rel = repo.write("billing.dimtypo", bool_flag("""
    overrides: [
      sf.when(sf.dim.reigon.in_(['us-east-1'])).serve(true),
    ],
    """))
    err = only_error(repo)
    assert (err.file, err.line, err.code) == (rel, 7, "SF104")
    assert "reigon" in err.message
    assert err.hint == "did you mean 'region'?"


def test_undeclared_dimension_in_raw_json_with_hint(repo: FlagRepo) -> None:
    rel = repo.write("billing.rawdim", bool_flag("""
    overrides: [
      { when: { op: 'in', dim: 'regoin', values: ['us-east-1'] }, serve: { value: true } },
    ],
    """))
    err = only_error(repo)
    assert (err.file, err.line, err.code) == (rel, 7, "SF104")
    assert err.message == "undeclared dimension 'regoin'" and err.hint == "did you mean 'region'?"


def test_unknown_enum_value_with_hint(repo: FlagRepo) -> None:
    rel = repo.write("billing.enumtypo", bool_flag("""
    overrides: [
      sf.when(sf.dim.region.in_(['us-east-1', 'us-esat-2'])).serve(true),
    ],
    """))
    err = only_error(repo)
    assert (err.file, err.line, err.column, err.code) == (rel, 7, 43, "SF105")
    assert err.message == "'us-esat-2' is not a value of dimension 'region'"
    assert err.hint == "did you mean 'us-east-2'?"
    assert err.field_path == "overrides[0].when.values[1]"


def test_all_errors_are_reported_not_the_first_only(repo: FlagRepo) -> None:
    repo.write("billing.one", bool_flag("descripton: 'typo',"))
    repo.write("billing.two", bool_flag("", default="3"))
    repo.write("search.three", "{ a: \n")
    result = repo.compile()
    assert sorted((e.file, e.code) for e in result.errors) == [
        ("flags/billing/one.jsonnet", "SF102"),
        ("flags/billing/two.jsonnet", "SF103"),
        ("flags/search/three.jsonnet", "SF101"),
    ]


def test_bad_file_name(repo: FlagRepo) -> None:
    path = repo.root / "flags" / "billing" / "New-Path.jsonnet"
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    err = only_error(repo)
    assert err.file == "flags/billing/New-Path.jsonnet" and err.code == "SF106"


def test_key_field_must_match_path(repo: FlagRepo) -> None:
    rel = repo.write("billing.keyed", bool_flag("key: 'billing.other',"))
    err = only_error(repo)
    assert (err.file, err.line, err.code) == (rel, 6, "SF106")


# --- the import sandbox -------------------------------------------------------

def test_absolute_import_refused(repo: FlagRepo) -> None:
    rel = repo.write("billing.abs", "local secret = importstr '/etc/hostname';\n{ a: secret }\n")
    err = only_error(repo)
    assert (err.file, err.line, err.code) == (rel, 2, "SF101")
    assert "absolute paths are not allowed" in err.message


def test_dotdot_escape_refused(repo: FlagRepo, tmp_path: Path) -> None:
    (tmp_path / "outside.libsonnet").write_text("{ secret: 1 }")
    rel = repo.write("billing.escape", "local o = import '../../../outside.libsonnet';\no\n")
    err = only_error(repo)
    assert (err.file, err.line, err.code) == (rel, 2, "SF101")
    assert "outside the repository's import roots" in err.message


def test_symlink_escape_refused(repo: FlagRepo, tmp_path: Path) -> None:
    (tmp_path / "outside.libsonnet").write_text("{ secret: 1 }")
    os.symlink(tmp_path / "outside.libsonnet", repo.root / "templates" / "evil.libsonnet")
    rel = repo.write("billing.symlink", "local o = import 'evil.libsonnet';\no\n")
    err = only_error(repo)
    assert (err.file, err.line, err.code) == (rel, 2, "SF101")
    assert "outside the repository's import roots" in err.message


def test_imports_inside_roots_work(repo: FlagRepo) -> None:
    (repo.root / "templates" / "team.libsonnet").write_text("{ owner: 'team-billing' }")
    (repo.root / "flags" / "billing").mkdir(parents=True)
    (repo.root / "flags" / "billing" / "common.libsonnet").write_text("{ description: 'shared' }")
    repo.write("billing.shared", "local t = import 'team.libsonnet';\nlocal c = import 'common.libsonnet';\n"
               "sf.bool { owner: t.owner, description: c.description, default: false }\n")
    result = repo.compile()
    assert result.ok, [e.format() for e in result.errors]
    # Imports are lazy: only what the evaluation read is a dependency (the
    # template library's own conditions/ramps modules were never touched).
    assert result.imports["flags/billing/shared.jsonnet"] == (
        "flags/billing/common.libsonnet", "templates/safeflags.libsonnet", "templates/team.libsonnet")


# --- flags that never finish ---------------------------------------------------

def test_runaway_flag_times_out_and_others_still_compile(repo: FlagRepo) -> None:
    text = (repo.root / "safeflags.yaml").read_text()
    repo.set_config(text + "limits:\n  eval_timeout_seconds: 1.5\n")
    rel = repo.write("billing.loop", "{ a: std.length(std.range(0, 2000000000)) }\n")
    repo.write("billing.fine", bool_flag())
    result = repo.compile(jobs=1)
    assert [(e.file, e.code) for e in result.errors] == [(rel, "SF101")]
    assert "did not finish within 1.5 s" in result.errors[0].message
    assert "billing.fine" in result.specs


def test_deep_recursion_is_a_located_error(repo: FlagRepo) -> None:
    rel = repo.write("billing.recurse", "local f(n) = f(n + 1) + 1;\n{ a: f(0) }\n")
    err = only_error(repo)
    assert (err.file, err.line, err.code) == (rel, 2, "SF101")
    assert "max stack frames exceeded" in err.message


@pytest.mark.parametrize("pattern, why", [
    ("a*+b", "possessive repeats"),
    ("[a-z]+\\\\Z", "end of the text \\z"),
    ("(\\\\w+)-\\\\1", "backreferences"),
    ("foo(?!bar)", "lookaround"),
    ("([a-z]", "invalid regular expression"),
])
def test_regex_outside_the_safe_subset_is_refused(repo: FlagRepo, pattern: str, why: str) -> None:
    rel = repo.write("billing.rx", bool_flag(f"""
    overrides: [
      sf.when(sf.dim.email.regex('{pattern}')).serve(true),
    ],
    """))
    err = only_error(repo)
    assert (err.file, err.line, err.code) == (rel, 7, "SF109")
    assert why in err.message


def test_a_repository_that_vendors_nothing_gets_the_packaged_library(repo: FlagRepo) -> None:
    shutil.rmtree(repo.root / "templates")
    good = repo.write("billing.good", bool_flag())
    ramp = repo.write("billing.ramp", bool_flag("rollout: sf.ramps.standard(unit='workspace_id', stage=9),"))
    escape = repo.write("billing.escape", "local v = importstr '../version.py';\nv\n")
    result = repo.compile()
    assert result.imports[good] == (f"{PACKAGED}/safeflags.libsonnet",)
    by_file = {e.file: e for e in result.errors}
    assert set(by_file) == {ramp, escape} and "billing.good" in result.specs
    # An assert of the packaged library: located at the flag's line, the library named by no machine path.
    assert by_file[ramp].line == 6 and "stage" in by_file[ramp].message
    assert by_file[ramp].hint is not None and by_file[ramp].hint.startswith(f"raised at {PACKAGED}/ramps.libsonnet:")
    # `..` from the packaged fallback would reach the package's code: refused at the import's line.
    assert (by_file[escape].line, by_file[escape].code) == (2, "SF101")
    assert "outside the packaged template library" in by_file[escape].message
    text = "\n".join(e.format(repo.root) for e in result.errors)
    assert str(PACKAGED_TEMPLATES.parent) not in text
