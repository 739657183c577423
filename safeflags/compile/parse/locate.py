"""Trace a field of a flag's JSON output back to a line of its Jsonnet source.

Jsonnet keeps no source map in its output, so this is a best effort that is
right for the way flag files are written: a scalar value is found where its
literal is written; a rule is found at the n-th `when(` call; a field at its
`name:`. Anything else falls back to the flag constructor's line.

A flag is located a dozen times while it is parsed, so each file's work is
done once: comments are blanked once, `name:` fields and dimension uses are
indexed in one scan each, string literals are plain substring searches and
patterns are compiled once per process (tests/compile/parse/test_locate.py checks
every answer against the straightforward regex searches).
"""
from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

_COMMENT = re.compile(r"(//|#).*$")
_START = re.compile(r"\bsf\.\w+")
_WORD = re.compile(r"\w+")
# Every `name:` / `'name':` / `name=` field: the answers of `find_field` for
# all identifier names at once (a name is a whole word: the lookbehind and
# what may follow it leave no room for a longer one).
_FIELDS = re.compile(r"(?<![\w.])['\"]?(\w+)['\"]?\s*(?:\+?:{1,3}|=)")
_DIM_AT = re.compile(r"\bdim")
_DIM_USE = re.compile(r"dim\s*\.\s*(\w+)|dim['\"]?\s*:\s*['\"](\w+)['\"]")
_BOOLS = {json.dumps(v): re.compile(r"\b" + json.dumps(v) + r"\b") for v in (True, False, None)}


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass
class Locator:
    text: str
    _cache: dict[str, tuple[int, int] | None] = field(default_factory=dict)

    @cached_property
    def _line_starts(self) -> list[int]:
        return [0, *(m.end() for m in re.finditer("\n", self.text))]

    def position(self, offset: int) -> tuple[int, int]:
        starts = self._line_starts
        lo = bisect_right(starts, offset) - 1
        return lo + 1, offset - starts[lo] + 1

    @cached_property
    def _code(self) -> str:
        """The text with comments blanked out (same offsets), so a word in a
        comment is never taken for the code that uses it."""
        if "//" not in self.text and "#" not in self.text:
            return self.text
        out = []
        for line in self.text.split("\n"):
            m = _COMMENT.search(line) if ("/" in line or "#" in line) else None
            # Only blank a comment that is not inside a string literal.
            if m and line[: m.start()].count("'") % 2 == 0 and line[: m.start()].count('"') % 2 == 0:
                line = line[: m.start()] + " " * (len(line) - m.start())
            out.append(line)
        return "\n".join(out)

    @cached_property
    def _start(self) -> tuple[int, int]:
        m = _START.search(self._code)
        return (1, 1) if m is None else self.position(m.start())

    def start(self) -> tuple[int, int]:
        """The flag's own line: the first `sf.` constructor, else line 1."""
        return self._start

    @cached_property
    def _fields(self) -> dict[str, int]:
        first: dict[str, int] = {}
        for m in _FIELDS.finditer(self._code):
            first.setdefault(m.group(1), m.start())
        return first

    @cached_property
    def _dims(self) -> dict[str, int]:
        first: dict[str, int] = {}
        code = self._code
        for at in _DIM_AT.finditer(code):
            m = _DIM_USE.match(code, at.start())
            if m:
                first.setdefault(m.group(1) or m.group(2), at.start())
        return first

    def _search(self, pattern: str) -> tuple[int, int] | None:
        if pattern not in self._cache:
            m = _compiled(pattern).search(self._code)
            self._cache[pattern] = self.position(m.start()) if m else None
        return self._cache[pattern]

    def find_literal(self, value: object) -> tuple[int, int] | None:
        if isinstance(value, bool) or value is None:
            m = _BOOLS[json.dumps(value)].search(self._code)
            return self.position(m.start()) if m else None
        if isinstance(value, str):
            return self._find_string(value)
        if isinstance(value, (int, float)):
            num = repr(value) if isinstance(value, float) and not value.is_integer() else str(int(value))
            return self._search(r"(?<![\w.])" + re.escape(num) + r"(?:\.0+)?(?![\w.])")
        return None

    def _find_string(self, value: str) -> tuple[int, int] | None:
        """The first of `'value'`, `"value"` or `value` inside a text block
        (`|||` followed by no `|` before it)."""
        code = self._code
        hits = [i for i in (code.find("'" + value + "'"), code.find('"' + value + '"')) if i >= 0]
        if "|||" in code:
            m = _compiled(r"\|\|\|[^|]*" + re.escape(value)).search(code)
            if m:
                hits.append(m.start())
        return self.position(min(hits)) if hits else None

    def find_field(self, name: str) -> tuple[int, int] | None:
        if _WORD.fullmatch(name):
            at = self._fields.get(name)
            return None if at is None else self.position(at)
        return self._search(r"(?<![\w.])['\"]?" + re.escape(name) + r"['\"]?\s*(?:\+?:{1,3}|=)")

    def find_dim(self, name: str) -> tuple[int, int] | None:
        """Where dimension `name` is used: `sf.dim.name` or `dim: 'name'`."""
        if _WORD.fullmatch(name):
            at = self._dims.get(name)
            return None if at is None else self.position(at)
        word = re.escape(name)
        return self._search(r"\bdim\s*\.\s*" + word + r"\b|\bdim['\"]?\s*:\s*['\"]" + word + "['\"]")

    @cached_property
    def _calls(self) -> dict[str, list[int]]:
        return {}

    def nth_call(self, name: str, index: int) -> tuple[int, int] | None:
        starts = self._calls.get(name)
        if starts is None:
            pattern = _compiled(r"\b" + re.escape(name) + r"\s*\(")
            starts = self._calls[name] = [m.start() for m in pattern.finditer(self._code)]
        if index < len(starts):
            return self.position(starts[index])
        return None

    def locate(self, path: tuple[str | int, ...], value: object = None) -> tuple[int, int]:
        """Best line/column for the field at `path` holding `value`."""
        if value is not None and not isinstance(value, (dict, list)):
            found = self.find_literal(value)
            if found:
                return found
        if len(path) >= 2 and path[0] == "overrides" and isinstance(path[1], int):
            found = self.nth_call("when", path[1])
            if found:
                return found
        for part in reversed(path):
            if isinstance(part, str):
                found = self.find_field(part)
                if found:
                    return found
        return self.start()
