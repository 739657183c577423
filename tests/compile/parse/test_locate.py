"""The indexed Locator answers exactly what the plain regex searches over the
whole text answered (the reference below), on the example repository's flags,
a sample of generated flags and hand-written awkward cases."""
from __future__ import annotations

import json
import random
import re
import sys
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from safeflags.compile.parse.locate import Locator
from tests.helpers.repo import TEMPLATES

ROOT = Path(__file__).resolve().parents[3]


@cache
def _pattern(text: str) -> re.Pattern[str]:
    # The corpus asks the same few thousand questions of every text: re's own
    # cache (512 patterns) would compile them again for each one.
    return re.compile(text)


@dataclass
class Reference:
    """The straightforward implementation the indexed one must agree with."""

    text: str

    def position(self, offset: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, offset) + 1
        return line, offset - (self.text.rfind("\n", 0, offset) + 1) + 1

    @cached_property
    def code(self) -> str:
        out = []
        for line in self.text.split("\n"):
            m = re.search(r"(//|#).*$", line)
            if m and line[: m.start()].count("'") % 2 == 0 and line[: m.start()].count('"') % 2 == 0:
                line = line[: m.start()] + " " * (len(line) - m.start())
            out.append(line)
        return "\n".join(out)

    def _pos(self, m: re.Match[str] | None) -> tuple[int, int] | None:
        return self.position(m.start()) if m else None

    def start(self) -> tuple[int, int]:
        return self._pos(_pattern(r"\bsf\.\w+").search(self.code)) or (1, 1)

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
        return self._pos(_pattern(pattern).search(self.code))

    def find_field(self, name: str) -> tuple[int, int] | None:
        pattern = r"(?<![\w.])['\"]?" + re.escape(name) + r"['\"]?\s*(?:\+?:{1,3}|=)"
        return self._pos(_pattern(pattern).search(self.code))

    def find_dim(self, name: str) -> tuple[int, int] | None:
        pattern = r"\bdim\s*\.\s*" + re.escape(name) + r"\b|\bdim['\"]?\s*:\s*['\"]" + re.escape(name) + "['\"]"
        return self._pos(_pattern(pattern).search(self.code))

    def nth_call(self, name: str, index: int) -> tuple[int, int] | None:
        matches = list(_pattern(r"\b" + re.escape(name) + r"\s*\(").finditer(self.code))
        return self.position(matches[index].start()) if index < len(matches) else None


AWKWARD = [
    "",
    "no newline at all",
    "local sf = import 'safeflags.libsonnet';\n// sf.bool in a comment\n"
    "sf.string { 'owner': 'a//b', \"tags\"+: ['#x'], default: 'x' }\n",
    "sf.bool {\n  stage:: 3, stage_two: 4, xstage: 5, .stage: 6, 'stage' : 7, x'stage': 8, stage+: 9, stage = 10,\n}\n",
    "{ dim.dim.region: 1, dim : 'region', dim' : \"email\", dimension.region, dim . seats, sf.dim.regionx, "
    "dim: 'a b' }\n",
    "{ d: |||\n  text with 'v2' and 1.50 inside\n|||, e: 1.5, f: 1.500, g: 10.0, h: x1, i: 1.25e3, j: -7, k: true, "
    "l: nulls, m: null }\n",
    "{ a: 'it\\'s', b: \"q'uote\", c: 'when (', d: when(1), e: when   (2), f: whenx(3), g: a.when(4) } # trailing\n",
    "{ a: ||| no pipe ||| , b: '|||', c: 'a|b', d: 'x' }\n",
    "# top comment\n{\n  # 'quoted' # comment\n  a: 1, // b: 2\n  c: \"//not a comment\", d: 'x' // yes\n}\n",
]


def _texts() -> list[str]:
    texts = list(AWKWARD)
    texts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "flags").rglob("*.jsonnet"))]
    texts += [p.read_text(encoding="utf-8") for p in sorted(TEMPLATES.glob("*.libsonnet"))]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import generate_repo
    finally:
        sys.path.pop(0)
    gen = generate_repo.Gen(random.Random(3))
    for i in range(300):
        key = f"{generate_repo.TEAMS[i % 40]}.flag_{i:03d}"
        texts.append(gen.flag(generate_repo.TEAMS[i % 40], key, lib=i % 3 != 0))
        gen.keys.append(key)
    return texts


def _queries(text: str) -> tuple[set[str], list[object]]:
    words = set(re.findall(r"\w+", text)) | {"", "a b", "x-y", "stage.", "'", "dim", "when"}
    literals: list[object] = [True, False, None, 0, 1, 1.5, 10, 100, 2.25, 0.01, -7, 1e300, [1], {"a": 1}]
    literals += re.findall(r"'([^'\n]*)'", text) + re.findall(r'"([^"\n]*)"', text)
    literals += [float(n) if "." in n else int(n) for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", text)]
    literals += [w for w in words if w]
    return words, literals


def _agree(text: str) -> None:
    loc, ref = Locator(text), Reference(text)
    words, literals = _queries(text)
    assert loc.start() == ref.start()
    for offset in range(0, len(text) + 1, 7):
        assert loc.position(offset) == ref.position(offset), offset
    for w in sorted(words):
        assert loc.find_field(w) == ref.find_field(w), w
        assert loc.find_dim(w) == ref.find_dim(w), w
    for v in literals:
        assert loc.find_literal(v) == ref.find_literal(v), v
    for name in ("when", "sf.when", "serve"):
        for i in range(4):
            assert loc.nth_call(name, i) == ref.nth_call(name, i), (name, i)


def test_same_answers_as_the_plain_searches() -> None:
    # One test over the whole corpus: the comparison is cheap, a test item per text is not.
    texts = _texts()
    assert len(texts) > len(AWKWARD) + 300  # the example repository and the templates are in
    try:
        for i, text in enumerate(texts):
            try:
                _agree(text)
            except AssertionError as exc:
                raise AssertionError(f"corpus text {i} ({text[:60]!r}...): {exc}") from exc
    finally:
        _pattern.cache_clear()
