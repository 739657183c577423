"""The team validator PAY001, loaded the way `safeflags validate` loads it."""
from __future__ import annotations

from pathlib import Path

from safeflags.compile.config import load_config
from safeflags.compile.driver import CompileResult
from safeflags.v1 import common_pb2, spec_pb2
from safeflags.validation import registry
from safeflags.validation.api import Context
from safeflags.validation.settings import parse_settings

ROOT = Path(__file__).resolve().parents[1]


def _flag(key: str, tags: list[str], co_owners: list[str]) -> spec_pb2.FlagSpec:
    return spec_pb2.FlagSpec(
        key=key, type=common_pb2.FLAG_TYPE_BOOL, owner="team-billing", co_owners=co_owners, tags=tags,
        location=common_pb2.Location(file=f"flags/{key.replace('.', '/')}.jsonnet", line=3, column=1),
    )


def _run(*flags: spec_pb2.FlagSpec) -> list[tuple[str, str | None]]:
    config = load_config(ROOT)
    local = parse_settings(config).local_validators
    assert "validators/payments.py" in local, "enabled for this repository in safeflags.yaml"
    (cls,) = [c for c in registry.load(ROOT, local, group="safeflags.none") if c.code == "PAY001"]
    ctx = Context(CompileResult(config, specs={f.key: f for f in flags}))
    return [(f.code, f.flag) for f in cls().check(ctx)]


def test_payments_flag_with_one_owner_fails() -> None:
    assert _run(_flag("billing.card_retry", ["payments"], [])) == [("PAY001", "billing.card_retry")]


def test_payments_flag_with_two_owners_and_other_flags_pass() -> None:
    assert _run(_flag("billing.card_retry", ["payments"], ["team-security"]), _flag("search.x", ["ranking"], [])) == []
