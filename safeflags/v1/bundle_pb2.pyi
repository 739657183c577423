from safeflags.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RuleReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RULE_REASON_UNSPECIFIED: _ClassVar[RuleReason]
    RULE_REASON_TARGETING_MATCH: _ClassVar[RuleReason]
    RULE_REASON_SPLIT: _ClassVar[RuleReason]
    RULE_REASON_DEFAULT: _ClassVar[RuleReason]
RULE_REASON_UNSPECIFIED: RuleReason
RULE_REASON_TARGETING_MATCH: RuleReason
RULE_REASON_SPLIT: RuleReason
RULE_REASON_DEFAULT: RuleReason

class Bundle(_message.Message):
    __slots__ = ("format_version", "source_revision", "compiler_version", "dimensions", "flags", "strings")
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_REVISION_FIELD_NUMBER: _ClassVar[int]
    COMPILER_VERSION_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    format_version: int
    source_revision: str
    compiler_version: str
    dimensions: _containers.RepeatedCompositeFieldContainer[_common_pb2.Dimension]
    flags: _containers.RepeatedCompositeFieldContainer[CompiledFlag]
    strings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, format_version: _Optional[int] = ..., source_revision: _Optional[str] = ..., compiler_version: _Optional[str] = ..., dimensions: _Optional[_Iterable[_Union[_common_pb2.Dimension, _Mapping]]] = ..., flags: _Optional[_Iterable[_Union[CompiledFlag, _Mapping]]] = ..., strings: _Optional[_Iterable[str]] = ...) -> None: ...

class CompiledFlag(_message.Message):
    __slots__ = ("key", "type", "values", "variants", "rules", "fallback", "disabled", "file", "line")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    key: str
    type: _common_pb2.FlagType
    values: _containers.RepeatedCompositeFieldContainer[_common_pb2.Value]
    variants: _containers.RepeatedScalarFieldContainer[str]
    rules: _containers.RepeatedCompositeFieldContainer[Rule]
    fallback: int
    disabled: bool
    file: str
    line: int
    def __init__(self, key: _Optional[str] = ..., type: _Optional[_Union[_common_pb2.FlagType, str]] = ..., values: _Optional[_Iterable[_Union[_common_pb2.Value, _Mapping]]] = ..., variants: _Optional[_Iterable[str]] = ..., rules: _Optional[_Iterable[_Union[Rule, _Mapping]]] = ..., fallback: _Optional[int] = ..., disabled: _Optional[bool] = ..., file: _Optional[str] = ..., line: _Optional[int] = ...) -> None: ...

class Rule(_message.Message):
    __slots__ = ("when", "value", "split", "reason", "line", "label")
    WHEN_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    when: Expr
    value: int
    split: SplitOutcome
    reason: RuleReason
    line: int
    label: str
    def __init__(self, when: _Optional[_Union[Expr, _Mapping]] = ..., value: _Optional[int] = ..., split: _Optional[_Union[SplitOutcome, _Mapping]] = ..., reason: _Optional[_Union[RuleReason, str]] = ..., line: _Optional[int] = ..., label: _Optional[str] = ...) -> None: ...

class SplitOutcome(_message.Message):
    __slots__ = ("unit", "salt", "arms")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    ARMS_FIELD_NUMBER: _ClassVar[int]
    unit: int
    salt: str
    arms: _containers.RepeatedCompositeFieldContainer[SplitArmOutcome]
    def __init__(self, unit: _Optional[int] = ..., salt: _Optional[str] = ..., arms: _Optional[_Iterable[_Union[SplitArmOutcome, _Mapping]]] = ...) -> None: ...

class SplitArmOutcome(_message.Message):
    __slots__ = ("value", "upper")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    value: int
    upper: int
    def __init__(self, value: _Optional[int] = ..., upper: _Optional[int] = ...) -> None: ...

class Expr(_message.Message):
    __slots__ = ("constant", "all", "any", "compare", "match", "present", "bucket", "flag")
    CONSTANT_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    ANY_FIELD_NUMBER: _ClassVar[int]
    NOT_FIELD_NUMBER: _ClassVar[int]
    IN_FIELD_NUMBER: _ClassVar[int]
    COMPARE_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    constant: bool
    all: ExprList
    any: ExprList
    compare: Compare
    match: Match
    present: Present
    bucket: Bucket
    flag: FlagIs
    def __init__(self, constant: _Optional[bool] = ..., all: _Optional[_Union[ExprList, _Mapping]] = ..., any: _Optional[_Union[ExprList, _Mapping]] = ..., compare: _Optional[_Union[Compare, _Mapping]] = ..., match: _Optional[_Union[Match, _Mapping]] = ..., present: _Optional[_Union[Present, _Mapping]] = ..., bucket: _Optional[_Union[Bucket, _Mapping]] = ..., flag: _Optional[_Union[FlagIs, _Mapping]] = ..., **kwargs) -> None: ...

