from safeflags.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FlagSpec(_message.Message):
    __slots__ = ("key", "type", "kind", "owner", "co_owners", "description", "expires", "tags", "enabled", "default", "variants", "overrides", "rollout", "prerequisites", "requires", "bounds", "json_schema", "location", "fully_rolled_out_since", "suppressions")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CO_OWNERS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    PREREQUISITES_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_FIELD_NUMBER: _ClassVar[int]
    BOUNDS_FIELD_NUMBER: _ClassVar[int]
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    FULLY_ROLLED_OUT_SINCE_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    key: str
    type: _common_pb2.FlagType
    kind: _common_pb2.FlagKind
    owner: str
    co_owners: _containers.RepeatedScalarFieldContainer[str]
    description: str
    expires: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    enabled: bool
    default: _common_pb2.Value
    variants: _containers.RepeatedCompositeFieldContainer[Variant]
    overrides: _containers.RepeatedCompositeFieldContainer[Override]
    rollout: Rollout
    prerequisites: _containers.RepeatedCompositeFieldContainer[Prerequisite]
    requires: _containers.RepeatedCompositeFieldContainer[Requirement]
    bounds: Bounds
    json_schema: str
    location: _common_pb2.Location
    fully_rolled_out_since: str
    suppressions: _containers.RepeatedCompositeFieldContainer[Suppression]
    def __init__(self, key: _Optional[str] = ..., type: _Optional[_Union[_common_pb2.FlagType, str]] = ..., kind: _Optional[_Union[_common_pb2.FlagKind, str]] = ..., owner: _Optional[str] = ..., co_owners: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., expires: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., enabled: _Optional[bool] = ..., default: _Optional[_Union[_common_pb2.Value, _Mapping]] = ..., variants: _Optional[_Iterable[_Union[Variant, _Mapping]]] = ..., overrides: _Optional[_Iterable[_Union[Override, _Mapping]]] = ..., rollout: _Optional[_Union[Rollout, _Mapping]] = ..., prerequisites: _Optional[_Iterable[_Union[Prerequisite, _Mapping]]] = ..., requires: _Optional[_Iterable[_Union[Requirement, _Mapping]]] = ..., bounds: _Optional[_Union[Bounds, _Mapping]] = ..., json_schema: _Optional[str] = ..., location: _Optional[_Union[_common_pb2.Location, _Mapping]] = ..., fully_rolled_out_since: _Optional[str] = ..., suppressions: _Optional[_Iterable[_Union[Suppression, _Mapping]]] = ...) -> None: ...

