"""One evaluator process as the pool sees it (load.py runs its other end):
started, sent batches, read results from, and bounded besides its deadline
by its resident memory, the size of what it sends back and what it writes
to stderr; when it dies, why, in one short line.

Memory is watched from the caller, not limited inside the worker: the Go
runtime in the engine reserves ~1.7 GB of address space at start, so
RLIMIT_AS stops it before it evaluates anything, and RLIMIT_DATA counts
every thread's stack (8 MiB each, more threads on bigger machines), so the
same flag would pass on one runner and fail on another. Resident memory is
what a machine runs out of, and it reads the same everywhere:
/proc/<pid>/statm, sampled every `POLL_SECONDS` while a worker is busy.
Where /proc is missing (macOS) only the deadline bounds a worker. Go's own
soft limit (GOMEMLIMIT) is not set: near it the collector thrashes, and
measured (benchmarks/bombs.py) it turned memory bombs killed at the limit in
~5 s into timeouts at 10 s, while a real flag needs tens of MiB.

A worker's stderr is a pipe the caller drains: a Go runtime crash (stack
overflow in a `tailstrict` loop, out of memory) prints hundreds of lines of
goroutine dump there, none of which belongs in a CI log. Only `std.trace`
lines are passed on, up to a budget.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import asdict

from safeflags.compile.messages import EvalResult, EvalSettings, result_from_json

# A sample every 50 ms: bombs measured (benchmarks/bombs.py) peaked 4-17 MiB
# over a 2 GiB limit and 20-32 MiB over a 256 MiB one before they were killed.
POLL_SECONDS = 0.05
TRACE_BUDGET = 64 << 10  # bytes of std.trace output passed on per worker
# What a crash writes to stderr, by the cause the caller reports.
_MARKS: dict[str, tuple[bytes, ...]] = {
    "stack": (b"goroutine stack exceeds", b"fatal error: stack overflow"),
    "memory": (b"fatal error: runtime: out of memory", b"\nMemoryError"),
}
_TAIL = 16 << 10  # the longest stderr line kept while waiting for its end
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes(pid: int) -> int | None:
    """The process's resident set size, or None where /proc cannot say."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class StderrTail:
    """A worker's stderr as the caller drains it: the marks of a crash
    (looked for as it streams: a Go dump is longer than any tail worth
    keeping, its cause at the top), and complete `TRACE:` lines passed on."""

    def __init__(self) -> None:
        self.marks: set[str] = set()
        self._carry = b""  # the end of the last chunk, for a mark split across two
        self._line = b""
        self._passed = 0

    def feed(self, chunk: bytes) -> None:
        window = self._carry + chunk
        self.marks.update(kind for kind, signs in _MARKS.items() if any(sign in window for sign in signs))
        self._carry = window[-64:]
        *lines, rest = (self._line + chunk).split(b"\n")
        self._line = rest[-_TAIL:]
        for line in lines:
            if not line.startswith(b"TRACE: ") or self._passed >= TRACE_BUDGET:
                continue
            self._passed += len(line) + 1
            text = line.decode("utf-8", errors="replace")
            if self._passed >= TRACE_BUDGET:
                text += " (further std.trace output of this evaluator is dropped)"
            print(text, file=sys.stderr, flush=True)


def json_size(text: str, limit: int) -> int:
    """The size in bytes of the value `text` holds, as compact JSON in UTF-8:
    exact when over `limit`, else at most `limit`. The engine writes JSON
    indented, a batch of files evaluated together is re-written compact;
    the limit holds the value, whichever way it came, to the same bound."""
    if len(text) * 4 <= limit:
        return len(text)
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size <= limit:
        return size
    compact = json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    return len(compact.encode("utf-8", errors="surrogatepass"))


def timeout_message(seconds: float) -> str:
    return (f"evaluation did not finish within {seconds:g} s (unbounded recursion or a huge loop?); "
            "limits.eval_timeout_seconds in safeflags.yaml sets the bound")


def memory_message(limit: int) -> str:
    return (f"evaluation used more than {limit >> 20:,} MiB of memory (a value too large to build, or unbounded "
            "recursion?); limits.eval_memory_mib in safeflags.yaml sets the bound")


def output_message(size: int, limit: int) -> str:
    return (f"the flag's value is {size:,} bytes of JSON, over the limit of {limit:,}; "
            "limits.max_output_kib in safeflags.yaml sets the bound")


