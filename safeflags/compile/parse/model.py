"""Stage 2: the flag object a Jsonnet file evaluates to, as a strict pydantic
model (docs/flag-schema.md). Unknown fields are errors; structure only here —
typing against the flag type and the dimension catalog is in `spec.py`."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
)

FlagTypeName = Literal["bool", "string", "int", "float", "json"]
KindName = Literal["release", "operational", "experiment", "migration", "config"]

KEY_PART = re.compile(r"^[a-z][a-z0-9_]*$")
VARIANT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- conditions -----------------------------------------------------------

class ConstCond(Strict):
    op: Literal["always", "never"]


class InCond(Strict):
    op: Literal["in", "not_in"]
    dim: StrictStr
    values: list[Any] = Field(min_length=1)


class CompareCond(Strict):
    op: Literal["lt", "le", "gt", "ge"]
    dim: StrictStr
    value: Any


class MatchCond(Strict):
    op: Literal["prefix", "suffix", "contains", "regex"]
    dim: StrictStr
    value: StrictStr
    ignore_case: StrictBool = False


class PresentCond(Strict):
    op: Literal["present"]
    dim: StrictStr


class PercentCond(Strict):
    op: Literal["percent"]
    dim: StrictStr
    percent: float = Field(ge=0, le=100)
    salt: StrictStr | None = None


class FlagCond(Strict):
    op: Literal["flag"]
    flag: StrictStr
    value: Any = True


class AllAnyCond(Strict):
    op: Literal["all", "any"]
    of: list[Condition]


class NotCond(Strict):
    op: Literal["not"]
    of: list[Condition] = Field(min_length=1, max_length=1)


Condition = Annotated[
    ConstCond | InCond | CompareCond | MatchCond | PresentCond | PercentCond | FlagCond | AllAnyCond | NotCond,
    Field(discriminator="op"),
]
AllAnyCond.model_rebuild()
NotCond.model_rebuild()


# --- what rules serve -----------------------------------------------------

class SplitArm(Strict):
    variant: StrictStr
    weight: float = Field(gt=0, le=100)


class Split(Strict):
    unit: StrictStr
    salt: StrictStr | None = None
    arms: list[SplitArm] = Field(min_length=1)


class ServeValue(Strict):
    value: Any


class ServeVariant(Strict):
    variant: StrictStr


class ServeSplit(Strict):
    split: Split


Serve = ServeValue | ServeVariant | ServeSplit


def _parse_serve(data: Any) -> Any:
    """Pick the serve form by its one key, so errors speak of that form only."""
    if isinstance(data, dict) and len(data) == 1:
        key = next(iter(data))
        forms: dict[str, type[Strict]] = {"value": ServeValue, "variant": ServeVariant, "split": ServeSplit}
        model = forms.get(key)
        if model is not None:
            return model.model_validate(data)
    if isinstance(data, (ServeValue, ServeVariant, ServeSplit)):
        return data
    raise ValueError("serve must be exactly one of {value: V}, {variant: NAME}, {split: {...}}")


class Override(Strict):
    when: Condition
    serve: Serve
    description: StrictStr = ""

    @field_validator("serve", mode="before")
    @classmethod
    def _serve(cls, v: Any) -> Any:
        return _parse_serve(v)


class Stage(Strict):
    name: StrictStr = ""
    percent: float = Field(ge=0, le=100)
    scope: Condition | None = None
    not_before: StrictStr | None = None
    bake: StrictStr | None = None


class Rollout(Strict):
    template: StrictStr = "custom"
    stages: list[Stage] = Field(min_length=1)
    stage: int = Field(ge=0)
    unit: StrictStr
    salt: StrictStr | None = None
    serve: Serve | None = None

    @field_validator("serve", mode="before")
    @classmethod
    def _serve(cls, v: Any) -> Any:
        return None if v is None else _parse_serve(v)


class Variant(Strict):
    name: StrictStr
    value: Any
    description: StrictStr = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not VARIANT_NAME.match(v):
            raise ValueError(f"variant name {v!r} must match {VARIANT_NAME.pattern}")
        return v


class Prerequisite(Strict):
    flag: StrictStr
    value: Any = True


class Requirement(Strict):
    service: StrictStr
    min_version: StrictStr


class Bounds(Strict):
    min: float | None = None
    max: float | None = None


class SuppressRule(Strict):
    code: StrictStr = Field(pattern=r"^SF\d{3}$|^[A-Z]+\d+$")
    reason: StrictStr = Field(min_length=10)


class FlagModel(Strict):
    key: StrictStr | None = None  # optional; when given it must match the path
    type: FlagTypeName
    kind: KindName
    owner: StrictStr
    co_owners: list[StrictStr] = Field(default_factory=list)
    description: StrictStr
    # Dates, timestamps and versions are literals: spec.py reads them with the
    # kernel's parsers and reports a bad one as SF109 at the literal.
    expires: StrictStr | None = None
    tags: list[StrictStr] = Field(default_factory=list)
    enabled: StrictBool = True
    default: Any
    variants: list[Variant] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)
    rollout: Rollout | None = None
    prerequisites: list[Prerequisite] = Field(default_factory=list)
    requires: list[Requirement] = Field(default_factory=list)
    bounds: Bounds | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    fully_rolled_out_since: StrictStr | None = None
    suppress: list[SuppressRule] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def key_for_path(rel: str, flags_dir: str) -> str | None:
    """`flags/billing/new_path.jsonnet` -> `billing.new_path`; None if not a valid key."""
    prefix = flags_dir.rstrip("/") + "/"
    if not rel.startswith(prefix) or not rel.endswith(".jsonnet"):
        return None
    parts = rel[len(prefix): -len(".jsonnet")].split("/")
    if len(parts) < 2 or not all(KEY_PART.match(p) for p in parts):
        return None
    return ".".join(parts)