class Variant(_message.Message):
    __slots__ = ("name", "value", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: _common_pb2.Value
    description: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Value, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("op", "dim", "values", "value", "ignore_case", "of", "percent", "salt", "flag", "location")
    class Op(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OP_UNSPECIFIED: _ClassVar[Condition.Op]
        OP_ALWAYS: _ClassVar[Condition.Op]
        OP_IN: _ClassVar[Condition.Op]
        OP_NOT_IN: _ClassVar[Condition.Op]
        OP_LT: _ClassVar[Condition.Op]
        OP_LE: _ClassVar[Condition.Op]
        OP_GT: _ClassVar[Condition.Op]
        OP_GE: _ClassVar[Condition.Op]
        OP_PREFIX: _ClassVar[Condition.Op]
        OP_SUFFIX: _ClassVar[Condition.Op]
        OP_CONTAINS: _ClassVar[Condition.Op]
        OP_REGEX: _ClassVar[Condition.Op]
        OP_PRESENT: _ClassVar[Condition.Op]
        OP_ALL: _ClassVar[Condition.Op]
        OP_ANY: _ClassVar[Condition.Op]
        OP_NOT: _ClassVar[Condition.Op]
        OP_PERCENT: _ClassVar[Condition.Op]
        OP_FLAG: _ClassVar[Condition.Op]
        OP_NEVER: _ClassVar[Condition.Op]
    OP_UNSPECIFIED: Condition.Op
    OP_ALWAYS: Condition.Op
    OP_IN: Condition.Op
    OP_NOT_IN: Condition.Op
    OP_LT: Condition.Op
    OP_LE: Condition.Op
    OP_GT: Condition.Op
    OP_GE: Condition.Op
    OP_PREFIX: Condition.Op
    OP_SUFFIX: Condition.Op
    OP_CONTAINS: Condition.Op
    OP_REGEX: Condition.Op
    OP_PRESENT: Condition.Op
    OP_ALL: Condition.Op
    OP_ANY: Condition.Op
    OP_NOT: Condition.Op
    OP_PERCENT: Condition.Op
    OP_FLAG: Condition.Op
    OP_NEVER: Condition.Op
    OP_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    IGNORE_CASE_FIELD_NUMBER: _ClassVar[int]
    OF_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    op: Condition.Op
    dim: str
    values: _containers.RepeatedCompositeFieldContainer[_common_pb2.Value]
    value: _common_pb2.Value
    ignore_case: bool
    of: _containers.RepeatedCompositeFieldContainer[Condition]
    percent: float
    salt: str
    flag: str
    location: _common_pb2.Location
    def __init__(self, op: _Optional[_Union[Condition.Op, str]] = ..., dim: _Optional[str] = ..., values: _Optional[_Iterable[_Union[_common_pb2.Value, _Mapping]]] = ..., value: _Optional[_Union[_common_pb2.Value, _Mapping]] = ..., ignore_case: _Optional[bool] = ..., of: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., percent: _Optional[float] = ..., salt: _Optional[str] = ..., flag: _Optional[str] = ..., location: _Optional[_Union[_common_pb2.Location, _Mapping]] = ...) -> None: ...

class Serve(_message.Message):
    __slots__ = ("value", "variant", "split")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    value: _common_pb2.Value
    variant: str
    split: Split
    def __init__(self, value: _Optional[_Union[_common_pb2.Value, _Mapping]] = ..., variant: _Optional[str] = ..., split: _Optional[_Union[Split, _Mapping]] = ...) -> None: ...

class Split(_message.Message):
    __slots__ = ("unit", "salt", "arms")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    ARMS_FIELD_NUMBER: _ClassVar[int]
    unit: str
    salt: str
    arms: _containers.RepeatedCompositeFieldContainer[SplitArm]
    def __init__(self, unit: _Optional[str] = ..., salt: _Optional[str] = ..., arms: _Optional[_Iterable[_Union[SplitArm, _Mapping]]] = ...) -> None: ...

class SplitArm(_message.Message):
    __slots__ = ("variant", "weight")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    variant: str
    weight: float
    def __init__(self, variant: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class Override(_message.Message):
    __slots__ = ("when", "serve", "description", "location")
    WHEN_FIELD_NUMBER: _ClassVar[int]
    SERVE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    when: Condition
    serve: Serve
    description: str
    location: _common_pb2.Location
    def __init__(self, when: _Optional[_Union[Condition, _Mapping]] = ..., serve: _Optional[_Union[Serve, _Mapping]] = ..., description: _Optional[str] = ..., location: _Optional[_Union[_common_pb2.Location, _Mapping]] = ...) -> None: ...

class Rollout(_message.Message):
    __slots__ = ("template", "stages", "stage", "unit", "salt", "serve", "location", "stage_location")
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    SERVE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    STAGE_LOCATION_FIELD_NUMBER: _ClassVar[int]
    template: str
    stages: _containers.RepeatedCompositeFieldContainer[Stage]
    stage: int
    unit: str
    salt: str
    serve: Serve
    location: _common_pb2.Location
    stage_location: _common_pb2.Location
    def __init__(self, template: _Optional[str] = ..., stages: _Optional[_Iterable[_Union[Stage, _Mapping]]] = ..., stage: _Optional[int] = ..., unit: _Optional[str] = ..., salt: _Optional[str] = ..., serve: _Optional[_Union[Serve, _Mapping]] = ..., location: _Optional[_Union[_common_pb2.Location, _Mapping]] = ..., stage_location: _Optional[_Union[_common_pb2.Location, _Mapping]] = ...) -> None: ...

class Stage(_message.Message):
    __slots__ = ("name", "percent", "scope", "not_before", "location", "bake")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    BAKE_FIELD_NUMBER: _ClassVar[int]
    name: str
    percent: float
    scope: Condition
    not_before: str
    location: _common_pb2.Location
    bake: str
    def __init__(self, name: _Optional[str] = ..., percent: _Optional[float] = ..., scope: _Optional[_Union[Condition, _Mapping]] = ..., not_before: _Optional[str] = ..., location: _Optional[_Union[_common_pb2.Location, _Mapping]] = ..., bake: _Optional[str] = ...) -> None: ...

class Prerequisite(_message.Message):
    __slots__ = ("flag", "value", "location")
    FLAG_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    flag: str
    value: _common_pb2.Value
    location: _common_pb2.Location
    def __init__(self, flag: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Value, _Mapping]] = ..., location: _Optional[_Union[_common_pb2.Location, _Mapping]] = ...) -> None: ...

class Requirement(_message.Message):
    __slots__ = ("service", "min_version", "location")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    MIN_VERSION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    service: str
    min_version: str
    location: _common_pb2.Location
    def __init__(self, service: _Optional[str] = ..., min_version: _Optional[str] = ..., location: _Optional[_Union[_common_pb2.Location, _Mapping]] = ...) -> None: ...

class Bounds(_message.Message):
    __slots__ = ("has_min", "min", "has_max", "max")
    HAS_MIN_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    HAS_MAX_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    has_min: bool
    min: float
    has_max: bool
    max: float
    def __init__(self, has_min: _Optional[bool] = ..., min: _Optional[float] = ..., has_max: _Optional[bool] = ..., max: _Optional[float] = ...) -> None: ...

class Suppression(_message.Message):
    __slots__ = ("code", "reason")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    code: str
    reason: str
    def __init__(self, code: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
