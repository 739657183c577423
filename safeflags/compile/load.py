"""Evaluate many flag files in worker processes, each file under a deadline.

Jsonnet is Turing-complete: a flag can loop for ever or build a huge value.
The engine cannot be interrupted from Python, so files are evaluated in
separate processes; a worker that misses its deadline is killed, its file
gets a located timeout error and the rest of its work is handed on; so is
one that grows past its memory limit or dies (process.py). Workers
are fresh interpreters (`python -m safeflags.compile.load`), not forks: the
Go runtime inside the engine does not survive a fork, and multiprocessing's
spawn would re-run the caller's main module. They speak JSON lines over
their stdin and stdout.
"""
from __future__ import annotations

import json
import os
import posixpath
import sys
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import wait
from pathlib import Path

from safeflags.compile import process
from safeflags.compile.messages import (
    EvalResult,
    EvalSettings,
    result_to_json,
)
from safeflags.compile.process import EvaluatorProcess, OutputTooLarge
from safeflags.source.errors import SourceError
from safeflags.source.sandbox import Call, RecordingImporter, RepoFileRefused, read_repo_file

# Files per message: enough to amortise the pipe round trip and the engine's
# per-VM start-up (the template libraries are parsed once per VM: 64 files
# evaluate ~15 % faster than 16), few enough that the workers stay evenly
# loaded and that a failing batch is cheap to retry one file at a time.
BATCH = 64


def worker_main() -> None:
    """The evaluator process: settings on the first line, then batches."""

    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else printed (std.trace, warnings) goes to stderr
    settings = EvalSettings(**json.loads(sys.stdin.readline()))
    root = Path(settings.root)
    importer = RecordingImporter(root, [Path(r) for r in settings.roots], [Path(p) for p in settings.library])
    parse = _parser(settings)
    for line in sys.stdin:
        for group in _groups(json.loads(line)):
            done = _evaluate_together(group, importer, settings) if len(group) > 1 else None
            for res in done or []:
                out.write(result_to_json(parse(res)) + "\n")
            out.flush()
            if done is not None:
                continue
            for path in group:
                try:
                    res = _evaluate_one(path, root, importer, settings)
                except Exception as exc:  # a fault here costs this file, not the worker and its batch
                    why = (process.memory_message(settings.max_memory) if isinstance(exc, MemoryError)
                           else f"the evaluator failed ({type(exc).__name__})")
                    res = EvalResult(path, None, (), SourceError(path, 0, 0, why, stage="jsonnet"))
                out.write(result_to_json(parse(res)) + "\n")
                out.flush()


def _parser(settings: EvalSettings) -> Callable[[EvalResult], EvalResult]:
    """Parse and lower in this worker the flags it is asked to (all, or
    those whose JSON is at least `parse_from` bytes: then their parse runs
    under the deadline too), when the configuration reads the same here as
    in the caller; else leave it to the caller. The parser is loaded on
    first need."""
    if not settings.parse_config:
        return lambda res: res
    made: list[Callable[[EvalResult], EvalResult]] = []

    def parse(res: EvalResult) -> EvalResult:
        if settings.parse_from and len(res.json_text or "") < settings.parse_from:
            return res
        if not made:
            from safeflags.compile.pipeline import FlagParser

            parser = FlagParser.for_worker(Path(settings.root), settings.parse_config, settings.keep_json)
            made.append(parser.parse_result if parser is not None else lambda r: r)
        return made[0](res)

    return parse


def _evaluate_one(path: str, root: Path, importer: RecordingImporter, settings: EvalSettings) -> EvalResult:
    from safeflags.source.jsonnet import JsonnetFailed, evaluate

    try:
        data = read_repo_file(root, path)  # never through a link, never naming the absolute path
    except RepoFileRefused as exc:
        return EvalResult(path, None, (), SourceError(path, 0, 0, str(exc), stage="jsonnet"))
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        why = f"not UTF-8 text (byte 0x{data[exc.start]:02x}): a flag file is UTF-8 Jsonnet"
        return EvalResult(path, None, (), SourceError(path, line, col, why, stage="jsonnet"))
    importer.reset()
    importer.remember(path, source)
    try:
        ev = evaluate(path, source, importer, settings.ext_codes, settings.max_stack)
    except JsonnetFailed as exc:
        return EvalResult(path, None, tuple(sorted(importer.imported)), exc.error)
    size = process.json_size(ev.json_text, settings.max_output)
    if size > settings.max_output:
        too_large = SourceError(path, 0, 0, process.output_message(size, settings.max_output), stage="jsonnet")
        return EvalResult(path, None, ev.imports, too_large)
    return EvalResult(path, ev.json_text, ev.imports, None, tuple(importer.calls))


