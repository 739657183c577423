"""What passes between the compile driver and its evaluator processes: the
settings an evaluator runs with and one result per flag file, as JSON lines."""
from __future__ import annotations

import json
from base64 import b64decode, b64encode
from dataclasses import asdict, dataclass, replace

from safeflags.source.errors import SourceError
from safeflags.source.sandbox import Call


@dataclass(frozen=True)
class EvalSettings:
    root: str
    roots: tuple[str, ...]
    library: tuple[str, ...]
    ext_codes: dict[str, str]
    max_stack: int
    timeout: float
    # A flag's JSON longer than this (compact, in bytes) is an error, so what
    # crosses the pipe and is parsed stays small.
    max_output: int = 1 << 20
    # Resident memory an evaluator process may reach before it is killed
    # (bytes; enforced by the caller, see load.py).
    max_memory: int = 2 << 30
    # When set, the digest of safeflags.yaml's text: the workers also parse
    # and lower the flags whose JSON is at least `parse_from` bytes (0: every
    # flag, on every core, not only the caller's), if their own reading of
    # the configuration has that digest.
    parse_config: str = ""
    parse_from: int = 0
    # With parse_config: whether the caller keeps each parsed flag's JSON
    # and imports made (for its cache); without a cache they are not sent.
    keep_json: bool = True


@dataclass(frozen=True)
class EvalResult:
    path: str
    json_text: str | None
    imports: tuple[str, ...]
    error: SourceError | None
    calls: tuple[Call, ...] = ()  # each import made, for the compile cache
    # Set by a worker that parsed the flag: its FlagSpec and optimised
    # CompiledFlag (serialized), or its located parse errors.
    parsed: bool = False
    spec: bytes = b""
    compiled: bytes = b""
    problems: tuple[SourceError, ...] = ()


def result_to_json(res: EvalResult) -> str:
    data: dict[str, object] = {
        "path": res.path, "json_text": res.json_text, "imports": res.imports,
        "error": asdict(res.error) if res.error else None, "calls": res.calls,
    }
    if res.parsed:
        data.update(parsed=True, spec=b64encode(res.spec).decode("ascii"),
                    compiled=b64encode(res.compiled).decode("ascii"), problems=[asdict(e) for e in res.problems])
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def result_from_json(line: str) -> EvalResult:
    data = json.loads(line)
    err = data["error"]
    calls = tuple((c[0], c[1], c[2], c[3]) for c in data["calls"])
    error = SourceError(**err) if err else None
    res = EvalResult(data["path"], data["json_text"], tuple(data["imports"]), error, calls)
    if data.get("parsed"):
        res = replace(res, parsed=True, spec=b64decode(data["spec"]), compiled=b64decode(data["compiled"]),
                      problems=tuple(SourceError(**e) for e in data["problems"]))
    return res


