"""The repository configuration, `safeflags.yaml`: roots, the dimension catalog
and the owners. Parsed strictly: unknown keys are errors with a location."""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

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
            unknown = sorted(set(self.weights) - set(self.values))
            if unknown:
                raise ValueError(f"weights name values not in the enum: {', '.join(unknown)}")
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
            if not name.replace("_", "a").isalnum() or not name[0].isalpha():
                raise ValueError(f"dimension name {name!r} must be an identifier (letters, digits, _)")
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


def dimension_names(dimensions: Iterable[str]) -> tuple[str, ...]:
    """A catalog's dimension names in bundle order: sorted, so the order
    safeflags.yaml declares them in changes no byte. A compiled tree refers
    to a dimension by its position here, and the bundle lists its catalog in
    this order (the SDK reads the indexes from that list, never this rule)."""
    return tuple(sorted(dimensions))


def dimension_index(dimensions: Iterable[str]) -> dict[str, int]:
    """Dimension name -> the index compiled trees use for it."""
    return {name: i for i, name in enumerate(dimension_names(dimensions))}


def _distance(a: str, b: str) -> int:
    """Edit distance counting a swap of neighbours as one edit (typos swap)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def did_you_mean(word: str, choices: Any) -> str | None:
    """The closest of `choices` to `word`, for "did you mean" hints: fewest
    edits (at most a third of the word), ties broken by similarity."""
    best: tuple[int, float, str] | None = None
    for choice in choices:
        d = _distance(word.lower(), str(choice).lower())
        if d > max(1, len(word) // 3):
            continue
        key = (d, -difflib.SequenceMatcher(None, word, str(choice)).ratio(), str(choice))
        if best is None or key < best:
            best = key
    return best[2] if best else None


def load_config(root: Path) -> RepoConfig:
    """Read and check `<root>/safeflags.yaml`; all problems at once, located."""
    path = root / CONFIG_FILE
    rel = CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([SourceError(rel, 0, 0, f"no {CONFIG_FILE} in {root}: is this a flag repository?")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise ConfigError([SourceError(rel, line, col, f"invalid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(data, dict):
        raise ConfigError([SourceError(rel, 1, 1, "expected a mapping at the top level")])
    try:
        model = RepoConfigModel.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            line, col = yaml_position(node, loc)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown key {loc[-1]!r}"
            errors.append(SourceError(rel, line, col, msg, stage="config", field_path=".".join(loc)))
        raise ConfigError(errors) from None
    for sub in (model.flags_dir, model.templates_dir):
        resolved = (root / sub).resolve()
        if not resolved.is_relative_to(root.resolve()):
            raise ConfigError([SourceError(rel, 0, 0, f"{sub!r} lies outside the repository")])
    return RepoConfig(root=root, model=model, text=text)


def yaml_position(node: Any, loc: list[str]) -> tuple[int, int]:
    """Line and column of the deepest YAML node on `loc` that exists."""
    best = (1, 1) if node is None else (node.start_mark.line + 1, node.start_mark.column + 1)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    best = (key.start_mark.line + 1, key.start_mark.column + 1)
                    node = value
                    break
            else:
                return best
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            best = (node.start_mark.line + 1, node.start_mark.column + 1)
        else:
            return best
    return best
