"""Where a pull request changed a flag whose own file it did not touch.

A flag's spec depends on nothing but its file, the files its evaluation
imported and `safeflags.yaml` (see basecompile). So when a changed flag's
own file has the same bytes in the base and the head, the change came from
a library file it imports that the pull request edited (a template under
`templates/`, or any `.libsonnet` it imports): that is where its findings
belong, not in a file the pull request left alone. Such a flag is
*template-driven*; its origin is the first line the pull request changed in
that library file, in the head's numbering.

Which lines changed is read from the two revisions' bytes (the base's from
its tree exported from git objects, the head's from the work tree),
compared as code: comments, blanks at either end of a line and a trailing
comma are left out, and a line the diff deletes in one place and inserts in
another is a move, not a change. So moving lines, reordering fields and
editing comments never make an origin; when nothing but that differs, the
first moved line, then the first differing line, is the best answer left.
Where a flag imports several changed files, a file with a real change comes
before one with only moves or comments, then path order decides: which of
them moved the flag is not recorded (per-flag imports are).

Findings on a template-driven flag are moved to its origin by the runner;
SF312 locates a whole-pull-request budget there.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from difflib import SequenceMatcher
from typing import NamedTuple

from safeflags.compile.driver import CompileResult
from safeflags.source.sandbox import RepoFileRefused, read_repo_file

# How sure an answer is, best first: a changed line of code, a moved one, a
# differing line of comments or blanks.
_CHANGED, _MOVED, _TEXT = 0, 1, 2


class Origin(NamedTuple):
    """A line a pull request changed in a library file."""

    file: str  # repository-relative
    line: int  # 1-based, in the head's numbering
    column: int  # 1-based: the line's first non-blank character

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, code) of each line of Jsonnet `text` holding code: its
    comments removed (`//`, `#`, `/* */`, never inside a string or a text
    block), stripped at both ends and of a trailing comma."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    line, i, n = 1, 0, len(text)
    state, quote = "code", ""

    def flush() -> None:
        code = "".join(buf).strip().rstrip(",").rstrip()
        if code:
            out.append((line, code))
        buf.clear()

    while i < n:
        c = text[i]
        if c == "\n":
            flush()
            line += 1
            i += 1
            continue
        if state == "code":
            if c == "#" or text.startswith("//", i):
                while i < n and text[i] != "\n":
                    i += 1
                continue
            if text.startswith("/*", i):
                state, i = "comment", i + 2
                continue
            if text.startswith("|||", i):
                state, i = "block", i + 3
                buf.append("|||")
                continue
            if c == "@" and i + 1 < n and text[i + 1] in "'\"":
                state, quote = "verbatim", text[i + 1]
                buf.append(text[i:i + 2])
                i += 2
                continue
            if c in "'\"":
                state, quote = "string", c
        elif state == "comment":
            if text.startswith("*/", i):
                state = "code"
                i += 2
            else:
                i += 1
            continue
        elif state == "block":
            if text.startswith("|||", i):
                state = "code"
                buf.append("|||")
                i += 3
                continue
        elif state == "string":
            if c == "\\" and i + 1 < n and text[i + 1] != "\n":
                buf.append(text[i:i + 2])
                i += 2
                continue
            if c == quote:
                state = "code"
        elif state == "verbatim" and c == quote:
            if text.startswith(quote * 2, i):
                buf.append(quote * 2)
                i += 2
                continue
            state = "code"
        buf.append(c)
        i += 1
    flush()
    return out


def first_change(base: str, head: str) -> tuple[int, int, int] | None:
    """(how sure, line, column) of the first line `head` changed from
    `base`; None when the texts are equal."""
    if base == head:
        return None
    a, b = code_lines(base), code_lines(head)
    head_lines = head.split("\n")
    found = _first_code_change([t for _, t in a], [t for _, t in b])
    if found is not None:
        sure, at = found
        line = b[at][0] if at < len(b) else (b[-1][0] if b else 1)
    else:
        raw = SequenceMatcher(None, base.split("\n"), head_lines, autojunk=False).get_opcodes()
        at = next((j1 for tag, _, _, j1, _ in raw if tag != "equal"), 0)
        sure, line = _TEXT, min(at, len(head_lines) - 1) + 1
    text = head_lines[line - 1] if line - 1 < len(head_lines) else ""
    return sure, line, len(text) - len(text.lstrip()) + 1


def _first_code_change(a: list[str], b: list[str]) -> tuple[int, int] | None:
    """(how sure, index into `b`) of the first change between two lists of
    code lines: the first line inserted that is no move, else where the
    first code was deleted that is no move, else the first moved line; None
    when the lists are equal. An insertion comes first because a line both
    moved and edited reads as a deletion here and an insertion there."""
    ops = [op for op in SequenceMatcher(None, a, b, autojunk=False).get_opcodes() if op[0] != "equal"]
    if not ops:
        return None
    gone = Counter(a[i] for _, i1, i2, _, _ in ops for i in range(i1, i2))
    came = Counter(b[j] for _, _, _, j1, j2 in ops for j in range(j1, j2))
    moved_out, moved_in = gone & came, gone & came
    deleted = None
    for _, i1, i2, j1, j2 in ops:
        for j in range(j1, j2):
            if moved_in[b[j]]:
                moved_in[b[j]] -= 1
            else:
                return _CHANGED, j
        for i in range(i1, i2):
            if moved_out[a[i]]:
                moved_out[a[i]] -= 1
            elif deleted is None:
                deleted = j1  # the line that now follows the deleted code
    return (_CHANGED, deleted) if deleted is not None else (_MOVED, ops[0][3])


class Origins:
    """The origins of a run's template-driven changes, each found on first
    use (the diff of a library file once per run). Given the pieces of the
    run's Context: `kinds` is each changed flag's change kind, `base_shared`
    the base flag files taken from the head."""

    def __init__(self, head: CompileResult, base: CompileResult | None, kinds: Mapping[str, str],
                 base_shared: frozenset[str] = frozenset()) -> None:
        self.head, self.base, self.kinds, self.base_shared = head, base, kinds, base_shared
        self._by_key: dict[str, Origin | None] = {}
        self._by_file: dict[str, tuple[int, Origin] | None] = {}

    def of(self, key: str) -> Origin | None:
        """Where the pull request changed flag `key` when it did not change the
        flag's own file; None for a flag whose file it changed, added or
        removed, and outside pull-request mode."""
        if key not in self._by_key:
            self._by_key[key] = self._find(key)
        return self._by_key[key]

    def _find(self, key: str) -> Origin | None:
        base = self.base
        if base is None or self.kinds.get(key) != "modified":
            return None
        rel = self.head.files.get(key)
        if rel is None or base.files.get(key, rel) != rel:
            return None
        own = self._read(rel, base=False)
        if own is None or own != self._read(rel, base=True):
            return None
        imports = set(self.head.imports.get(rel, ())) | set(base.imports.get(rel, ()))
        found = [hit for lib in sorted(imports - {rel}) if (hit := self._changed(lib)) is not None]
        return min(found)[1] if found else None

    def _changed(self, rel: str) -> tuple[int, Origin] | None:
        if rel not in self._by_file:
            self._by_file[rel] = self._diff(rel)
        return self._by_file[rel]

    def _diff(self, rel: str) -> tuple[int, Origin] | None:
        head = self._read(rel, base=False)
        if head is None:
            return None  # gone from the head: no line to point at
        base = self._read(rel, base=True)
        if base is None and self.base is not None and rel in self.base.files.values():
            return None  # a base flag file the base took from the head: the same bytes
        try:
            found = first_change((base or b"").decode("utf-8"), head.decode("utf-8"))
        except UnicodeDecodeError:
            return None  # such a file fails to import: its compile error is the finding
        if found is None:
            return None
        sure, line, column = found
        return sure, Origin(rel, line, column)

    def _read(self, rel: str, *, base: bool) -> bytes | None:
        result = self.base if base and rel not in self.base_shared else self.head
        if result is None:
            return None
        try:
            return read_repo_file(result.config.root, rel)
        except RepoFileRefused:
            return None
