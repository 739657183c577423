"""Cost of prerequisites: a graph of layers, each flag requiring every flag of
the next layer, against a plain flag; prints one line per figure.

    python benchmarks/prerequisites.py [--layers 8] [--width 8] [--runs 7] [--calls 2000]

The graph's top flag reaches every flag below it on 8^7 paths; each is
evaluated once per request, so a call costs about the graph's 57 flags. A
graph without cuts is compiled into one function that computes each flag it
reaches once, as a local (codegen.compile_graph); past graph.MAX_INLINED
flags, or with a cycle, the request's memo of prerequisites does it, one
call per flag. Each figure is the median over `--runs` runs of the mean
per-call time of `--calls` calls (µs); the plain flag gets 100 times the
calls. Figures: the generated code (`get_bool`), `details`, the memo path
(inlining switched off), and the reference interpreter, on a request that
meets every prerequisite (the whole graph is evaluated).
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from safeflags import Evaluator, Snapshot
from safeflags.sdk import graph
from safeflags.v1 import bundle_pb2, common_pb2

PLAN = 0  # the one dimension: `plan`, a string
CTX = {"plan": "pro"}


def _flag(key: str, when: bundle_pb2.Expr) -> bundle_pb2.CompiledFlag:
    values = [common_pb2.Value(bool_value=False), common_pb2.Value(bool_value=True)]
    return bundle_pb2.CompiledFlag(key=key, type=common_pb2.FLAG_TYPE_BOOL, values=values,
                                   rules=[bundle_pb2.Rule(when=when, value=1)], fallback=0)


def bundle(layers: int, width: int) -> bundle_pb2.Bundle:
    plan_is_pro = bundle_pb2.Expr(**{"in": bundle_pb2.InSet(dim=PLAN, strings=[0])})
    flags = [_flag("plain", plan_is_pro)]
    true = common_pb2.Value(bool_value=True)
    for layer in range(layers):
        for i in range(width):
            if layer + 1 == layers:
                when = plan_is_pro
            else:
                below = [bundle_pb2.Expr(flag=bundle_pb2.FlagIs(key=f"p{layer + 1}.f{j}", value=true))
                         for j in range(width)]
                when = bundle_pb2.Expr(all=bundle_pb2.ExprList(items=below))
            flags.append(_flag(f"p{layer}.f{i}", when))
    dims = [common_pb2.Dimension(name="plan", type=common_pb2.DIMENSION_TYPE_STRING)]
    flags.sort(key=lambda f: f.key)
    return bundle_pb2.Bundle(format_version=1, dimensions=dims, strings=["pro"], flags=flags)


def per_call_us(call: Callable[[], object], calls: int, runs: int) -> float:
    results = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            call()
        results.append((time.perf_counter_ns() - t0) / calls / 1000)
    return statistics.median(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    client = Evaluator(Snapshot(bundle(args.layers, args.width)))
    snap = client.snapshot
    snap.warm()
    top, reached = "p0.f0", 1 + (args.layers - 1) * args.width
    inlining = graph.MAX_INLINED
    graph.MAX_INLINED = 0  # prepared now, each flag keeps the memo path
    memo = Evaluator(Snapshot(bundle(args.layers, args.width)))
    memo.snapshot.warm()
    graph.MAX_INLINED = inlining
    assert client.get_bool(top, None, CTX) is True and client.get_bool("plain", None, CTX) is True
    assert memo.get_bool(top, None, CTX) is True
    figures = [
        ("plain flag, get_bool", per_call_us(lambda: client.get_bool("plain", None, CTX),
                                             args.calls * 100, args.runs)),
        (f"{args.layers}x{args.width} graph, get_bool", per_call_us(lambda: client.get_bool(top, None, CTX),
                                                                     args.calls, args.runs)),
        (f"{args.layers}x{args.width} graph, details", per_call_us(lambda: client.details(top, None, CTX),
                                                                    args.calls, args.runs)),
        (f"{args.layers}x{args.width} graph, memo, get_bool", per_call_us(lambda: memo.get_bool(top, None, CTX),
                                                                       max(1, args.calls // 10), args.runs)),
        (f"{args.layers}x{args.width} graph, interpreter",
         per_call_us(lambda: snap.reference(snap.flags[top], CTX), max(1, args.calls // 10), args.runs)),
    ]
    print(f"prerequisites: {args.layers} layers of {args.width} flags, each requiring every flag of the next; "
          f"the top flag reaches {reached} flags on {args.width ** (args.layers - 1):,} paths")
    for name, us in figures:
        print(f"  {name:<32} {us:>10.2f} µs per call (median of {args.runs} runs)")


if __name__ == "__main__":
    main()
