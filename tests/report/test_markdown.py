"""Escaping text nobody reviewed into GitHub Markdown, judged by a CommonMark
renderer with GFM tables and raw HTML on (as GitHub renders a summary): a
hostile string renders as its own characters, inside one cell, never as a
tag, a link, an image, emphasis, math or a mention."""
from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from safeflags.report.markdown import clip, code, size, text

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "</details><script>alert(1)</script>",
    "a | b || c \\| d",
    "line one\nline two\r\nthree\u2028four\x00five\x1b[31m",
    "`tick` ``double`` ` lone",
    "@acme/admins and @someone",
    "*bold* _em_ ~~gone~~ $x^2$ [link](javascript:alert(1)) ![img](https://x.test/i.png)",
    "&amp; &lt;b&gt; &#60;i&#62;",
    "<!-- comment --> <![CDATA[x]]> <?php ?>",
    "trailing backslash \\",
    "",
]

RENDER = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


def _cells(markdown_row: str) -> list[str]:
    """The cells of a one-row table, as rendered HTML."""
    out = RENDER.render(f"| a | b | c |\n|---|---|---|\n{markdown_row}\n")
    body = out.split("<tbody>", 1)[1]
    return re.findall(r"<td>(.*?)</td>", body, flags=re.S)


def _visible(rendered: str) -> str:
    """What a reader sees: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


@pytest.mark.parametrize("value", HOSTILE)
def test_text_in_a_cell_renders_as_its_characters(value: str) -> None:
    cells = _cells(f"| {text(value)} | {code(value)} | end |")
    assert len(cells) == 3 and cells[2] == "end"
    for cell in cells[:2]:
        tags = set(re.findall(r"</?([a-zA-Z]+)", cell))
        assert tags <= {"code"}, cell  # nothing the value wrote became a tag
    expected = re.sub(r"[\x00-\x1f\u2028]+", " ", value).strip()
    assert _visible(cells[1]).strip() == expected
    # Outside code, the only change a reader sees is the zero-width space
    # after `@` and the backtick pairs shown as code.
    shown = _visible(cells[0]).replace("\u200b", "")
    assert " ".join(shown.replace("`", "").split()) == " ".join(expected.replace("`", "").split())


def test_no_mention_survives() -> None:
    rendered = RENDER.render(text("ping @acme/admins now"))
    assert "@acme" not in html.unescape(rendered)
    assert "@\u200bacme/admins" in html.unescape(rendered)


@pytest.mark.parametrize("value", HOSTILE)
def test_code_outside_a_table_keeps_pipes_and_stays_one_span(value: str) -> None:
    rendered = RENDER.render(f"**{code(value, cell=False)}** (modified)")
    assert set(re.findall(r"</?([a-zA-Z]+)", rendered)) <= {"p", "strong", "code"}
    assert _visible(rendered).strip().endswith("(modified)")
    assert _visible(rendered).strip()[: -len(" (modified)")].strip() == re.sub(r"[\x00-\x1f\u2028]+", " ",
                                                                                value).strip()


def test_a_message_quoting_code_keeps_its_code() -> None:
    rendered = RENDER.render(text("add `expires: 'YYYY-MM-DD'`: when should it be gone?"))
    assert "<code>expires: 'YYYY-MM-DD'</code>" in html.unescape(rendered)


def test_clipping_comes_before_escaping() -> None:
    long = "<" * 5000
    out = text(long, 100)
    assert out.count("&lt;") == 99 and out.endswith("…") and "&l…" not in out
    assert clip("abcdef", 4) == "abc…" and clip("abc", 4) == "abc"
    assert len(code("x" * 1000, 50)) == 52
    assert size("é") == 2
