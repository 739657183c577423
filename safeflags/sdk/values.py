"""Typed values: protobuf `Value` to Python and the type-strict equality the
evaluation contract uses (Python's own `True == 1 == 1.0` is not it)."""
from __future__ import annotations

import json

from safeflags.v1 import common_pb2

# The Value oneof field a flag of each type must use.
FIELD_OF_TYPE: dict[int, str] = {
    common_pb2.FLAG_TYPE_BOOL: "bool_value",
    common_pb2.FLAG_TYPE_STRING: "string_value",
    common_pb2.FLAG_TYPE_INT: "int_value",
    common_pb2.FLAG_TYPE_FLOAT: "float_value",
    common_pb2.FLAG_TYPE_JSON: "json_value",
}


def raw(value: common_pb2.Value) -> object:
    """The Python value, JSON left as its canonical text (decoded per caller,
    so nobody can mutate a shared object). None when the oneof is unset."""
    kind = value.WhichOneof("kind")
    return None if kind is None else getattr(value, kind)


def decoded(value: common_pb2.Value) -> object:
    """The Python value with JSON decoded; raises ValueError on bad JSON."""
    if value.WhichOneof("kind") == "json_value":
        return json.loads(value.json_value)
    return raw(value)


def strict_equal(a: object, b: object) -> bool:
    """Equality where types must match exactly, all the way down: True is not
    1, 1 is not 1.0, and containers compare element by element."""
    if type(a) is not type(b):
        return False
    if type(a) is list:
        assert isinstance(b, list)
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        assert isinstance(b, dict)
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    return a == b
