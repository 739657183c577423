"""Evaluate many flag files in worker processes, each file under a deadline.

Jsonnet is Turing-complete: a flag can loop for ever or build a huge value.
The engine cannot be interrupted from Python, so files are evaluated in
separate processes; a worker that misses its deadline is killed, its file
gets a located timeout error and the rest of its work is handed on. Workers
are fresh interpreters (`python -m safeflags.source.pool`), not forks: the
Go runtime inside the engine does not survive a fork, and multiprocessing's
spawn would re-run the caller's main module. They speak JSON lines over
their stdin and stdout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from dataclasses import asdict

from safeflags.errors import SourceError

# Files per message: enough to amortise the pipe round trip, few enough that
# the workers stay evenly loaded.
BATCH = 16


@dataclass(frozen=True)
class EvalSettings:
    root: str
    roots: tuple[str, ...]
    library: tuple[str, ...]
    ext_codes: dict[str, str]
    max_stack: int
    timeout: float


@dataclass(frozen=True)
class EvalResult:
    path: str
    json_text: str | None
    imports: tuple[str, ...]
    error: SourceError | None


def _result_json(res: EvalResult) -> str:
    data = asdict(res)
    return json.dumps(data, separators=(",", ":"))


def _result_from_json(line: str) -> EvalResult:
    data = json.loads(line)
    err = data["error"]
    return EvalResult(data["path"], data["json_text"], tuple(data["imports"]), SourceError(**err) if err else None)


def worker_main() -> None:
    """The evaluator process: settings on the first line, then batches."""
    from safeflags.source.jsonnet import JsonnetError, evaluate
    from safeflags.source.sandbox import Importer

    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else printed (std.trace, warnings) goes to stderr
    settings = EvalSettings(**json.loads(sys.stdin.readline()))
    root = Path(settings.root)
    importer = Importer(root, [Path(r) for r in settings.roots], [Path(p) for p in settings.library])
    for line in sys.stdin:
        for path in json.loads(line):
            try:
                source = (root / path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                res = EvalResult(path, None, (), SourceError(path, 0, 0, f"cannot read: {exc}", stage="jsonnet"))
            else:
                importer.reset()
                importer.remember(path, source)
                try:
                    ev = evaluate(path, source, importer, settings.ext_codes, settings.max_stack)
                    res = EvalResult(path, ev.json_text, ev.imports, None)
                except JsonnetError as exc:
                    res = EvalResult(path, None, tuple(sorted(importer.imported)), exc.error)
            out.write(_result_json(res) + "\n")
            out.flush()


class _Worker:
    def __init__(self, settings: EvalSettings):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "safeflags.source.pool"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.stdin.write(json.dumps(asdict(settings)) + "\n")
        self.pending: deque[str] = deque()
        self.deadline = 0.0

    def send(self, batch: list[str], timeout: float) -> None:
        self.pending.extend(batch)
        self.deadline = time.monotonic() + timeout
        self.stdin.write(json.dumps(batch) + "\n")
        self.stdin.flush()

    def recv(self) -> EvalResult:
        line = self.stdout.readline()
        if not line:
            raise EOFError
        return _result_from_json(line)

    def close(self) -> None:
        try:
            self.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        for f in (self.stdin, self.stdout):
            try:
                f.close()
            except OSError:
                pass


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
    if not todo:
        return []
    jobs = max(1, min(jobs or default_jobs(), (len(todo) + BATCH - 1) // BATCH))
    queue: deque[str] = deque(todo)
    results: dict[str, EvalResult] = {}
    workers = [_Worker(settings) for _ in range(jobs)]
    try:
        for w in workers:
            _feed(w, queue, settings.timeout)
        while len(results) < len(todo):
            # Keep the pool full: a killed worker is replaced while work remains.
            while queue and len([w for w in workers if w.pending]) < jobs:
                idle = next((w for w in workers if not w.pending), None)
                if idle is None:
                    idle = _Worker(settings)
                    workers.append(idle)
                _feed(idle, queue, settings.timeout)
            busy = [w for w in workers if w.pending]
            soonest = min(w.deadline for w in busy)
            ready = wait([w.stdout for w in busy], timeout=max(0.0, soonest - time.monotonic()))
            for w in busy:
                if w.stdout in ready:
                    try:
                        res = w.recv()
                    except (EOFError, OSError, ValueError):
                        queue.extendleft(_fail_current(w, results, "the evaluator process died"))
                        workers.remove(w)
                        continue
                    w.pending.remove(res.path)
                    results[res.path] = res
                    w.deadline = time.monotonic() + settings.timeout
                    if not w.pending:
                        _feed(w, queue, settings.timeout)
                elif time.monotonic() >= w.deadline:
                    why = (
                        f"evaluation did not finish within {settings.timeout:g} s (unbounded recursion or a huge "
                        "loop?); limits.eval_timeout_seconds in safeflags.yaml sets the bound"
                    )
                    queue.extendleft(_fail_current(w, results, why))
                    workers.remove(w)
                else:
                    continue
                if progress:
                    progress(len(results), len(todo))
    finally:
        for w in workers:
            w.close()
    return [results[p] for p in todo]


def _feed(w: _Worker, queue: deque[str], timeout: float) -> None:
    batch = [queue.popleft() for _ in range(min(BATCH, len(queue)))]
    if batch:
        w.send(batch, timeout)


def _fail_current(w: _Worker, results: dict[str, EvalResult], why: str) -> list[str]:
    """Kill `w`; its current file gets the error, the files after it are returned."""
    w.kill()
    culprit = w.pending.popleft()
    results[culprit] = EvalResult(culprit, None, (), SourceError(culprit, 1, 1, why, stage="jsonnet"))
    rest = list(w.pending)
    w.pending.clear()
    return rest[::-1]  # extendleft reverses


if __name__ == "__main__":
    worker_main()