def _groups(paths: list[str]) -> list[list[str]]:
    """Split a batch so no two files of a group share a directory: within one
    VM the engine asks for each (directory, import) once, so this keeps every
    file's own imports visible."""
    groups: list[list[str]] = []
    dirs: list[set[str]] = []
    for p in paths:
        d = posixpath.dirname(p)
        i = next((i for i, seen in enumerate(dirs) if d not in seen), len(groups))
        if i == len(groups):
            groups.append([])
            dirs.append(set())
        groups[i].append(p)
        dirs[i].add(d)
    return groups


def _evaluate_together(paths: list[str], importer: RecordingImporter,
                       settings: EvalSettings) -> list[EvalResult] | None:
    """All of `paths` in one VM, or None if anything fails (the caller then
    evaluates them one by one, for exactly located errors). A file's imports
    are those made from its directory and, transitively, from the
    directories of what it imported: a superset of its own only when
    several files of the group lazily share a library. A file evaluated
    alone would be refused for what an import is not (a NUL byte, bytes
    that are not UTF-8, a value over the output limit): such a group is
    evaluated file by file too, so batching never changes a result."""
    from safeflags.source.jsonnet import JsonnetFailed, evaluate

    importer.reset()
    snippet = "[" + ",".join("import " + json.dumps(p) for p in paths) + "]"
    try:
        values = json.loads(evaluate("", snippet, importer, settings.ext_codes, settings.max_stack).json_text)
    except (JsonnetFailed, ValueError):
        return None
    if not all(_plain_text(importer.answered("", p)) for p in paths):
        return None
    by_base: dict[str, list[Call]] = defaultdict(list)
    for call in importer.calls:
        by_base[call[0].rstrip("/")].append(call)
    out = []
    for path, value in zip(paths, values, strict=True):
        calls: dict[Call, None] = {}
        bases, seen = [posixpath.dirname(path)], set()
        while bases:
            base = bases.pop()
            if base in seen:
                continue
            seen.add(base)
            for call in by_base[base]:
                calls[call] = None
                bases.append(posixpath.dirname(call[2]))
        imports = tuple(sorted({c[2] for c in calls} - {path}))
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        if process.json_size(text, settings.max_output) > settings.max_output:
            return None
        out.append(EvalResult(path, text, imports, None, tuple(calls)))
    return out


