"""Trace a field of a flag's JSON output back to a line of its Jsonnet source.

Jsonnet keeps no source map in its output, so this is a best effort that is
right for the way flag files are written: a scalar value is found where its
literal is written; a rule is found at the n-th `when(` call; a field at its
`name:`. Anything else falls back to the flag constructor's line.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property


@dataclass
class Locator:
    text: str
    _cache: dict[str, tuple[int, int] | None] = field(default_factory=dict)

    @cached_property
    def _line_starts(self) -> list[int]:
        starts = [0]
        for i, ch in enumerate(self.text):
            if ch == "\n":
                starts.append(i + 1)
        return starts

    def position(self, offset: int) -> tuple[int, int]:
        lo, hi = 0, len(self._line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self._line_starts[lo] + 1

    @cached_property
    def _code(self) -> str:
        """The text with comments blanked out (same offsets), so a word in a
        comment is never taken for the code that uses it."""
        out = []
        for line in self.text.split("\n"):
            m = re.search(r"(//|#).*$", line)
            # Only blank a comment that is not inside a string literal.
            if m and line[: m.start()].count("'") % 2 == 0 and line[: m.start()].count('"') % 2 == 0:
                line = line[: m.start()] + " " * (len(line) - m.start())
            out.append(line)
        return "\n".join(out)

    def start(self) -> tuple[int, int]:
        """The flag's own line: the first `sf.` constructor, else line 1."""
        m = re.search(r"\bsf\.\w+", self._code)
        if m is None:
            return (1, 1)
        return self.position(m.start())

    def find_literal(self, value: object) -> tuple[int, int] | None:
        if isinstance(value, bool) or value is None:
            pattern = r"\b" + json.dumps(value) + r"\b"
        elif isinstance(value, str):
            esc = re.escape(value)
            pattern = f"'{esc}'|\"{esc}\"|\\|\\|\\|[^|]*{esc}"
        elif isinstance(value, (int, float)):
            num = repr(value) if isinstance(value, float) and not value.is_integer() else str(int(value))
            pattern = r"(?<![\w.])" + re.escape(num) + r"(?:\.0+)?(?![\w.])"
        else:
            return None
        m = re.search(pattern, self._code)
        return self.position(m.start()) if m else None

    def find_field(self, name: str) -> tuple[int, int] | None:
        m = re.search(r"(?<![\w.])['\"]?" + re.escape(name) + r"['\"]?\s*(?:\+?:{1,3}|=)", self._code)
        return self.position(m.start()) if m else None

    def find_dim(self, name: str) -> tuple[int, int] | None:
        """Where dimension `name` is used: `sf.dim.name` or `dim: 'name'`."""
        m = re.search(r"\bdim\s*\.\s*" + re.escape(name) + r"\b|\bdim['\"]?\s*:\s*['\"]" + re.escape(name) + "['\"]", self._code)
        return self.position(m.start()) if m else None

    def nth_call(self, name: str, index: int) -> tuple[int, int] | None:
        matches = list(re.finditer(r"\b" + re.escape(name) + r"\s*\(", self._code))
        if index < len(matches):
            return self.position(matches[index].start())
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
