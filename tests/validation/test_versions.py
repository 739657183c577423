"""SF303's deployment inventory: read as YAML 1.2, its errors located."""
from __future__ import annotations

from pathlib import Path

import pytest

from safeflags.source.errors import ConfigError
from safeflags.validation.builtin.versions import load_inventory


def test_the_inventory_reads_as_yaml_1_2(tmp_path: Path) -> None:
    (tmp_path / "deployments.yaml").write_text(
        "services:\n  billing:\n"
        "    - {where: {country: NO}, version: 2.14.0}\n"
        "    - {where: {on: off}, version: 1.0.0}\n")
    inventory = load_inventory(tmp_path, "deployments.yaml")
    assert [d.where for d in inventory.services["billing"]] == [{"country": "NO"}, {"on": "off"}]


@pytest.mark.parametrize(("text", "where", "message", "hint"), [
    ("services:\n  billing:\n    - {where: {}, verison: 1.0.0}\n", (3, 19), "unknown key 'verison'",
     "did you mean 'version'?"),
    ("services:\n  billing: []\n  billing: []\n", (3, 3), "duplicate key 'billing'", "first given on line 2"),
    ("services:\n  billing: x: y\n", (2, 13), "invalid YAML: mapping values are not allowed here", None),
])
def test_a_bad_inventory_is_a_located_error(tmp_path: Path, text: str, where: tuple[int, int], message: str,
                                            hint: str | None) -> None:
    (tmp_path / "deployments.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_inventory(tmp_path, "deployments.yaml")
    (e,) = err.value.errors
    assert (e.file, (e.line, e.column), e.hint) == ("deployments.yaml", where, hint)
    assert e.message.startswith(message)
