"""The repository configuration, `safeflags.yaml`: roots, the dimension catalog
and the owners. Read as YAML 1.2 and parsed strictly (safeflags.compile.yamldoc):
every problem is an error with its location, its source line and, for a
misspelt key or value, what was probably meant."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from safeflags.compile.suggest import did_you_mean
from safeflags.compile.yamldoc import YamlDoc, cached, value_error_at
from safeflags.sdk.interpret import MAX_FLAG_DEPTH
from safeflags.source.errors import ConfigError, SourceError
from safeflags.v1 import common_pb2

CONFIG_FILE = "safeflags.yaml"

DimType = Literal["string", "enum", "int", "float", "bool", "semver", "timestamp"]

_DIM_TYPES: dict[str, int] = {
    "string": common_pb2.DIMENSION_TYPE_STRING,
    "enum": common_pb2.DIMENSION_TYPE_ENUM,
    "int": common_pb2.DIMENSION_TYPE_INT,
    "float": common_pb2.DIMENSION_TYPE_FLOAT,
    "bool": common_pb2.DIMENSION_TYPE_BOOL,
    "semver": common_pb2.DIMENSION_TYPE_SEMVER,
    "timestamp": common_pb2.DIMENSION_TYPE_TIMESTAMP,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DimensionConfig(_Strict):
    type: DimType
    static: bool = False
    description: str = ""
    values: list[str] = Field(default_factory=list)
    weights: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _enum_values(self) -> DimensionConfig:
        if self.type == "enum" and not self.values:
            raise ValueError("an enum dimension needs its 'values'")
        if self.type != "enum" and self.values:
            raise ValueError(f"'values' is only for enum dimensions, not {self.type}")
        if len(set(self.values)) != len(self.values):
            raise ValueError("enum values must be unique")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("traffic weights cannot be negative")
        if self.type == "enum":
            unknown = [v for v in self.weights if v not in self.values]
            if unknown:
                raise value_error_at(f"weights name values not in the enum: {', '.join(sorted(unknown))}",
                                     ["weights", unknown[0]], unknown[0], self.values)
        return self


class OwnerConfig(_Strict):
    description: str = ""
    contact: str = ""


class LimitsConfig(_Strict):
    eval_timeout_seconds: float = Field(default=10.0, gt=0)
    max_stack: int = Field(default=500, gt=10)
    # Resident memory of one evaluator process (one per core): 2 GiB keeps a
    # 2-core, 24 GB machine safe with workers replaced after a kill, while a
    # real flag needs tens of MiB. Below ~128 MiB the interpreter and the
    # parser alone would not fit.
    eval_memory_mib: int = Field(default=2048, ge=128)
    # A flag's JSON (compact): far above a real flag, small enough to parse in well under a second.
    max_output_kib: int = Field(default=1024, ge=1)
    # Prerequisites (and flagIs conditions), checked by SF203: the longest chain below a flag, in
    # flags, and the distinct flags one flag names. At most the SDK's own cut-off: a deeper chain
    # would silently be unmet at evaluation.
    max_prerequisite_depth: int = Field(default=8, ge=1, le=MAX_FLAG_DEPTH)
    max_prerequisite_fanout: int = Field(default=16, ge=1)


class RepoConfigModel(_Strict):
    version: Literal[1]
    flags_dir: str = "flags"
    templates_dir: str = "templates"
    dimensions: dict[str, DimensionConfig]
    owners: dict[str, OwnerConfig | None] = Field(default_factory=dict)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    # Validation settings are read by safeflags.validation; kept opaque here so
    # the compiler does not depend on them.
    validation: dict[str, Any] = Field(default_factory=dict)

    @field_validator("dimensions")
    @classmethod
    def _names(cls, dims: dict[str, DimensionConfig]) -> dict[str, DimensionConfig]:
        for name in dims:
            if not name or not name.replace("_", "a").isalnum() or not name[0].isalpha():
                raise value_error_at(f"dimension name {name!r} must be an identifier (letters, digits, _)", [name])
        return dims


@dataclass(frozen=True)
class RepoConfig:
    root: Path
    model: RepoConfigModel
    text: str = field(repr=False, default="")

    @property
    def flags_dir(self) -> Path:
        return self.root / self.model.flags_dir

    @property
    def templates_dir(self) -> Path:
        return self.root / self.model.templates_dir

    @property
    def dimensions(self) -> dict[str, DimensionConfig]:
        return self.model.dimensions

    @property
    def owners(self) -> list[str]:
        return sorted(self.model.owners)

    def catalog_json(self) -> dict[str, Any]:
        """What the template library sees as `std.extVar('safeflags_catalog')`."""
        return {
            "dimensions": {
                name: {"type": d.type, "values": list(d.values), "static": d.static}
                for name, d in sorted(self.model.dimensions.items())
            }
        }

    def dimension_protos(self) -> list[common_pb2.Dimension]:
        """The catalog in bundle order (see `dimension_names`)."""
        out = []
        for name in dimension_names(self.model.dimensions):
            d = self.model.dimensions[name]
            out.append(
                common_pb2.Dimension(
                    name=name,
                    type=_DIM_TYPES[d.type],  # type: ignore[arg-type]
                    static=d.static,
                    description=d.description,
                    values=d.values,
                    weights=d.weights,
                )
            )
        return out

    def suggest_dimension(self, name: str) -> str | None:
        return did_you_mean(name, self.model.dimensions)

    def position(self, loc: Sequence[str]) -> tuple[int, int]:
        """Line and column of `loc` (keys from the top) in safeflags.yaml."""
        return cached(CONFIG_FILE, self.text).position(loc)

    def error(self, loc: Sequence[str], message: str, hint: str | None = None) -> SourceError:
        """A located error at `loc` in safeflags.yaml, with its source line."""
        return cached(CONFIG_FILE, self.text).error(loc, message, hint=hint)

    def validation_errors(self, exc: ValidationError, model: type[BaseModel], prefix: Sequence[str],
                          *, also: Iterable[str] = ()) -> list[SourceError]:
        """pydantic's errors for a part of safeflags.yaml (at `prefix`) checked
        by a model of its reader (the validation settings), located."""
        return cached(CONFIG_FILE, self.text).validation_errors(exc, model, prefix, also=also)


def dimension_names(dimensions: Iterable[str]) -> tuple[str, ...]:
    """A catalog's dimension names in bundle order: sorted, so the order
    safeflags.yaml declares them in changes no byte. A compiled tree refers
    to a dimension by its position here, and the bundle lists its catalog in
    this order (the SDK reads the indexes from that list, never this rule)."""
    return tuple(sorted(dimensions))


def dimension_index(dimensions: Iterable[str]) -> dict[str, int]:
    """Dimension name -> the index compiled trees use for it."""
    return {name: i for i, name in enumerate(dimension_names(dimensions))}


def load_config(root: Path) -> RepoConfig:
    """Read and check `<root>/safeflags.yaml`; all problems at once, located."""
    path = root / CONFIG_FILE
    rel = CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([SourceError(rel, 0, 0, f"no {CONFIG_FILE} in {root}: is this a flag repository?")]) from None
    doc = YamlDoc.parse(rel, text)
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.error([], "expected a mapping at the top level")])
    try:
        model = RepoConfigModel.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(doc.validation_errors(exc, RepoConfigModel)) from None
    for key, sub in (("flags_dir", model.flags_dir), ("templates_dir", model.templates_dir)):
        resolved = (root / sub).resolve()
        if not resolved.is_relative_to(root.resolve()):
            raise ConfigError([doc.error([key], f"{sub!r} lies outside the repository", at_value=True)])
    return RepoConfig(root=root, model=model, text=text)