STACK_MESSAGE = ("evaluation exhausted the engine's stack: unbounded recursion (calls marked `tailstrict` are not "
                 "counted by limits.max_stack)")


def death_message(marks: set[str], returncode: int | None, memory_limit: int) -> str:
    """Why a worker the caller did not kill died, from the marks its stderr
    showed and its exit status."""
    if "stack" in marks:
        return STACK_MESSAGE
    if "memory" in marks or returncode == -signal.SIGKILL:
        # SIGKILL that was not ours: the kernel's OOM killer, most likely.
        return memory_message(memory_limit)
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the evaluator process died ({name})"
    return f"the evaluator process died (exit status {returncode})"


class OutputTooLarge(Exception):
    """A worker sent a line longer than any result within the limits can be."""


class EvaluatorProcess:
    """One evaluator process, started with its settings, and what the pool tracks of it."""

    def __init__(self, settings: EvalSettings, env: dict[str, str]):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "safeflags.compile.load"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
            bufsize=1, env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None and self.proc.stderr is not None
        self.stdin, self.stdout, self._stderr = self.proc.stdin, self.proc.stdout, self.proc.stderr
        self.fd = self.stdout.fileno()  # what `wait` watches and `recv` reads
        self.errfd: int | None = self._stderr.fileno()  # None once it is at its end
        self.stderr = StderrTail()
        self.stdin.write(json.dumps(asdict(settings)) + "\n")
        self.pending: deque[str] = deque()
        self.deadline = 0.0
        self.sampled = 0.0  # when its memory was last read
        self.memory_limit = settings.max_memory
        # A result line holds the JSON, and when parsed here the spec and the
        # compiled flag in base64: each about the JSON's size, or less.
        self._max_line = 8 * settings.max_output + (1 << 20)
        self._partial: list[bytes] = []
        self._partial_size = 0
        self.batched = False

    def send(self, batch: list[str], timeout: float) -> None:
        self.batched = len(batch) > 1
        self.pending.extend(batch)
        self.deadline = time.monotonic() + timeout
        try:
            self.stdin.write(json.dumps(batch) + "\n")
            self.stdin.flush()
        except OSError:  # it died idle: its stdout is at its end, and the pool hands the batch on
            pass

    def recv(self) -> list[EvalResult]:
        """The results the worker has written so far (maybe none yet: a
        partial line). Reads the pipe directly: a buffered readline could
        pull several lines into its buffer, where `wait` on the pipe cannot
        see them, and the pool would sit idle until the deadline."""
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            raise EOFError
        *lines, rest = chunk.split(b"\n")
        if lines:
            lines[0] = b"".join([*self._partial, lines[0]])
            self._partial, self._partial_size = [], 0
        if rest:
            self._partial.append(rest)
            self._partial_size += len(rest)
            if self._partial_size > self._max_line:
                raise OutputTooLarge(f"the evaluator sent over {self._max_line:,} bytes for one flag, more than "
                                     "its JSON may take; limits.max_output_kib in safeflags.yaml sets the bound")
        return [result_from_json(line.decode("utf-8")) for line in lines]

    def drain_stderr(self) -> None:
        if self.errfd is None:
            return
        chunk = os.read(self.errfd, 1 << 16)
        if chunk:
            self.stderr.feed(chunk)
        else:
            self.errfd = None

    def over_memory(self, now: float) -> bool:
        """Whether it holds more than its limit, read at most every POLL_SECONDS."""
        if now - self.sampled < POLL_SECONDS:
            return False
        self.sampled = now
        rss = resident_bytes(self.proc.pid)
        return rss is not None and rss > self.memory_limit

    def death(self) -> str:
        """Why it died by itself: reaped, and the rest of its stderr read (it
        cannot block: the writer is gone)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        with contextlib.suppress(OSError):
            while self.errfd is not None and self.proc.returncode is not None:
                self.drain_stderr()
        return death_message(self.stderr.marks, self.proc.returncode, self.memory_limit)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.stdin.close()
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.kill()
        else:
            self._close_pipes()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        self._close_pipes()

    def _close_pipes(self) -> None:
        for f in (self.stdin, self.stdout, self._stderr):
            with contextlib.suppress(OSError):
                f.close()
        self.errfd = None
