"""Regex conditions cannot stall a request: the catastrophic corpus of
tests/security/test_regex.py against its 10 kB adversarial inputs, evaluated
through the Evaluator; prints the time per pattern and the maximum.

    python benchmarks/redos.py [--repeat 5]

Per pattern, one flag `plan matches PATTERN` in a hand-built bundle (no
compiler check), prepared before timing. Each input is evaluated `--repeat`
times by `get_bool` (the generated code) and by the reference interpreter
(the fallback path), and the best time of each is kept (the least disturbed
by the rest of the machine); the row shows the slowest input. A pattern RE2
does not compile is shown as refused: its flag serves the code default.
Under Python's `re`, the first row alone would take longer than a lifetime.
"""
from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from safeflags.sdk.evaluator import Evaluator
from tests.security.test_regex import CORPUS, INPUTS, snapshot_of

KEY = "rx.p000"


def best_ms(call: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        call()
        best = min(best, time.perf_counter_ns() - t0)
    return best / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    sizes = sorted({len(s) for s in INPUTS})
    print(f"{len(CORPUS)} patterns x {len(INPUTS)} inputs of {sizes[0]}-{sizes[-1]} characters; "
          f"ms per evaluation, slowest input, best of {args.repeat}")
    print(f"{'generated':>10} {'interpreter':>12}  pattern")
    worst = 0.0
    for pattern in CORPUS:
        snap = snapshot_of([pattern])
        client = Evaluator(snap)
        entry = snap.entry(KEY)
        if entry is None or entry.error is not None:
            print(f"{'refused':>10} {'refused':>12}  {pattern}")
            continue
        flag = snap.flags[KEY]
        fast = slow = 0.0
        for text in INPUTS:
            ctx = {"plan": text}
            fast = max(fast, best_ms(functools.partial(client.get_bool, KEY, None, ctx), args.repeat))
            slow = max(slow, best_ms(functools.partial(snap.reference, flag, ctx), args.repeat))
        worst = max(worst, fast, slow)
        print(f"{fast:>10.3f} {slow:>12.3f}  {pattern}")
    print(f"max: {worst:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
