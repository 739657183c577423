"""safeflags.yaml: read as YAML 1.2, its errors printed like a flag's — the
source line, a caret under the spot, and what the author probably meant."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from safeflags.compile.config import RepoConfig, load_config
from safeflags.source.errors import ConfigError, SourceError
from tests.helpers.repo import FlagRepo

HEAD = "version: 1\n"


def _load(tmp_path: Path, body: str) -> RepoConfig:
    (tmp_path / "safeflags.yaml").write_text(HEAD + textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return load_config(tmp_path)


def _errors(tmp_path: Path, body: str) -> list[SourceError]:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, body)
    return err.value.errors


def test_norway_is_a_country_and_on_is_a_word(tmp_path: Path) -> None:
    config = _load(tmp_path, """
    dimensions:
      country: {type: enum, values: [SE, NO, DK], static: true, weights: {SE: 50, NO: 30, DK: 20}}
      switch: {type: enum, values: [on, off, yes]}
    limits: {max_stack: 0100}
    """)
    assert config.dimensions["country"].values == ["SE", "NO", "DK"]
    assert config.dimensions["country"].weights == {"SE": 50.0, "NO": 30.0, "DK": 20.0}
    assert config.dimensions["switch"].values == ["on", "off", "yes"]
    assert config.model.limits.max_stack == 100  # YAML 1.2: decimal, not the octal 64 of YAML 1.1


def test_a_flag_can_target_norway(tmp_path: Path) -> None:
    repo = FlagRepo(tmp_path / "repo")
    text = (repo.root / "safeflags.yaml").read_text(encoding="utf-8")
    repo.set_config(text.replace("dimensions:\n", "dimensions:\n  nordic: {type: enum, values: [SE, NO]}\n", 1))
    repo.write("billing.nordic", """
    sf.bool {
      owner: 'team-billing',
      description: 'Nordic pricing.',
      default: false,
      overrides: [sf.when(sf.dim.nordic.in_(['NO'])).serve(true)],
    }
    """)
    result = repo.compile()
    assert result.ok, [e.format() for e in result.errors]
    assert result.config.dimensions["nordic"].values == ["SE", "NO"]


def test_misspelt_keys_are_located_with_the_key_meant(tmp_path: Path) -> None:
    errors = _errors(tmp_path, """
    dimensions:
      region:
        tpye: enum
        values: [us, eu]
        weigths: {us: 1}
    """)
    assert [e.format() for e in errors] == [
        "safeflags.yaml:4:5: error: unknown key 'tpye' (at dimensions.region.tpye)\n"
        "        tpye: enum\n"
        "        ^\n"
        "    hint: did you mean 'type'?",
        "safeflags.yaml:6:5: error: unknown key 'weigths' (at dimensions.region.weigths)\n"
        "        weigths: {us: 1}\n"
        "        ^\n"
        "    hint: did you mean 'weights'?",
    ]  # the missing `type` is said once, as the misspelling


@pytest.mark.parametrize(("body", "where", "message", "hint"), [
    ("dimensions:\n  tier: {type: strin}\n", (3, 16),
     "Input should be 'string', 'enum', 'int', 'float', 'bool', 'semver' or 'timestamp'", "did you mean 'string'?"),
    ("dimensions:\n  region: {type: enum, values: [us, eu], weights: {us: 1, ue: 2}}\n", (3, 59),
     "weights name values not in the enum: ue", "did you mean 'eu'?"),
    ("dimensions:\n  region: {type: enum}\n", (3, 3), "an enum dimension needs its 'values'", None),
    ("dimensions:\n  tier: {type: string}\nowners: {team-a: {contcat: a@b.c}}\n", (4, 19),
     "unknown key 'contcat'", "did you mean 'contact'?"),
    ("dimensions:\n  tier: {type: string}\nlimits: {eval_timeout_seconds: -1}\n", (4, 32),
     "Input should be greater than 0", None),
    ("dimensions:\n  tier: {type: string}\ndimentions: {}\n", (4, 1), "unknown key 'dimentions'", None),
    ("dimensions:\n  2tier: {type: string}\n", (3, 3),
     "dimension name '2tier' must be an identifier (letters, digits, _)", None),
    ("flags_dir: ../elsewhere\ndimensions:\n  tier: {type: string}\n", (2, 12), "'../elsewhere' lies outside", None),
])
def test_errors_carry_their_line_a_caret_and_a_hint(tmp_path: Path, body: str, where: tuple[int, int], message: str,
                                                    hint: str | None) -> None:
    (err,) = _errors(tmp_path, body)
    assert (err.file, (err.line, err.column), err.hint) == ("safeflags.yaml", where, hint)
    assert err.message.startswith(message)
    assert err.source_line == (HEAD + body).splitlines()[err.line - 1]
    assert err.format().splitlines()[2] == "    " + " " * (err.column - 1) + "^"


def test_a_key_already_there_is_not_what_was_meant(tmp_path: Path) -> None:
    # `dimensions` is present: `dimentions` is a second, unknown key, not a misspelling of it.
    (err,) = _errors(tmp_path, "dimensions:\n  tier: {type: string}\ndimentions: {}\n")
    assert err.hint is None


def test_a_duplicate_dimension_is_an_error_at_the_second(tmp_path: Path) -> None:
    (err,) = _errors(tmp_path, "dimensions:\n  region: {type: string}\n  region: {type: int}\n")
    assert (err.line, err.column, err.message, err.hint) == (4, 3, "duplicate key 'region'", "first given on line 3")
    assert err.source_line == "  region: {type: int}"


def test_invalid_yaml_is_located_with_its_line(tmp_path: Path) -> None:
    (err,) = _errors(tmp_path, "dimensions:\n  region: {type: enum, values: [us, eu}\n")
    assert (err.line, err.source_line) == (3, "  region: {type: enum, values: [us, eu}")
    assert err.message.startswith("invalid YAML: ")


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just words\n"])
def test_the_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    (tmp_path / "safeflags.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_config(tmp_path)


def test_a_loaded_config_locates_what_its_readers_find_later(tmp_path: Path) -> None:
    config = _load(tmp_path, """
    dimensions:
      tier: {type: string}
    validation:
      rules:
        SF404: {max_days: 3}
    """)
    assert config.position(["validation", "rules", "SF404"]) == (6, 5)
    err = config.error(["validation", "rules", "SF404"], "no good", "try again")
    assert (err.line, err.column, err.source_line, err.hint) == (6, 5, "    SF404: {max_days: 3}", "try again")
    assert err.field_path == "validation.rules.SF404"
