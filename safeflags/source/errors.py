"""The located error every authoring stage reports, from loading on.

Errors are data with a location; `format()` renders them the way compilers
do: `file:line:col: message`, the source line, and a caret under the spot.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.source.sandbox import RepoFileRefused, open_in_repo


@dataclass(frozen=True)
class SourceError:
    """One located problem in the flag repository."""

    file: str
    line: int
    column: int
    message: str
    stage: str = "compile"
    code: str | None = None  # the validator code this error is reported under (SF1xx, ...)
    hint: str | None = None
    field_path: str | None = None
    source_line: str | None = field(default=None, compare=False)

    def location(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{max(self.column, 1)}"
        return self.file

    def format(self, root: Path | None = None) -> str:
        """`file:line:col: error: message`, then the source line and a caret."""
        code = f" {self.code}" if self.code else ""
        head = f"{self.location()}: error{code}: {self.message}"
        if self.field_path:
            head += f" (at {self.field_path})"
        lines = [head]
        text = self.source_line
        if text is None and root is not None and self.line:
            text = read_line(root / self.file, self.line, root=root)
        if text is not None and self.line:
            lines.append(f"    {text.rstrip()}")
            lines.append("    " + " " * (max(self.column, 1) - 1) + "^")
        if self.hint:
            lines.append(f"    hint: {self.hint}")
        return "\n".join(lines)


class CompileError(SafeflagsError):
    """The repository did not compile; carries every error found, not the first only."""

    def __init__(self, errors: list[SourceError]):
        self.errors = sorted(errors, key=lambda e: (e.file, e.line, e.column, e.message))
        noun = "error" if len(self.errors) == 1 else "errors"
        super().__init__(f"{len(self.errors)} {noun}")


class ConfigError(SafeflagsError):
    """The repository configuration (safeflags.yaml) is invalid."""

    def __init__(self, errors: list[SourceError]):
        self.errors = errors
        super().__init__("; ".join(e.location() + ": " + e.message for e in errors))


def read_line(path: Path, line: int, *, root: Path | None = None) -> str | None:
    """Line `line` of `path`, to quote under an error; None when it cannot be
    read. With `root`, `path` must lie inside it and is reached without
    following any symbolic link below it; without, a link as the last part or
    anything but a regular file is still refused, so an error never quotes
    a file a committed link points at."""
    try:
        if root is not None:
            fd = open_in_repo(root, path.relative_to(root).as_posix())
        else:
            fd = open_in_repo(path.parent, path.name)
        with open(fd, encoding="utf-8", errors="replace") as fh:
            for i, text in enumerate(fh, start=1):
                if i == line:
                    return text.rstrip("\n")
    except (OSError, ValueError, RepoFileRefused):
        return None
    return None
