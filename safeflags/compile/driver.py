"""The whole pipeline: load (Jsonnet) -> parse (FlagSpec) -> lower -> pack.

`compile_repo` is what `safeflags compile` and `safeflags validate` both run,
so what passes validation is exactly what ships.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from safeflags.compile.cache import (
    CacheEntry,
    CompileCache,
    compiler_fingerprint,
    default_dir,
    digest,
)
from safeflags.compile.config import RepoConfig, load_config
from safeflags.compile.discovery import discover as discover  # re-exported: what benchmarks list
from safeflags.compile.discovery import scan
from safeflags.compile.load import iter_evaluate
from safeflags.compile.lower import LoweredFlag, Lowerer
from safeflags.compile.messages import EvalSettings
from safeflags.compile.pack import pack
from safeflags.compile.parse.locate import Locator
from safeflags.compile.parse.model import key_for_path
from safeflags.compile.pipeline import FlagOutcome, FlagParser
from safeflags.source.errors import SourceError
from safeflags.source.jsonnet import engine_version, ext_codes_for
from safeflags.source.sandbox import Importer, RepoFileRefused, read_repo_file
from safeflags.v1 import bundle_pb2, spec_pb2
from safeflags.version import __version__

COMPILER_VERSION = f"safeflags {__version__}"
# Below this many files to evaluate, parsing here costs less than loading the
# parser into every evaluator process.
PARSE_IN_WORKERS_FROM = 64
# Even then, a flag whose JSON is this long is parsed in its evaluator process,
# under the deadline (the output limit bounds it too: ~0.2 s per 750 KB of rules).
PARSE_IN_WORKER_BYTES = 64 << 10


class FlagFacts:
    """What validators read about one compiled flag besides its spec: its
    lowering in parts and its source, for positions. Each is made at most
    once, here, whichever way the flag was compiled (in this process, in an
    evaluator process, or taken from the cache): given by the parser when
    it ran in this process, else derived from the spec and the file on
    first use."""

    def __init__(self, spec: spec_pb2.FlagSpec, file: str, root: Path, lowerer: Lowerer, *,
                 lowered: LoweredFlag | None = None, locator: Locator | None = None) -> None:
        self.spec = spec
        self.file = file  # repository-relative
        self.root = root
        self._lowerer = lowerer
        self._lowered = lowered
        if locator is not None:
            self.locator = locator  # the parser's own: the file is indexed once

    @property
    def lowered(self) -> LoweredFlag:
        if self._lowered is None:
            self._lowered = self._lowerer.lower(self.spec)
        return self._lowered

    @cached_property
    def locator(self) -> Locator | None:
        """The flag file's text, indexed for positions; None when it cannot be read."""
        try:
            text = read_repo_file(self.root, self.file).decode("utf-8")
        except (RepoFileRefused, UnicodeDecodeError):
            return None
        return Locator(text)


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
    cached: int = 0  # flags taken from the compile cache
    # By key, for the flags of `specs`: filled by compile_repo, else made on first use.
    facts: dict[str, FlagFacts] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @cached_property
    def _lowerer(self) -> Lowerer:
        return Lowerer(self.config.dimensions)

    def flag_facts(self, key: str) -> FlagFacts:
        """The facts of compiled flag `key` (KeyError when it did not compile)."""
        found = self.facts.get(key)
        if found is None:
            spec = self.specs[key]
            file = self.files.get(key, spec.location.file)
            found = self.facts[key] = FlagFacts(spec, file, self.config.root, self._lowerer)
        return found

    def lower_variant(self, spec: spec_pb2.FlagSpec) -> LoweredFlag:
        """Lower a spec that is not one of this result's, with its catalog: a
        what-if (a flag with its old salt put back) for validators, lowered
        by the one lowerer so it cannot differ from what the compiler ships."""
        return self._lowerer.lower(spec)

    def locator(self, file: str) -> Locator | None:
        """The source of the compiled flag in `file`, for positions."""
        key = key_for_path(file, self.config.model.flags_dir)
        if key is None or key not in self.specs or self.files.get(key, file) != file:
            return None
        return self.flag_facts(key).locator


def eval_settings(config: RepoConfig) -> EvalSettings:
    """How the evaluator processes run this repository's flag files."""
    return EvalSettings(
        root=str(config.root.resolve()),
        roots=(str(config.flags_dir), str(config.templates_dir)),
        library=(str(config.templates_dir),),
        ext_codes=ext_codes_for(config.catalog_json()),
        max_stack=config.model.limits.max_stack,
        timeout=config.model.limits.eval_timeout_seconds,
        max_output=config.model.limits.max_output_kib << 10,
        max_memory=config.model.limits.eval_memory_mib << 20,
    )


