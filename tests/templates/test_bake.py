"""The ramps' `bake=`: one duration for every stage, or a list aligned with the stages."""
from __future__ import annotations

import pytest

from tests.templates.test_dsl import evaluate


def bakes(body: str) -> list[str | None]:
    return [s.get("bake") for s in evaluate(body)["stages"]]


def test_one_duration_bakes_every_stage() -> None:
    assert bakes("sf.ramps.standard(unit='u', stage=0, bake='24h')") == ["24h"] * 5


def test_a_list_bakes_the_stages_it_reaches_alongside_the_schedule() -> None:
    rollout = evaluate("sf.ramps.cautious(unit='u', stage=0, bake=[null, '1h', '6h'], schedule=['2026-01-01'])")
    assert [s.get("bake") for s in rollout["stages"]] == [None, "1h", "6h", None, None, None, None]
    assert rollout["stages"][0] == {"name": "0.1%", "percent": 0.1, "not_before": "2026-01-01"}


def test_a_custom_stage_carries_its_own_bake() -> None:
    assert bakes("sf.ramps.custom([1, sf.ramps.stage(10, bake='2h')], unit='u', stage=0)") == [None, "2h"]


def test_bake_is_a_duration_or_a_list_no_longer_than_the_stages() -> None:
    with pytest.raises(RuntimeError, match="bake is one duration for every stage, or a list of at most 5"):
        evaluate("sf.ramps.standard(unit='u', stage=0, bake=['1h', '1h', '1h', '1h', '1h', '1h'])")
