"""Compile a pull request's base revision only where it differs from the head.

A flag compiles to the same FlagSpec on both sides when its file, every
file its evaluation imported and `safeflags.yaml` are the same bytes: its
output depends on nothing else (the sandbox reads only the import roots,
the catalog is the only ext code). So the base takes the head's results
for those flags and compiles the rest from git objects: the base tree
without its flag files, plus the flag files that differ or whose imports
do. One `git diff --raw` against the work tree finds what differs; the
head's `CompileResult.imports` says what each file imported.

Reuse is refused, and the whole base compiled, whenever the shortcut could
be wrong: `safeflags.yaml` changed, a symbolic link changed, or the partial
compile reported an import error (a base flag may import a flag file the
partial tree lacks). A flag is also recompiled when a file with the name of one of its
imports was added or deleted (it may shadow, or have shadowed, the import).
"""
from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from safeflags.compile.config import CONFIG_FILE, load_config
from safeflags.compile.driver import CompileResult, compile_repo
from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.validation.gitrev import Base, Changed, changed_paths, export, flag_files, has_file


@dataclass
class BaseCompile:
    commit: str
    result: CompileResult
    shared: frozenset[str]  # flag files taken from the head (same bytes on both sides)
    compiled: int  # flag files compiled for the base


def reusable(head: CompileResult, base_files: list[str], changed: dict[str, Changed]) -> set[str] | None:
    """The base flag files whose head results stand for the base; None when
    nothing may be reused."""
    if CONFIG_FILE in changed or any(c.link for c in changed.values()):
        return None
    appeared = {posixpath.basename(p) for p, c in changed.items() if c.status in ("A", "D", "T")}
    compiled = {rel for key, rel in head.files.items() if key in head.specs}  # same config: same keys
    ok = set()
    stale: dict[tuple[str, ...], bool] = {}  # by import list: most flags share a few
    for rel in base_files:
        if rel in changed or rel not in compiled:
            continue
        imports = head.imports.get(rel, ())
        bad = stale.get(imports)
        if bad is None:
            bad = stale[imports] = any(i in changed or posixpath.basename(i) in appeared for i in imports)
        if not bad:
            ok.add(rel)
    return ok


@dataclass(frozen=True)
class Scan:
    """What git says, before the head is compiled (the two overlap)."""

    flags_dir: str
    changed: dict[str, Changed]  # base commit vs the work tree
    files: list[str]  # the base's flag files
    # False: the base has no safeflags.yaml (the pull request adopts
    # safeflags), so there is nothing to compare with or to judge by.
    config: bool = True


def scan(repo: Path, base: Base) -> Scan:
    model = load_config(repo).model
    if not has_file(base, CONFIG_FILE):
        return Scan(model.flags_dir, {}, [], config=False)
    return Scan(model.flags_dir, changed_paths(repo, base, [model.flags_dir, model.templates_dir]),
                flag_files(base, model.flags_dir))


@contextmanager
def compile_base(repo: Path, base: Base, head: CompileResult, found: Scan, *, jobs: int | None,
                 cache_dir: Path | None) -> Iterator[BaseCompile]:
    """The base's CompileResult; its config root (a temporary directory)
    lives as long as the context. `cache_dir` is the head's compile cache."""
    changed, files = found.changed, found.files
    shared = reusable(head, files, changed) if found.flags_dir == head.config.model.flags_dir else None
    # Beside the cache, on the repository's file system when it is the
    # default: the export hard-links the flag files the base has unchanged.
    where = cache_dir if cache_dir is not None and _writable(cache_dir) else None
    with tempfile.TemporaryDirectory(prefix="safeflags-base-", dir=where) as tmp:
        if shared is not None:
            todo = [f for f in files if f not in shared]
            root = export(base, Path(tmp) / "partial", found.flags_dir, todo, work_tree=repo)
            part = _compile(root, base, jobs, cache_dir)
            # A base flag importing a flag file that was left out fails to
            # import; any other error is the one the whole base would have.
            if not any("import" in e.message for e in part.errors):
                yield BaseCompile(base.commit, _merge(part, head, files, shared), frozenset(shared), len(todo))
                return
        root = export(base, Path(tmp) / "full")
        full = _compile(root, base, jobs, cache_dir)
        yield BaseCompile(base.commit, full, frozenset(), len(files))


def _writable(directory: Path) -> bool:
    # Never created here: the cache creates its directory with the
    # .gitignore that keeps it out of the repository's status.
    return directory.is_dir() and os.access(directory, os.W_OK)


def _compile(root: Path, base: Base, jobs: int | None, cache_dir: Path | None) -> CompileResult:
    try:
        return compile_repo(root, revision=base.commit, jobs=jobs, cache_dir=cache_dir)
    except SafeflagsError as exc:
        raise SafeflagsError(f"the base revision {base.ref} ({base.commit[:12]}) does not load: {exc}") from exc


def _merge(part: CompileResult, head: CompileResult, files: list[str], shared: set[str]) -> CompileResult:
    """The base's result: the partial compile's flags and the head's shared ones, in path order."""
    out = CompileResult(config=part.config, errors=list(part.errors), cached=part.cached + len(shared))
    by_file = {rel: key for key, rel in part.files.items()}
    head_keys = {rel: key for key, rel in head.files.items()}
    for rel in files:
        if rel in shared:
            key, src = head_keys[rel], head
        elif rel in by_file:
            key, src = by_file[rel], part
        else:
            continue
        out.specs[key] = src.specs[key]
        out.files[key] = rel
        out.imports[rel] = src.imports.get(rel, ())
        # The head's facts for a shared flag: its file is not in the base's tree.
        out.facts[key] = src.flag_facts(key)
    return out