def _plain_text(data: bytes | None) -> bool:
    if data is None or b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _worker_env() -> dict[str, str]:
    """The evaluator's environment. Go's collector runs every time the heap
    doubles (GOGC=100); evaluating thousands of small files it spent a
    quarter of the engine's CPU. GOGC=400 measured 0.37 against 0.44-0.53 ms
    per flag for ~25 MB more peak memory per process. A GOGC already set wins."""
    env = dict(os.environ)
    env.setdefault("GOGC", "400")
    return env


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def evaluate_files(
    paths: Iterable[str],
    settings: EvalSettings,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[EvalResult]:
    """Evaluate every path; one result per path, in the order given."""
    todo = list(paths)
    results = {res.path: res for res in iter_evaluate(todo, settings, jobs, progress)}
    return [results[p] for p in todo]


def iter_evaluate(
    paths: Iterable[str],
    settings: EvalSettings,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[EvalResult]:
    """Evaluate every path; one result per path as soon as it is ready (so
    the caller can parse while the workers evaluate)."""
    todo = list(paths)
    if not todo:
        return
    jobs = max(1, min(jobs or default_jobs(), (len(todo) + BATCH - 1) // BATCH))
    queue: deque[str] = deque(_interleave(todo))
    results: dict[str, EvalResult] = {}
    solo: set[str] = set()  # files of a batch that died or stalled: retried one per message
    env = _worker_env()
    workers = [EvaluatorProcess(settings, env) for _ in range(jobs)]
    watch = process.resident_bytes(os.getpid()) is not None  # else only the deadline bounds a worker
    try:
        for w in workers:
            _feed(w, queue, settings.timeout, solo)
        while len(results) < len(todo):
            # Keep the pool full: a killed worker is replaced while work remains.
            while queue and len([w for w in workers if w.pending]) < jobs:
                idle = next((w for w in workers if not w.pending), None)
                if idle is None:
                    idle = EvaluatorProcess(settings, env)
                    workers.append(idle)
                _feed(idle, queue, settings.timeout, solo)
            busy = [w for w in workers if w.pending]
            soonest = min(w.deadline for w in busy) - time.monotonic()
            errs = {w.errfd: w for w in workers if w.errfd is not None}
            ready = set(wait([w.fd for w in busy] + list(errs),
                             timeout=max(0.0, min(soonest, process.POLL_SECONDS) if watch else soonest)))
            for fd, w in errs.items():
                if fd in ready:
                    w.drain_stderr()
            for w in busy:
                got: list[EvalResult] = []
                now = time.monotonic()
                if w.fd in ready:
                    try:
                        got = w.recv()
                    except OutputTooLarge as exc:
                        why = str(exc)
                    except (EOFError, OSError, ValueError):
                        why = w.death()
                    else:
                        for res in got:
                            w.pending.remove(res.path)
                        if got:
                            w.deadline = time.monotonic() + settings.timeout
                        if not w.pending:
                            _feed(w, queue, settings.timeout, solo)
                        why = ""
                elif now >= w.deadline:
                    why = process.timeout_message(settings.timeout)
                elif watch and w.over_memory(now):
                    why = process.memory_message(settings.max_memory)
                else:
                    continue
                if why:
                    got, back = _fail_current(w, why, solo)
                    queue.extendleft(back)
                    workers.remove(w)
                for res in got:
                    results[res.path] = res
                    yield res
                if progress:
                    progress(len(results), len(todo))
    finally:
        for w in workers:
            w.close()


def _interleave(paths: list[str]) -> list[str]:
    """Round-robin over directories, so a batch holds files of many
    directories and a worker can evaluate it in one VM (see `_groups`)."""
    by_dir: dict[str, deque[str]] = defaultdict(deque)
    for p in paths:
        by_dir[posixpath.dirname(p)].append(p)
    lanes = list(by_dir.values())
    out: list[str] = []
    while lanes:
        out.extend(lane.popleft() for lane in lanes)
        lanes = [lane for lane in lanes if lane]
    return out


def _feed(w: EvaluatorProcess, queue: deque[str], timeout: float, solo: set[str]) -> None:
    batch: list[str] = []
    while queue and len(batch) < BATCH:
        if queue[0] in solo:
            if not batch:
                batch.append(queue.popleft())
            break
        batch.append(queue.popleft())
    if batch:
        w.send(batch, timeout)


def _fail_current(w: EvaluatorProcess, why: str, solo: set[str]) -> tuple[list[EvalResult], list[str]]:
    """Kill `w`; its current file gets the error, the files after it are
    returned for another worker. When the worker held a batch, which file was
    at fault is unknown: nobody is blamed and each is retried on its own."""
    w.kill()
    if w.batched and len(w.pending) > 1:
        rest = list(w.pending)
        w.pending.clear()
        solo.update(rest)
        return [], rest[::-1]  # extendleft reverses
    culprit = w.pending.popleft()
    # About the file as a whole: no line of it is known to be at fault.
    failed = EvalResult(culprit, None, (), SourceError(culprit, 0, 0, why, stage="jsonnet"))
    rest = list(w.pending)
    w.pending.clear()
    return [failed], rest[::-1]  # extendleft reverses


if __name__ == "__main__":
    worker_main()
