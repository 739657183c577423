"""Reading the repository's YAML: 1.2 semantics, duplicate keys, positions,
and pydantic's errors turned into located errors with their hints."""
from __future__ import annotations

import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from safeflags.compile.yamldoc import YamlDoc, value_error_at
from safeflags.source.errors import ConfigError, SourceError

ROOT = Path(__file__).resolve().parents[2]
PLAIN = (dict, list, str, int, float, bool, type(None), datetime.date, datetime.datetime)


def _errors(text: str) -> list[SourceError]:
    with pytest.raises(ConfigError) as err:
        YamlDoc.parse("f.yaml", text)
    return err.value.errors


def test_scalars_are_read_as_yaml_1_2() -> None:
    data = YamlDoc.parse("f.yaml", "a: NO\nb: on\nc: off\nd: yes\ne: 010\nf: 0o10\ng: true\nh: 1.5\ni: null\n"
                                   "j: [SE, NO, DK]\nNO: 1\n").data
    assert data == {"a": "NO", "b": "on", "c": "off", "d": "yes", "e": 10, "f": 8, "g": True, "h": 1.5, "i": None,
                    "j": ["SE", "NO", "DK"], "NO": 1}
    assert type(data["e"]) is int and type(data["g"]) is bool


@pytest.mark.parametrize("rel", ["safeflags.yaml", "tests/validation/data/safeflags.yaml"])
def test_a_file_without_1_1_only_scalars_reads_as_before_in_plain_types(rel: str) -> None:
    text = (ROOT / rel).read_text(encoding="utf-8")
    data = YamlDoc.parse(rel, text).data
    assert data == yaml.safe_load(text)

    def plain(value: Any) -> None:
        assert type(value) in PLAIN, type(value)
        for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
            plain(item)
        if isinstance(value, dict):
            for key in value:
                plain(key)

    plain(data)


def test_a_duplicate_key_is_an_error_at_the_duplicate() -> None:
    errors = _errors("a: 1\nb:\n  - x: 1\n    x: 2\nc: {y: 1}\na: 3\n")
    assert [(e.line, e.column, e.message, e.hint, e.source_line) for e in errors] == [
        (4, 5, "duplicate key 'x'", "first given on line 3", "    x: 2"),
        (6, 1, "duplicate key 'a'", "first given on line 1", "a: 3"),
    ]


def test_merge_keys_are_no_duplicates_and_the_own_key_is_located() -> None:
    doc = YamlDoc.parse("f.yaml", "base: &b {x: 1, y: 1}\nother:\n  <<: *b\n  x: 2\n")
    assert doc.data["other"] == {"x": 2, "y": 1}
    assert doc.position(["other", "x"]) == (4, 3)
    assert doc.position(["other", "y"]) == (1, 17)  # where the merged value is written


def test_shared_aliases_are_walked_once() -> None:
    # 2**40 paths through the aliases: a walk that followed each would never end.
    lines = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 41)]
    data = YamlDoc.parse("f.yaml", "\n".join(lines) + "\n").data
    assert data["a40"][0] is data["a40"][1]


@pytest.mark.parametrize(("text", "line", "column", "problem", "source"), [
    ("a: b: c\n", 1, 5, "mapping values are not allowed here", "a: b: c"),
    ("a:\n  - x\n  y: 2\n", 3, 3, "expected <block end>, but found '?'", "  y: 2"),
    ("a: 1\n---\nb: 2\n", 2, 1, "expected a single document in the stream", "---"),
    ("a: !!python/object x\n", 1, 4, "could not determine a constructor", "a: !!python/object x"),
])
def test_a_syntax_error_is_located_with_its_line(text: str, line: int, column: int, problem: str,
                                                  source: str) -> None:
    (err,) = _errors(text)
    assert (err.file, err.line, err.column, err.source_line) == ("f.yaml", line, column, source)
    assert err.message.startswith(f"invalid YAML: {problem}")


def test_positions_point_at_keys_or_at_a_value() -> None:
    doc = YamlDoc.parse("f.yaml", "top:\n  list: [a, bb]\n  map: {k: v}\n")
    assert doc.position(["top", "list"]) == (2, 3)
    assert doc.position(["top", "list", 1]) == (2, 13)
    assert doc.position(["top", "map", "k"], at_value=True) == (3, 12)
    assert doc.position(["top", "map", "k"]) == (3, 9)
    assert doc.position(["top", "nothing", "deeper"]) == (1, 1)  # the deepest part the file has
    assert doc.position(["top", "list", 7]) == (2, 3)
    assert YamlDoc.parse("f.yaml", "").position(["x"]) == (1, 1)


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["string", "enum"]
    weights: dict[str, float] = {}
    colour: Colour = Colour.RED

    @model_validator(mode="after")
    def _known(self) -> Inner:
        for key in self.weights:
            if key not in ("us", "eu"):
                raise value_error_at(f"{key!r} is no value", ["weights", key], key, ["us", "eu"])
        return self


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dims: dict[str, Inner]
    limit: int = 0


def _validation_errors(text: str) -> list[tuple[int, int, str, str | None, str | None]]:
    doc = YamlDoc.parse("f.yaml", text)
    with pytest.raises(ValidationError) as exc:
        Outer.model_validate(doc.data)
    return sorted((e.line, e.column, e.message, e.hint, e.field_path) for e in doc.validation_errors(exc.value, Outer))


def test_an_unknown_key_is_located_with_the_declared_key_it_misspells() -> None:
    got = _validation_errors("dims:\n  region:\n    tpye: enum\n    weigths: {}\nlimt: 1\n")
    assert got == [
        (3, 5, "unknown key 'tpye'", "did you mean 'type'?", "dims.region.tpye"),
        (4, 5, "unknown key 'weigths'", "did you mean 'weights'?", "dims.region.weigths"),
        (5, 1, "unknown key 'limt'", "did you mean 'limit'?", "limt"),
    ]  # and no "Field required" for the `type` that `tpye` misspells


def test_a_key_the_mapping_has_is_not_suggested_and_a_real_omission_is_reported() -> None:
    got = _validation_errors("dims:\n  region:\n    type: enum\n    typ: enum\n  tier: {colour: red}\n")
    assert got == [(4, 5, "unknown key 'typ'", None, "dims.region.typ"),
                   (5, 3, "Field required", None, "dims.tier.type")]


def test_a_value_outside_a_closed_set_is_located_at_the_value_with_the_member_it_misspells() -> None:
    got = _validation_errors("dims:\n  region: {type: enmu, colour: gren}\n")
    assert got == [
        (2, 18, "Input should be 'string' or 'enum'", "did you mean 'enum'?", "dims.region.type"),
        (2, 32, "Input should be 'red' or 'green'", "did you mean 'green'?", "dims.region.colour"),
    ]


def test_a_models_own_check_can_point_below_it() -> None:
    got = _validation_errors("dims:\n  region:\n    type: enum\n    weights: {us: 1, ue: 2}\n")
    assert got == [(4, 22, "'ue' is no value", "did you mean 'eu'?", "dims.region.weights.ue")]


def test_located_errors_quote_their_line_under_a_caret() -> None:
    doc = YamlDoc.parse("f.yaml", "dims:\n  region: {type: enmu}\n")
    with pytest.raises(ValidationError) as exc:
        Outer.model_validate(doc.data)
    (err,) = doc.validation_errors(exc.value, Outer)
    assert err.format() == (
        "f.yaml:2:18: error: Input should be 'string' or 'enum' (at dims.region.type)\n"
        "      region: {type: enmu}\n"
        "                     ^\n"
        "    hint: did you mean 'enum'?"
    )
