from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FlagType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FLAG_TYPE_UNSPECIFIED: _ClassVar[FlagType]
    FLAG_TYPE_BOOL: _ClassVar[FlagType]
    FLAG_TYPE_STRING: _ClassVar[FlagType]
    FLAG_TYPE_INT: _ClassVar[FlagType]
    FLAG_TYPE_FLOAT: _ClassVar[FlagType]
    FLAG_TYPE_JSON: _ClassVar[FlagType]

class FlagKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FLAG_KIND_UNSPECIFIED: _ClassVar[FlagKind]
    FLAG_KIND_RELEASE: _ClassVar[FlagKind]
    FLAG_KIND_OPERATIONAL: _ClassVar[FlagKind]
    FLAG_KIND_EXPERIMENT: _ClassVar[FlagKind]
    FLAG_KIND_MIGRATION: _ClassVar[FlagKind]
    FLAG_KIND_CONFIG: _ClassVar[FlagKind]

class DimensionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIMENSION_TYPE_UNSPECIFIED: _ClassVar[DimensionType]
    DIMENSION_TYPE_STRING: _ClassVar[DimensionType]
    DIMENSION_TYPE_ENUM: _ClassVar[DimensionType]
    DIMENSION_TYPE_INT: _ClassVar[DimensionType]
    DIMENSION_TYPE_FLOAT: _ClassVar[DimensionType]
    DIMENSION_TYPE_BOOL: _ClassVar[DimensionType]
    DIMENSION_TYPE_SEMVER: _ClassVar[DimensionType]
    DIMENSION_TYPE_TIMESTAMP: _ClassVar[DimensionType]
FLAG_TYPE_UNSPECIFIED: FlagType
FLAG_TYPE_BOOL: FlagType
FLAG_TYPE_STRING: FlagType
FLAG_TYPE_INT: FlagType
FLAG_TYPE_FLOAT: FlagType
FLAG_TYPE_JSON: FlagType
FLAG_KIND_UNSPECIFIED: FlagKind
FLAG_KIND_RELEASE: FlagKind
FLAG_KIND_OPERATIONAL: FlagKind
FLAG_KIND_EXPERIMENT: FlagKind
FLAG_KIND_MIGRATION: FlagKind
FLAG_KIND_CONFIG: FlagKind
DIMENSION_TYPE_UNSPECIFIED: DimensionType
DIMENSION_TYPE_STRING: DimensionType
DIMENSION_TYPE_ENUM: DimensionType
DIMENSION_TYPE_INT: DimensionType
DIMENSION_TYPE_FLOAT: DimensionType
DIMENSION_TYPE_BOOL: DimensionType
DIMENSION_TYPE_SEMVER: DimensionType
DIMENSION_TYPE_TIMESTAMP: DimensionType

class Value(_message.Message):
    __slots__ = ("bool_value", "string_value", "int_value", "float_value", "json_value")
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    FLOAT_VALUE_FIELD_NUMBER: _ClassVar[int]
    JSON_VALUE_FIELD_NUMBER: _ClassVar[int]
    bool_value: bool
    string_value: str
    int_value: int
    float_value: float
    json_value: str
    def __init__(self, bool_value: _Optional[bool] = ..., string_value: _Optional[str] = ..., int_value: _Optional[int] = ..., float_value: _Optional[float] = ..., json_value: _Optional[str] = ...) -> None: ...

class Dimension(_message.Message):
    __slots__ = ("name", "type", "static", "description", "values", "weights")
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATIC_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: DimensionType
    static: bool
    description: str
    values: _containers.RepeatedScalarFieldContainer[str]
    weights: _containers.ScalarMap[str, float]
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[DimensionType, str]] = ..., static: _Optional[bool] = ..., description: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., weights: _Optional[_Mapping[str, float]] = ...) -> None: ...

class Location(_message.Message):
    __slots__ = ("file", "line", "column")
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    file: str
    line: int
    column: int
    def __init__(self, file: _Optional[str] = ..., line: _Optional[int] = ..., column: _Optional[int] = ...) -> None: ...
