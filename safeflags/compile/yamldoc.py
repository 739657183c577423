"""The repository's YAML files (safeflags.yaml, a deployment inventory), read
the way a flag file is: every problem a located error with its source line,
and a "did you mean" where a key or a value is close to a known one.

YAML 1.2 (the core schema): `NO`, `on`, `off` and `yes` are strings, `010` is
ten. A key given twice in one mapping is an error at the second, not a silent
last-one-wins. The data handed on is plain dicts, lists, strings, numbers and
booleans, what a pydantic model validates.

The pure-Python parser on purpose: it keeps line and column on every node, it
is the same on every interpreter whatever C extension is installed, and at the
size of a repository's configuration it is no slower than the two passes
(compose for positions, load for data) this replaced.
"""
from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError
from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from safeflags.compile import suggest
from safeflags.source.errors import ConfigError, SourceError

_MERGE = "tag:yaml.org,2002:merge"
_AT = "located_value_error"


def value_error_at(message: str, at: Sequence[str], word: str | None = None,
                   choices: Sequence[str] = ()) -> PydanticCustomError:
    """What a model's own check raises to point below the model, at `at`
    (e.g. one key of its `weights`), with the one of `choices` that `word`
    is closest to as the hint: pydantic alone would place it on the model."""
    return PydanticCustomError(_AT, "{message}", {"message": message, "at": list(at), "word": word,
                                                   "choices": list(choices)})


