"""The example repository (flags/, safeflags.yaml) evaluates with the template
library and covers the constructs docs/dsl.md documents."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import _gojsonnet
import pytest
import yaml

from tests.helpers.repo import TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
FLAG_FILES = sorted((ROOT / "flags").glob("*/*.jsonnet"))


def catalog() -> dict[str, Any]:
    dims = yaml.safe_load((ROOT / "safeflags.yaml").read_text())["dimensions"]
    return {"dimensions": {name: {"type": d["type"], "values": d.get("values", []), "static": d.get("static", False)}
                           for name, d in dims.items()}}


def evaluate(path: Path) -> Any:
    out = _gojsonnet.evaluate_file(str(path), jpathdir=[str(TEMPLATES)],
                                   ext_codes={"safeflags_catalog": json.dumps(catalog())})
    return json.loads(out)


@pytest.fixture(scope="module")
def flags() -> dict[str, Any]:
    return {f"{p.parent.name}.{p.stem}": evaluate(p) for p in FLAG_FILES}


def test_example_repository_size(flags: dict[str, Any]) -> None:
    assert len(flags) >= 15
    assert len({key.split(".")[0] for key in flags}) >= 4


def test_owners_come_from_the_config(flags: dict[str, Any]) -> None:
    owners = set(yaml.safe_load((ROOT / "safeflags.yaml").read_text())["owners"])
    for key, flag in flags.items():
        assert {flag["owner"], *flag.get("co_owners", [])} <= owners, key


def test_examples_cover_the_kinds_and_templates(flags: dict[str, Any]) -> None:
    assert {f["kind"] for f in flags.values()} == {"release", "operational", "experiment", "migration", "config"}
    assert {f["type"] for f in flags.values()} == {"bool", "string", "int", "float", "json"}
    templates = {f["rollout"]["template"] for f in flags.values() if "rollout" in f}
    assert templates == {"standard", "cautious", "region_waves", "custom"}


def test_every_condition_op_is_shown(flags: dict[str, Any]) -> None:
    ops: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("op"), str):
                ops.add(node["op"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(flags)
    expected = {"always", "in", "not_in", "lt", "gt", "prefix", "suffix", "contains", "regex",
                "present", "percent", "all", "any", "not", "flag"}
    assert expected <= ops, sorted(expected - ops)


def test_new_invoice_path_matches_the_design_example(flags: dict[str, Any]) -> None:
    flag = flags["billing.new_invoice_path"]
    assert flag["rollout"]["template"] == "standard" and flag["rollout"]["stage"] == 2
    assert flag["requires"] == [{"service": "billing", "min_version": "2.14.0"}]
    assert [o["serve"] for o in flag["overrides"]] == [{"value": False}, {"value": True}]
