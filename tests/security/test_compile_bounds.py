"""No flag can stall or swamp a compile: an evaluator that outgrows its
memory limit is killed, a value over the output limit is refused, a
`tailstrict` loop that escapes max_stack dies quietly, each a located
error at the flag's file in one short line, and the other flags of the
same batch compile to the same bytes as without the bomb. The repository
here sets small limits (256 MiB, 64 KiB) so each bomb dies fast; the peak
memory under each bomb with the default limits is what benchmarks/bombs.py
prints."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from safeflags.compile import load as pool
from safeflags.compile import process
from safeflags.compile.cache import digest
from safeflags.compile.config import load_config
from safeflags.compile.driver import PARSE_IN_WORKER_BYTES, CompileResult, compile_repo, eval_settings
from safeflags.compile.pack import optimise, pack
from tests.helpers.repo import FlagRepo, bool_flag

LIMITS = "limits:\n  eval_memory_mib: 256\n  max_output_kib: 64\n  eval_timeout_seconds: 120\n"
GOOD = [f"{ns}.flag_{i}" for ns in ("alpha", "beta", "gamma") for i in range(3)]

BOMBS = {
    "array": "std.makeArray(1e8, function(i) i)\n",
    "doubling": "local d(s, n) = if n == 0 then s else d(s + s, n - 1);\nd('x', 40)\n",
    "tags": "local sf = import 'safeflags.libsonnet';\n"
            + bool_flag("tags: std.makeArray(3000000, function(i) 'tag' + i),"),
    "tailstrict": "local f(x) = f(x + 1) tailstrict;\nf(0)\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> FlagRepo:
    r = FlagRepo(tmp_path / "repo")
    r.set_config((r.root / "safeflags.yaml").read_text() + LIMITS)
    for key in GOOD:
        r.write(key, bool_flag())
    return r


def compile_now(repo: FlagRepo) -> CompileResult:
    return compile_repo(repo.root, revision="test", cache=False)


def good_bytes(result: CompileResult) -> bytes:
    """The bundle the good flags alone make, from this result."""
    compiled = [optimise(result.flag_facts(key).lowered.compiled()) for key in GOOD]
    return pack(compiled, result.config.dimension_protos(), "test", "test", optimised=True)[1]


@pytest.fixture
def baseline(repo: FlagRepo) -> bytes:
    result = compile_now(repo)
    assert result.ok, [e.format() for e in result.errors]
    return good_bytes(result)


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_a_bomb_is_a_located_error_and_its_batch_compiles_the_same(repo: FlagRepo, baseline: bytes,
                                                                   bomb: str) -> None:
    rel = repo.write("beta.bomb", BOMBS[bomb], header=False)
    result = compile_now(repo)
    assert [(e.file, e.line, e.code) for e in result.errors] == [(rel, 0, "SF101")]
    message = result.errors[0].message
    expected = {process.memory_message(256 << 20)}
    if bomb == "tailstrict":  # the Go stack's own limit may come first
        expected.add(process.STACK_MESSAGE)
    assert message in expected
    assert good_bytes(result) == baseline


def test_a_value_over_the_output_limit_is_refused_as_too_large(repo: FlagRepo, baseline: bytes) -> None:
    rel = repo.write("beta.big", bool_flag("tags: std.makeArray(50000, function(i) 'tag' + i),"))
    result = compile_now(repo)
    assert [(e.file, e.line, e.code) for e in result.errors] == [(rel, 0, "SF101")]
    assert "bytes of JSON, over the limit of 65,536" in result.errors[0].message
    assert good_bytes(result) == baseline


@pytest.mark.parametrize("batch", [pool.BATCH, 1])
def test_the_limit_holds_the_value_not_how_it_was_written(repo: FlagRepo, monkeypatch: pytest.MonkeyPatch,
                                                          batch: int) -> None:
    # Indented by the engine (one file alone) this value is over 64 KiB; compact (a batch) it is not.
    monkeypatch.setattr(pool, "BATCH", batch)
    repo.write("beta.wide", bool_flag("tags: std.makeArray(5000, function(i) 't%04d' % i),"))
    result = compile_now(repo)
    assert result.ok, [e.format() for e in result.errors]
    assert len(result.specs["beta.wide"].tags) == 5000


def test_a_large_value_is_parsed_under_the_deadline_in_its_evaluator(repo: FlagRepo) -> None:
    big = repo.write("beta.large", bool_flag("tags: std.makeArray(10000, function(i) 't%04d' % i),"))
    small = "flags/alpha/flag_0.jsonnet"
    config = load_config(repo.root)
    settings = replace(eval_settings(config), parse_config=digest(config.text), parse_from=PARSE_IN_WORKER_BYTES,
                       max_output=1 << 20)
    results = {res.path: res for res in pool.evaluate_files([big, small], settings, jobs=1)}
    assert len(results[big].json_text or "") >= PARSE_IN_WORKER_BYTES
    assert (results[big].parsed, results[small].parsed) == (True, False)
    assert results[big].spec and not results[big].problems


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from safeflags.cli.main import main; main()", *args], cwd=cwd,
                          env=dict(os.environ), capture_output=True, text=True, timeout=240, check=False)


def test_a_crashing_engine_prints_one_line_not_its_stack_dump(repo: FlagRepo) -> None:
    rel = repo.write("beta.loop", BOMBS["tailstrict"], header=False)
    proc = run_cli(repo.root, "compile", "--revision", "test")
    assert proc.returncode == 1
    assert "goroutine" not in proc.stderr and "runtime." not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, lines  # the error and the summary
    assert lines[0] in {f"{rel}: error SF101: {m}" for m in (process.memory_message(256 << 20), process.STACK_MESSAGE)}


def test_std_trace_still_reaches_the_author(repo: FlagRepo) -> None:
    repo.write("beta.traced", bool_flag(default="std.trace('looking at beta.traced', false)"))
    proc = run_cli(repo.root, "compile", "--revision", "test")
    assert proc.returncode == 0, proc.stderr
    assert "TRACE: flags/beta/traced.jsonnet" in proc.stderr and "looking at beta.traced" in proc.stderr


def test_a_stack_overflow_is_told_from_its_dump_split_across_reads() -> None:
    tail = process.StderrTail()
    dump = b"runtime: goroutine stack exceeds 1000000000-byte limit\nfatal error: stack overflow\n" + b"x" * 70000
    for i in range(0, len(dump), 7):
        tail.feed(dump[i:i + 7])
    assert tail.marks == {"stack"}
    assert process.death_message(tail.marks, -6, 1 << 30) == process.STACK_MESSAGE
    assert process.death_message(set(), -9, 1 << 30) == process.memory_message(1 << 30)
    assert process.death_message(set(), 3, 1 << 30) == "the evaluator process died (exit status 3)"


def test_the_memory_watch_reads_resident_memory_here() -> None:
    if not os.path.exists("/proc/self/statm"):
        pytest.skip("no /proc: only the deadline bounds an evaluator here")
    rss = process.resident_bytes(os.getpid())
    assert rss is not None and 1 << 20 < rss < 64 << 30
