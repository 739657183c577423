"""The whole pipeline: load (Jsonnet) -> parse (FlagSpec) -> lower -> pack.

`compile_repo` is what `safeflags compile` and `safeflags validate` both run,
so what passes validation is exactly what ships.
"""
from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from safeflags import __version__
from safeflags.config import RepoConfig, load_config
from safeflags.errors import SourceError
from safeflags.lower import Lowerer
from safeflags.model import key_for_path
from safeflags.pack import pack
from safeflags.source.jsonnet import engine_version, ext_codes_for
from safeflags.source.pool import EvalSettings, evaluate_files
from safeflags.spec import parse_flag
from safeflags.v1 import bundle_pb2, spec_pb2

COMPILER_VERSION = f"safeflags {__version__}"


@dataclass
class CompileResult:
    config: RepoConfig
    specs: dict[str, spec_pb2.FlagSpec] = field(default_factory=dict)  # by key
    files: dict[str, str] = field(default_factory=dict)  # key -> repo-relative file
    imports: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> what it imported
    errors: list[SourceError] = field(default_factory=list)
    bundle: bundle_pb2.Bundle | None = None
    data: bytes = b""
    digest: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors


def discover(config: RepoConfig) -> list[str]:
    """Every flag file, repository-relative, sorted."""
    root = config.root
    return sorted(p.relative_to(root).as_posix() for p in config.flags_dir.rglob("*.jsonnet") if p.is_file())


def source_revision(root: Path) -> str:
    """The git commit of the sources, with `+dirty` when flag sources changed."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "."], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def compile_repo(
    root: Path,
    *,
    revision: str | None = None,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CompileResult:
    """Compile the flag repository at `root`. Never raises for bad flags:
    every problem is a located error in the result (config errors raise)."""
    started = time.perf_counter()
    config = load_config(root)
    result = CompileResult(config=config)
    paths = discover(config)
    keyed: dict[str, str] = {}
    for rel in paths:
        key = key_for_path(rel, config.model.flags_dir)
        if key is None:
            result.errors.append(SourceError(
                rel, 0, 0, "a flag file must be flags/<namespace>/<name>.jsonnet with lower-case names "
                "([a-z][a-z0-9_]*)", stage="load", code="SF106"))
            continue
        if key in keyed:
            result.errors.append(SourceError(rel, 0, 0, f"duplicate flag key {key!r} (also {keyed[key]})", stage="load", code="SF106"))
            continue
        keyed[rel] = key
    settings = EvalSettings(
        root=str(config.root.resolve()),
        roots=(str(config.flags_dir), str(config.templates_dir)),
        library=(str(config.templates_dir),),
        ext_codes=ext_codes_for(config.catalog_json()),
        max_stack=config.model.limits.max_stack,
        timeout=config.model.limits.eval_timeout_seconds,
    )
    lowerer = Lowerer(config.dimensions)
    compiled: list[bundle_pb2.CompiledFlag] = []
    for res in evaluate_files(list(keyed), settings, jobs=jobs, progress=progress):
        result.imports[res.path] = res.imports
        if res.error is not None:
            result.errors.append(_explain_jsonnet_error(res.error, config))
            continue
        key = keyed[res.path]
        source = (config.root / res.path).read_text(encoding="utf-8")
        spec, errors = parse_flag(res.path, key, json.loads(res.json_text or "null"), source, config)
        if spec is None:
            result.errors.extend(errors)
            continue
        result.specs[key] = spec
        result.files[key] = res.path
        compiled.append(lowerer.flag(spec))
    if not result.errors:
        rev = revision if revision is not None else source_revision(config.root)
        result.bundle, result.data, result.digest = pack(
            compiled, config.dimension_protos(), rev, f"{COMPILER_VERSION} ({engine_version()})"
        )
    result.seconds = time.perf_counter() - started
    return result


_MISSING_DIM = re.compile(r"^Field does not exist: (\w+)$")


def _explain_jsonnet_error(err: SourceError, config: RepoConfig) -> SourceError:
    """SF101, except `sf.dim.<typo>`: an undeclared dimension (SF104) with a hint."""
    m = _MISSING_DIM.match(err.message)
    line = err.source_line or ""
    if m and re.search(r"\bdim\s*\.\s*" + re.escape(m.group(1)) + r"\b", line):
        name = m.group(1)
        hint = config.suggest_dimension(name)
        return replace(err, code="SF104", message=f"undeclared dimension {name!r}",
                       hint=f"did you mean {hint!r}?" if hint else "declare it under dimensions: in safeflags.yaml")
    return err if err.code else replace(err, code="SF101")