@dataclass(frozen=True, eq=False)
class YamlDoc:
    """One parsed YAML file: its data, and where each part of it was written."""

    file: str  # repository-relative, as errors name it
    text: str
    data: Any
    root: Node | None

    @classmethod
    def parse(cls, file: str, text: str) -> YamlDoc:
        """Parse `text`; a syntax error or a duplicate key raises ConfigError."""
        reader = YAML(typ="safe", pure=True)
        reader.version = (1, 2)
        try:
            root = reader.compose(text)
            pairs = sorted(_duplicates(root), key=lambda pair: pair[1].start_mark.index) if root is not None else []
            if pairs:
                raise ConfigError([
                    SourceError(file, key.start_mark.line + 1, key.start_mark.column + 1,
                                f"duplicate key {key.value!r}", stage="config",
                                hint=f"first given on line {first.start_mark.line + 1}",
                                source_line=_line(text, key.start_mark.line + 1))
                    for first, key in pairs])
            data = reader.constructor.construct_document(root) if root is not None else None
        except YAMLError as exc:
            raise ConfigError([_syntax_error(file, text, exc)]) from None
        return cls(file, text, data, root)

    def position(self, loc: Sequence[str | int], *, at_value: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the deepest part of `loc` the file
        has: the key that names it, or with `at_value`, a scalar value itself
        (where the caret belongs under a wrong value)."""
        node = self.root
        if node is None:
            return 1, 1
        mark = node.start_mark
        for part in loc:
            found = _child(node, str(part))
            if found is None:
                break
            key, node = found
            mark = (key if key is not None else node).start_mark
        else:
            if at_value and isinstance(node, ScalarNode):
                mark = node.start_mark
        return mark.line + 1, mark.column + 1

    def error(self, loc: Sequence[str | int], message: str, *, hint: str | None = None,
              at_value: bool = False, field_path: str | None = None) -> SourceError:
        line, col = self.position(loc, at_value=at_value)
        path = field_path if field_path is not None else ".".join(str(p) for p in loc)
        return SourceError(self.file, line, col, message, stage="config", hint=hint,
                           field_path=path or None, source_line=_line(self.text, line))

    def validation_errors(self, exc: ValidationError, model: type[BaseModel], prefix: Sequence[str] = (),
                          *, also: Iterable[str] = ()) -> list[SourceError]:
        """pydantic's errors for `model` validated at `prefix` in this file, as
        located errors: an unknown key with the declared key it is closest to,
        a value outside a closed set with the member it is closest to. A
        missing key that an unknown sibling is a misspelling of is said once,
        at the misspelling. `also` names more keys the mapping may have (ones
        validated by another model); keys the file already has are never
        suggested."""
        data = _walk_data(self.data, prefix)
        misspelt: set[tuple[str, ...]] = set()  # the declared keys an unknown key stands for
        out: list[tuple[tuple[str, ...], str, SourceError]] = []
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            full = [*prefix, *loc]
            kind = err["type"]
            if kind == "extra_forbidden":
                keys = {*_fields(model, loc[:-1]), *(also if not loc[:-1] else ())}
                near = suggest.did_you_mean(loc[-1], keys - _keys(_walk_data(data, loc[:-1])))
                if near is not None:
                    misspelt.add((*loc[:-1], near))
                out.append((loc, kind, self.error(full, f"unknown key {loc[-1]!r}",
                                                  hint=f"did you mean {near!r}?" if near else None)))
                continue
            hint = None
            if kind == _AT:
                ctx = err.get("ctx") or {}
                full = [*full, *ctx.get("at", [])]
                if ctx.get("word") is not None:
                    hint = suggest.hint(ctx["word"], ctx.get("choices", []))
            elif kind in ("literal_error", "enum") and isinstance(err.get("input"), str):
                hint = suggest.hint(err["input"], _members(_annotation(model, loc)))
            message = err["msg"].removeprefix("Value error, ")
            out.append((loc, kind, self.error(full, message, hint=hint, at_value=kind not in ("missing", _AT))))
        return [e for loc, kind, e in out if not (kind == "missing" and loc in misspelt)]


@functools.lru_cache(maxsize=8)
def cached(file: str, text: str) -> YamlDoc:
    """`YamlDoc.parse` for text already known to parse, read again only to
    locate an error found later (a valid file never pays for positions twice)."""
    return YamlDoc.parse(file, text)


def _line(text: str, number: int) -> str | None:
    """Line `number` (1-based) of `text`, to quote under an error."""
    lines = text.splitlines()
    return lines[number - 1] if 0 < number <= len(lines) else None


def _syntax_error(file: str, text: str, exc: YAMLError) -> SourceError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if mark is None:
        return SourceError(file, 0, 0, f"invalid YAML: {problem}", stage="config")
    line = mark.line + 1
    context_mark = getattr(exc, "context_mark", None)
    if context and problem.startswith("but "):  # one sentence in two halves
        problem, context = f"{context}, {problem}", None
    where = f"{context} (line {context_mark.line + 1})" if context and context_mark is not None else context
    return SourceError(file, line, mark.column + 1, f"invalid YAML: {problem}", stage="config",
                       hint=where, source_line=_line(text, line))


def _duplicates(root: Node) -> Iterator[tuple[Node, Node]]:
    """(first, repeated) key nodes of every mapping that names a key twice.
    Each node once: an alias shares its anchor's node, and a walk that
    followed every alias could take exponential time."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[tuple[str, str], Node] = {}
            for key, value in node.value:
                todo.append(value)
                if not isinstance(key, ScalarNode) or key.tag == _MERGE:
                    continue
                name = (str(key.tag), key.value)
                if name in first:
                    yield first[name], key
                else:
                    first[name] = key
        elif isinstance(node, SequenceNode):
            todo.extend(node.value)


def _child(node: Node, part: str) -> tuple[Node | None, Node] | None:
    """(key node, value node) of `part` in a mapping, (None, item) in a sequence."""
    if isinstance(node, MappingNode):
        # The last match: keys merged in with `<<` come first and the
        # mapping's own, which override them, after.
        for key, value in reversed(node.value):
            if isinstance(key, ScalarNode) and key.value == part:
                return key, value
        for key, value in node.value:
            if key.tag == _MERGE:  # not yet flattened
                for source in value.value if isinstance(value, SequenceNode) else [value]:
                    found = _child(source, part)
                    if found is not None:
                        return found
    elif isinstance(node, SequenceNode) and part.isdigit() and int(part) < len(node.value):
        return None, node.value[int(part)]
    return None


def _walk_data(data: Any, loc: Iterable[str]) -> Any:
    for part in loc:
        if isinstance(data, dict):
            data = next((v for k, v in data.items() if str(k) == part), None)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _keys(data: Any) -> set[str]:
    return {str(k) for k in data} if isinstance(data, dict) else set()


def _annotation(model: type[BaseModel], loc: Sequence[str]) -> Any:
    """The type declared for the value at `loc` inside `model` (None when
    `loc` leaves the declared shape)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            current = field.annotation if field is not None else None
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) in (list, tuple, set, frozenset) and part.isdigit():
            current = typing.get_args(current)[0]
        else:
            return None
    return _unwrap(current)


def _unwrap(tp: Any) -> Any:
    """`X | None` -> X; other types unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _fields(model: type[BaseModel], loc: Sequence[str]) -> list[str]:
    """The keys the mapping at `loc` may have."""
    tp = _annotation(model, loc)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or name for name, f in tp.model_fields.items()]
    return []


def _members(tp: Any) -> list[str]:
    """The values a closed type admits, as written in YAML."""
    if typing.get_origin(tp) is typing.Literal:
        return [str(a) for a in typing.get_args(tp)]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [str(m.value) for m in tp]
    return []
