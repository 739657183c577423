"""The Jsonnet engine adapter: go-jsonnet (`gojsonnet`) behind one function.

Evaluates one flag file with the repository's sandboxed importer and turns
the engine's error text into a located `SourceError`. Only this module names
the engine, so swapping it touches one file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from safeflags.source.errors import SourceError
from safeflags.source.sandbox import Importer

ENGINE = "go-jsonnet"

# "flags/a/b.jsonnet:3:5-9", "flags/a/b.jsonnet:(3:5)-(4:2)", "f.jsonnet:3:5"
_LOC = re.compile(r"(?P<file>[^\s:()][^\t\n:()]*?):\(?(?P<line>\d+):(?P<col>\d+)")
_FRAME = re.compile(r"^\t(?P<loc>[^\t]+?)\t(?P<desc>.*)$")


def engine_version() -> str:
    import _gojsonnet

    return f"{ENGINE} {_gojsonnet.version}"


@dataclass(frozen=True)
class Evaluated:
    """A flag file's JSON text and every file it imported (repo-relative)."""

    path: str
    json_text: str
    imports: tuple[str, ...]


def evaluate(path: str, source: str, importer: Importer, ext_codes: dict[str, str], max_stack: int) -> Evaluated:
    """Evaluate `source` (the text of repo-relative `path`).

    Raises `JsonnetFailed` carrying a located `SourceError`. The caller resets
    the importer (and tells it the main file's text) before each file.
    """
    import _gojsonnet

    nul = source.find("\0")
    if nul >= 0:  # the binding hands the source to the engine as a C string: it would stop there
        raise JsonnetFailed(_at(path, source, nul, "a NUL byte: Jsonnet source is text"))
    try:
        text = _gojsonnet.evaluate_snippet(
            path,
            source,
            ext_codes=ext_codes,
            import_callback=importer,
            max_stack=max_stack,
            max_trace=20,
        )
    except (RuntimeError, UnicodeDecodeError) as exc:
        raise JsonnetFailed(_engine_error(exc, path, importer)) from None
    except ValueError as exc:  # from the binding, for input it cannot pass on
        raise JsonnetFailed(SourceError(path, 0, 0, f"the Jsonnet engine refused its input: {exc}",
                                        stage="jsonnet")) from None
    return Evaluated(path, text, tuple(sorted(importer.imported)))


def _engine_error(exc: RuntimeError | UnicodeDecodeError, path: str, importer: Importer) -> SourceError:
    # go-jsonnet's binding copies an import callback's error message without
    # its terminator, so the text after it is garbage (at worst not UTF-8 at
    # all): a refusal is reported from the importer's own record instead.
    refusal = importer.refusal
    if refusal is not None:
        return _refused(refusal, path, str(exc) if isinstance(exc, RuntimeError) else "", importer)
    if isinstance(exc, UnicodeDecodeError):
        return SourceError(path, 0, 0, "the Jsonnet engine reported an unreadable error", stage="jsonnet")
    return parse_error(str(exc), path, importer.sources())


def _at(path: str, source: str, offset: int, message: str) -> SourceError:
    """An error at character `offset` of `source`, quoting its line (a NUL shown as U+2400)."""
    line = source.count("\n", 0, offset) + 1
    start = source.rfind("\n", 0, offset) + 1
    end = source.find("\n", offset)
    text = source[start: end if end >= 0 else len(source)].replace("\0", "\u2400")
    return SourceError(path, line, offset - start + 1, message, stage="jsonnet", source_line=text)


def _refused(refusal: tuple[str, str], main_file: str, text: str, importer: Importer) -> SourceError:
    rel, message = refusal
    sources = importer.sources()
    located = parse_error(text, main_file, sources) if text else None
    if located is not None and located.line:
        return SourceError(located.file, located.line, located.column, message, stage="jsonnet",
                           source_line=located.source_line)
    # No usable frame: find the import expression in the sources read so far.
    pattern = re.compile(r"\bimport(?:str|bin)?\s*(['\"])" + re.escape(rel) + r"\1")
    for file in [main_file, *sorted(f for f in sources if f != main_file)]:
        text_of = sources.get(file, "")
        m = pattern.search(text_of)
        if m:
            line = text_of.count("\n", 0, m.start()) + 1
            col = m.start() - (text_of.rfind("\n", 0, m.start()) + 1) + 1
            return SourceError(file, line, col, message, stage="jsonnet", source_line=_line(sources, file, line))
    return SourceError(main_file, 0, 0, message, stage="jsonnet")


class JsonnetFailed(Exception):
    def __init__(self, error: SourceError):
        super().__init__(error.format())
        self.error = error


def parse_error(text: str, main_file: str, sources: dict[str, str] | None = None) -> SourceError:
    """Turn go-jsonnet's error text into a located error in `main_file`.

    A runtime error carries a stack of frames; the user wants the line in
    the flag file that led there, so the location is the innermost frame in
    `main_file`, and a frame inside a library is named in the hint. Only
    frames in files the engine read count: an `error` message can hold
    lines shaped like frames, naming any path.
    """
    sources = sources or {}
    lines = text.rstrip("\n").split("\n")
    if lines[0].startswith("RUNTIME ERROR: "):
        message = lines[0].removeprefix("RUNTIME ERROR: ")
        frames = []
        for raw in lines[1:]:
            m = _FRAME.match(raw)
            if m is None:
                continue
            loc = _LOC.match(m.group("loc"))
            if loc and (loc.group("file") == main_file or loc.group("file") in sources):
                frames.append((loc.group("file"), int(loc.group("line")), int(loc.group("col"))))
        if message.startswith("importer error: "):
            message = message.removeprefix("importer error: ")
        own = [f for f in frames if f[0] == main_file]
        if own:
            file, line, col = own[0]
            hint = None
            if frames and frames[0][0] != main_file:
                hint = f"raised at {frames[0][0]}:{frames[0][1]}:{frames[0][2]}"
        elif frames:
            file, line, col = frames[0]
            hint = None
        else:
            file, line, col, hint = main_file, 0, 0, None
        return SourceError(file, line, col, message, stage="jsonnet", hint=hint, source_line=_line(sources, file, line))
    # Static (syntax) errors: "file:line:col-col message\n\n  source\n"
    m = _LOC.match(lines[0])
    if m:
        rest = lines[0][m.end():]
        rest = re.sub(r"^(?:-\d+|\)-\(\d+:\d+\)|-\(\d+:\d+\))", "", rest).strip()
        file, line, col = m.group("file"), int(m.group("line")), int(m.group("col"))
        return SourceError(file, line, col, rest or text, stage="jsonnet", source_line=_line(sources, file, line))
    return SourceError(main_file, 0, 0, text.strip(), stage="jsonnet")


def _line(sources: dict[str, str], file: str, line: int) -> str | None:
    text = sources.get(file)
    if text is None or line <= 0:
        return None
    lines = text.splitlines()
    return lines[line - 1] if line <= len(lines) else None


def ext_codes_for(catalog: dict[str, Any]) -> dict[str, str]:
    import json

    return {"safeflags_catalog": json.dumps(catalog, sort_keys=True, separators=(",", ":"))}