def source_revision(root: Path) -> str:
    """The git commit of the sources, with `+dirty` when flag sources changed."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
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
    cache: bool = True,
    cache_dir: Path | None = None,
) -> CompileResult:
    """Compile the flag repository at `root`. Never raises for bad flags:
    every problem is a located error in the result (config errors raise).

    Unchanged flags come from the content-addressed cache (`cache_dir`,
    default `$SAFEFLAGS_CACHE_DIR` or `<root>/.safeflags-cache`); the result
    is the same with or without it. Two checkouts of one repository may
    share a `cache_dir`."""
    started = time.perf_counter()
    config = load_config(root)
    result = CompileResult(config=config)
    found = scan(config)
    result.errors.extend(found.refused)
    keyed: dict[str, str] = {}
    for rel in found.paths:
        key = key_for_path(rel, config.model.flags_dir)
        if key is None:
            result.errors.append(SourceError(
                rel, 0, 0, "a flag file must be flags/<namespace>/<name>.jsonnet with lower-case names "
                "([a-z][a-z0-9_]*)", stage="load", code="SF106"))
            continue
        keyed[rel] = key  # distinct paths give distinct keys: no part may contain a dot
    settings = eval_settings(config)
    parser = FlagParser(config)
    store = _open_cache(config, settings, cache_dir) if cache else None
    outcomes: dict[str, FlagOutcome] = {}
    hashes: dict[str, bytes] = {}  # rel -> sha256 of the source, for the cache
    todo: list[str] = []
    root_dir = str(config.root)
    for rel in keyed:
        entry = None
        if store is not None:
            sha = store.source_hash(rel, os.path.join(root_dir, rel))
            if sha is not None:  # else the evaluator reports it, located
                hashes[rel] = sha
                entry = store.lookup(rel, sha)
        if entry is None:
            todo.append(rel)
        elif entry.parse_key == store.parse_key:  # type: ignore[union-attr]
            spec = spec_pb2.FlagSpec.FromString(entry.spec)
            outcomes[rel] = FlagOutcome(entry.imports, [], spec, bundle_pb2.CompiledFlag.FromString(entry.compiled))
        else:  # same Jsonnet output, but the config or the compiler changed
            outcomes[rel] = parser.outcome(rel, keyed[rel], entry.json_text, entry.imports)
            _store(store, rel, hashes[rel], entry, outcomes[rel])  # type: ignore[arg-type]
    result.cached = len(keyed) - len(todo)
    settings = replace(settings, parse_config=digest(config.text), keep_json=store is not None,
                       parse_from=0 if len(todo) >= PARSE_IN_WORKERS_FROM else PARSE_IN_WORKER_BYTES)
    for res in iter_evaluate(todo, settings, jobs=jobs, progress=progress):
        if res.error is not None:
            outcomes[res.path] = FlagOutcome(res.imports, [_explain_jsonnet_error(res.error, config)])
            continue
        if res.parsed:
            outcomes[res.path] = FlagOutcome.from_worker(res)
        else:
            outcomes[res.path] = parser.outcome(res.path, keyed[res.path], res.json_text or "null", res.imports)
        if store is not None and res.path in hashes:
            fresh = CacheEntry(res.json_text or "null", res.imports, res.calls)
            _store(store, res.path, hashes[res.path], fresh, outcomes[res.path])
    if store is not None:
        store.save()
    compiled: list[bundle_pb2.CompiledFlag] = []
    for rel, key in keyed.items():  # in path order, whichever finished first
        out = outcomes[rel]
        result.imports[rel] = out.imports
        result.errors.extend(out.errors)
        if out.spec is not None and out.compiled is not None:
            result.specs[key] = out.spec
            result.files[key] = rel
            result.facts[key] = FlagFacts(out.spec, rel, config.root, parser.lowerer, lowered=out.lowered,
                                          locator=out.locator)
            compiled.append(out.compiled)
    if not result.errors:
        rev = revision if revision is not None else source_revision(config.root)
        result.bundle, result.data, result.digest = pack(
            compiled, config.dimension_protos(), rev, f"{COMPILER_VERSION} ({engine_version()})", optimised=True
        )
    result.seconds = time.perf_counter() - started
    return result


def _open_cache(config: RepoConfig, settings: EvalSettings, cache_dir: Path | None) -> CompileCache:
    """The cache, keyed by everything besides the files that shapes a flag's
    output; no absolute path, so checkouts elsewhere share entries. Both
    levels carry the compiler's fingerprint: the stored Jsonnet output
    depends on the engine adapter and the sandbox as much as the parsed
    result depends on the parser, and a patched adapter must not be served
    what the old one produced."""
    fingerprint = compiler_fingerprint()
    evaluation = digest(
        COMPILER_VERSION, engine_version(), json.dumps(settings.ext_codes, sort_keys=True), str(settings.max_stack),
        str(settings.max_output), config.model.flags_dir, config.model.templates_dir, fingerprint,
    )
    parsing = digest(config.text, fingerprint)
    importer = Importer(config.root, [config.flags_dir, config.templates_dir], [config.templates_dir])
    return CompileCache(cache_dir or default_dir(config.root), importer, evaluation, parsing)


def _store(store: CompileCache, rel: str, source_hash: bytes, entry: CacheEntry, out: FlagOutcome) -> None:
    """Cache a flag that compiled; errors are recomputed (and stay exact)."""
    if out.spec is None or out.compiled is None:
        return
    store.store(rel, source_hash, replace(
        entry, parse_key=store.parse_key, spec=out.raw[0] or out.spec.SerializeToString(deterministic=True),
        compiled=out.raw[1] or out.compiled.SerializeToString(deterministic=True),
    ))


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
