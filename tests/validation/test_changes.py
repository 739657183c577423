"""Which flags a change reaches: the changed ones and their readers, transitively."""
from __future__ import annotations

from pathlib import Path

from safeflags.compile.config import load_config
from safeflags.compile.driver import CompileResult
from safeflags.v1 import spec_pb2
from safeflags.validation.api import Change
from safeflags.validation.changes import affected

ROOT = Path(__file__).resolve().parents[2]
C = spec_pb2.Condition


def _spec(key: str, prereq: str = "", flag_is: str = "") -> spec_pb2.FlagSpec:
    spec = spec_pb2.FlagSpec(key=key, description=f"mentions {key}.x in its text")
    if prereq:
        spec.prerequisites.add(flag=prereq)
    if flag_is:
        when = spec.overrides.add().when
        when.op = C.OP_NOT
        when.of.add(op=C.OP_FLAG, flag=flag_is)
    return spec


def test_readers_are_reached_through_prerequisites_and_flag_conditions_transitively() -> None:
    head = CompileResult(config=load_config(ROOT))
    for spec in [_spec("a.b"), _spec("a.bc"), _spec("r.one", prereq="a.b"), _spec("r.two", flag_is="r.one"),
                 _spec("r.three", flag_is="a.bc"), _spec("r.four", prereq="a.bcd")]:
        head.specs[spec.key] = spec
    assert affected(head, [Change("a.b", "modified", None, head.specs["a.b"])]) == {"a.b", "r.one", "r.two"}
    assert affected(head, [Change("gone.flag", "removed", _spec("gone.flag"), None)]) == {"gone.flag"}
    assert affected(head, []) == frozenset()
