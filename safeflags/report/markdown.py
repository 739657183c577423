"""GitHub-flavoured Markdown built from text nobody reviewed: validator
messages and hints, suppression reasons, flag keys, file names and catalog
values are written by anyone who can open a pull request, so each one is
escaped to render as the characters it holds, on one line, inside one table
cell, and never as HTML, a link, an image, math or a mention.

Two forms: `text()` for prose and table cells, `code()` for names shown as
code. Both clip overlong input first (before escaping, so an escape is never
cut in half): one hostile message must not take the whole summary.
"""
from __future__ import annotations

import re

# Line breaks of any kind and the other control characters: a cell is one line.
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
# Markdown syntax a text could start inline (emphasis, code, links, images,
# strikethrough, math) and the table's cell separator; HTML is escaped apart.
_SYNTAX = re.compile(r"([\\`*_\[\]~|$!])")
_RUN = re.compile(r"`+")
# What a validator writes as code in a message or a hint: `expires: 'YYYY-MM-DD'`.
_SPAN = re.compile(r"`([^`]+)`")


def clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: max(limit - 1, 0)] + "…"


def one_line(value: str) -> str:
    return _BREAKS.sub(" ", value).strip()


def text(value: str, limit: int = 1000, *, cell: bool = True) -> str:
    """`value` as literal Markdown text, on one line; what it quotes between
    backticks stays code (a code span holds no HTML and no mention)."""
    parts = _SPAN.split(clip(one_line(value), limit))
    return "".join(_code(p, cell) if i % 2 else _plain(p) for i, p in enumerate(parts))


def _plain(value: str) -> str:
    out = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = _SYNTAX.sub(r"\\\1", out)
    # A zero-width space after `@` keeps `@org/team` from becoming a mention.
    return out.replace("@", "@&#8203;")


def code(value: str, limit: int = 300, *, cell: bool = True) -> str:
    """`value` as an inline code span. Inside code nothing is HTML or a
    mention; a table still splits at `|` unless it is escaped (GFM strips
    that escape inside code in a cell, and only there: `cell=False` for a
    span in running text)."""
    return _code(clip(one_line(value), limit), cell)


def _code(out: str, cell: bool) -> str:
    if cell:
        out = out.replace("|", "\\|")
    fence = "`" * (max((len(m) for m in _RUN.findall(out)), default=0) + 1)
    pad = " " if out.startswith("`") or out.endswith("`") or not out.strip(" ") else ""
    return f"{fence}{pad}{out}{pad}{fence}"


def size(value: str) -> int:
    """Bytes of `value` in the summary file (GitHub's limits are in bytes)."""
    return len(value.encode("utf-8"))