class ExprList(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Expr]
    def __init__(self, items: _Optional[_Iterable[_Union[Expr, _Mapping]]] = ...) -> None: ...

class InSet(_message.Message):
    __slots__ = ("dim", "strings", "values")
    DIM_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    dim: int
    strings: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedCompositeFieldContainer[_common_pb2.Value]
    def __init__(self, dim: _Optional[int] = ..., strings: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[_Union[_common_pb2.Value, _Mapping]]] = ...) -> None: ...

class Compare(_message.Message):
    __slots__ = ("dim", "op", "kind", "number", "text")
    class Op(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OP_UNSPECIFIED: _ClassVar[Compare.Op]
        OP_LT: _ClassVar[Compare.Op]
        OP_LE: _ClassVar[Compare.Op]
        OP_GT: _ClassVar[Compare.Op]
        OP_GE: _ClassVar[Compare.Op]
        OP_EQ: _ClassVar[Compare.Op]
    OP_UNSPECIFIED: Compare.Op
    OP_LT: Compare.Op
    OP_LE: Compare.Op
    OP_GT: Compare.Op
    OP_GE: Compare.Op
    OP_EQ: Compare.Op
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[Compare.Kind]
        KIND_NUMBER: _ClassVar[Compare.Kind]
        KIND_SEMVER: _ClassVar[Compare.Kind]
        KIND_TIMESTAMP: _ClassVar[Compare.Kind]
    KIND_UNSPECIFIED: Compare.Kind
    KIND_NUMBER: Compare.Kind
    KIND_SEMVER: Compare.Kind
    KIND_TIMESTAMP: Compare.Kind
    DIM_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    dim: int
    op: Compare.Op
    kind: Compare.Kind
    number: float
    text: str
    def __init__(self, dim: _Optional[int] = ..., op: _Optional[_Union[Compare.Op, str]] = ..., kind: _Optional[_Union[Compare.Kind, str]] = ..., number: _Optional[float] = ..., text: _Optional[str] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("dim", "op", "pattern", "ignore_case")
    class Op(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OP_UNSPECIFIED: _ClassVar[Match.Op]
        OP_PREFIX: _ClassVar[Match.Op]
        OP_SUFFIX: _ClassVar[Match.Op]
        OP_CONTAINS: _ClassVar[Match.Op]
        OP_REGEX: _ClassVar[Match.Op]
    OP_UNSPECIFIED: Match.Op
    OP_PREFIX: Match.Op
    OP_SUFFIX: Match.Op
    OP_CONTAINS: Match.Op
    OP_REGEX: Match.Op
    DIM_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    IGNORE_CASE_FIELD_NUMBER: _ClassVar[int]
    dim: int
    op: Match.Op
    pattern: str
    ignore_case: bool
    def __init__(self, dim: _Optional[int] = ..., op: _Optional[_Union[Match.Op, str]] = ..., pattern: _Optional[str] = ..., ignore_case: _Optional[bool] = ...) -> None: ...

class Present(_message.Message):
    __slots__ = ("dim",)
    DIM_FIELD_NUMBER: _ClassVar[int]
    dim: int
    def __init__(self, dim: _Optional[int] = ...) -> None: ...

class Bucket(_message.Message):
    __slots__ = ("unit", "salt", "lo", "hi")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    LO_FIELD_NUMBER: _ClassVar[int]
    HI_FIELD_NUMBER: _ClassVar[int]
    unit: int
    salt: str
    lo: int
    hi: int
    def __init__(self, unit: _Optional[int] = ..., salt: _Optional[str] = ..., lo: _Optional[int] = ..., hi: _Optional[int] = ...) -> None: ...

class FlagIs(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: _common_pb2.Value
    def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Value, _Mapping]] = ...) -> None: ...

class BundleManifest(_message.Message):
    __slots__ = ("format", "digest", "size", "head", "tail", "chunks")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    format: int
    digest: str
    size: int
    head: bytes
    tail: bytes
    chunks: _containers.RepeatedCompositeFieldContainer[BundleChunk]
    def __init__(self, format: _Optional[int] = ..., digest: _Optional[str] = ..., size: _Optional[int] = ..., head: _Optional[bytes] = ..., tail: _Optional[bytes] = ..., chunks: _Optional[_Iterable[_Union[BundleChunk, _Mapping]]] = ...) -> None: ...

class BundleChunk(_message.Message):
    __slots__ = ("sha256", "size", "flags")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    sha256: bytes
    size: int
    flags: int
    def __init__(self, sha256: _Optional[bytes] = ..., size: _Optional[int] = ..., flags: _Optional[int] = ...) -> None: ...
