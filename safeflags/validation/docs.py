"""The validator reference of docs/validators.md, rendered from the
validators' own docstrings (the docstring is the documentation).

    python -m safeflags.validation.docs docs/validators.md   # rewrite in place

A test keeps the committed file equal to this rendering.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

from safeflags.validation import registry
from safeflags.validation.api import Validator

BEGIN = "<!-- BEGIN GENERATED: python -m safeflags.validation.docs docs/validators.md -->"
END = "<!-- END GENERATED -->"


def render(classes: list[type[Validator]]) -> str:
    out = ["| code | name | severity | runs | summary |", "|---|---|---|---|---|"]
    for cls in classes:
        short = inspect.cleandoc(cls.__doc__ or "").partition("\n")[0]
        runs = "`--base`" if cls.needs_base else "always"
        fixed = "" if cls.configurable else " (fixed)"
        link = f"[{cls.code}](#{cls.code.lower()}-{cls.name})"
        out.append(f"| {link} | `{cls.name}` | {cls.severity.value}{fixed} | {runs} | {short} |")
    for cls in classes:
        doc = inspect.cleandoc(cls.__doc__ or "")
        short, _, rest = doc.partition("\n")
        out += ["", f"### {cls.code} {cls.name}", "", f"*{short.strip()}*", "", rest.strip()]
        defaults = {n: f.get_default(call_default_factory=True) for n, f in cls.Options.model_fields.items()}
        if defaults:
            fields = ", ".join(f"`{n}` (default `{d!r}`)" for n, d in defaults.items())
            out += ["", f"Options (`validation.rules.{cls.code}`): {fields}."]
    return "\n".join(out) + "\n"


def update(path: Path) -> bool:
    """Rewrite the generated section of `path`; True if it changed."""
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    new = f"{head}{BEGIN}\n{render(registry.load(Path('.')))}{END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"{arg}: {'updated' if update(Path(arg)) else 'up to date'}")
