"""Stages 2-4 for one flag: its Jsonnet output parsed into a FlagSpec, lowered
and optimised into a CompiledFlag, or its located errors. Runs in the
evaluator processes when the driver asks (`EvalSettings.parse_config`), else
in the driver."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from safeflags.compile.cache import digest
from safeflags.compile.config import RepoConfig, load_config
from safeflags.compile.lower import LoweredFlag, Lowerer
from safeflags.compile.messages import EvalResult
from safeflags.compile.pack import optimise
from safeflags.compile.parse.locate import Locator
from safeflags.compile.parse.model import key_for_path
from safeflags.compile.parse.spec import parse_flag
from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.source.errors import SourceError
from safeflags.v1 import bundle_pb2, spec_pb2


@dataclass
class FlagOutcome:
    imports: tuple[str, ...]
    errors: list[SourceError]
    spec: spec_pb2.FlagSpec | None = None
    compiled: bundle_pb2.CompiledFlag | None = None  # optimised
    raw: tuple[bytes, bytes] = (b"", b"")  # both serialized, when they came that way
    # When the flag was parsed in this process: its lowering and the indexed
    # source, so the compile result need not redo, reread or re-index either.
    lowered: LoweredFlag | None = None
    locator: Locator | None = None

    @classmethod
    def from_worker(cls, res: EvalResult) -> FlagOutcome:
        if not res.spec:
            return cls(res.imports, list(res.problems))
        spec, compiled = spec_pb2.FlagSpec.FromString(res.spec), bundle_pb2.CompiledFlag.FromString(res.compiled)
        return cls(res.imports, [], spec, compiled, (res.spec, res.compiled))


class FlagParser:
    """Stages 2 and 3 for one flag at a time: its Jsonnet output to a
    FlagSpec and an optimised CompiledFlag, or located errors. Runs in the
    evaluator processes (see `EvalSettings.parse_config`), else here."""

    def __init__(self, config: RepoConfig, keep_json: bool = True):
        self.config = config
        self.lowerer = Lowerer(config.dimensions)
        self.keep_json = keep_json

    @classmethod
    def for_worker(cls, root: Path, config_digest: str, keep_json: bool = True) -> FlagParser | None:
        try:
            config = load_config(root)
        except SafeflagsError:
            return None
        return cls(config, keep_json) if digest(config.text) == config_digest else None

    def outcome(self, rel: str, key: str, json_text: str, imports: tuple[str, ...]) -> FlagOutcome:
        source = (self.config.root / rel).read_text(encoding="utf-8")
        locator = Locator(source)
        spec, errors = parse_flag(rel, key, json.loads(json_text), source, self.config, locator=locator)
        if spec is None:
            return FlagOutcome(imports, errors)
        lowered = self.lowerer.lower(spec)
        return FlagOutcome(imports, [], spec, optimise(lowered.compiled()), lowered=lowered, locator=locator)

    def parse_result(self, res: EvalResult) -> EvalResult:
        """`res` with its parse outcome; unchanged if anything goes wrong
        here, so the caller parses it and reports exactly as it would."""
        key = key_for_path(res.path, self.config.model.flags_dir)
        if res.error is not None or key is None:
            return res
        try:
            out = self.outcome(res.path, key, res.json_text or "null", res.imports)
        except Exception:  # the caller parses it again and reports what it raises
            return res
        if not self.keep_json:
            res = replace(res, json_text="", calls=())
        if out.spec is None or out.compiled is None:
            return replace(res, parsed=True, problems=tuple(out.errors))
        return replace(res, parsed=True, spec=out.spec.SerializeToString(deterministic=True),
                       compiled=out.compiled.SerializeToString(deterministic=True))


