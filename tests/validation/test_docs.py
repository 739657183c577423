"""docs/validators.md carries the validators' docstrings, verbatim and current."""
from __future__ import annotations

from pathlib import Path

from safeflags.validation import registry
from safeflags.validation.docs import BEGIN, END, render

ROOT = Path(__file__).resolve().parents[2]


def test_validator_reference_is_generated_from_docstrings() -> None:
    text = (ROOT / "docs" / "validators.md").read_text(encoding="utf-8")
    section = text.partition(BEGIN)[2].partition(END)[0]
    assert section == "\n" + render(registry.load(ROOT)), "run: python -m safeflags.validation.docs docs/validators.md"
