"""Compile a specialised flag into one plain Python function.

The generated function reads the request context with `ctx.get`, type-checks
each value inline (a wrong type is simply false) and returns a prebuilt
outcome: the flag's Python value for `get_*`, or an `Resolution` for `details`.
Shape of the code, for `country in {US, CA, GB} and plan == "pro"`:

    def _flag(ctx, _stack, _served, _type, _norm, _d0, _k1, _d2, _k3, _o4, _o5):
        if ctx.__class__ is not dict:
            ctx = _norm(ctx)
        if ((_type(_v0 := ctx.get(_d0)) is str and _v0 in _k1)
                and (_type(_v1 := ctx.get(_d2)) is str and _v1 in _k3)):
            return _o4
        return _o5

Safety and speed come from the same choices:
- nothing from the bundle is ever written into the source text; dimension
  names, sets, compiled regexes, salts and outcomes are bound as parameter
  defaults (the fastest variable access CPython has), and identifiers are
  generated, so a flag cannot inject code;
- because the source depends only on the tree's shape, code objects are
  cached by source and shared by every flag of the same shape (memory and
  compile time stay flat on large bundles);
- hashing happens only when evaluation reaches a bucket node or a split;
- a flag whose prerequisites form a graph without cuts is one function
  (`compile_graph`): each flag it reaches is computed once, into a local.

A generated function may raise on a value it does not handle inline (a str
with a lone surrogate, an int too long to print): the caller then falls back
to the reference interpreter for that request, which handles every value.
"""
from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Mapping, Sequence
from types import CodeType, FunctionType

import mmh3

from safeflags.sdk.details import ErrorCode, EvaluationError, Reason, Resolution
from safeflags.sdk.interpret import PrerequisiteMemo, same_kind
from safeflags.sdk.kernel import regex, semver, timestamps
from safeflags.sdk.kernel.bucketing import BUCKETS
from safeflags.sdk.nodes import Dispatch, kind_of
from safeflags.sdk.partial import SpecializedFlag
from safeflags.sdk.values import decoded, strict_equal
from safeflags.v1 import bundle_pb2

C = bundle_pb2.Compare
M = bundle_pb2.Match

_OPS = {C.OP_LT: "<", C.OP_LE: "<=", C.OP_GT: ">", C.OP_GE: ">=", C.OP_EQ: "=="}
_STR_METHODS = {M.OP_PREFIX: "startswith", M.OP_SUFFIX: "endswith"}

FlagIsHelper = Callable[[str, object, Mapping[str, object], "tuple[str, ...]", PrerequisiteMemo], bool]
"""(key, expected decoded value, ctx, path, what this request's prerequisites
served) -> whether the prerequisite holds."""

_EMPTY: Mapping[str, object] = {}


def normalize_context(ctx: object) -> Mapping[str, object]:
    """The context a request gave, as a mapping: None is empty; anything that
    is not a mapping is an invalid context."""
    if ctx is None:
        return _EMPTY
    if isinstance(ctx, Mapping):
        return ctx
    raise EvaluationError(ErrorCode.INVALID_CONTEXT, f"context must be a mapping, not {type(ctx).__name__}")


_CODE_CACHE: dict[str, CodeType] = {}
_CODE_CACHE_MAX = 4096
_CODE_CACHE_MAX_CHARS = 4 << 20
"""Source kept by the code cache, in characters (a code object is of the same
order): the cache outlives bundles, and a bundle chooses its trees' sizes."""
_CODE_CACHE_LONGEST = 64 << 10
"""A longer source is compiled for its flag alone and not kept: a shape that
large is not shared by other flags."""
_code_cache_chars = 0
MAX_GRAPH_SOURCE = 1 << 20
"""Source of one graph's function (compile_graph), in characters, at most: a
larger graph keeps the memo path rather than cost its preparation."""
_CODE_LOCK = threading.Lock()
_GLOBALS = {"__builtins__": builtins}


class _Emitter:
    """Accumulates one function's source and the values its parameters bind."""

    def __init__(self, names: Sequence[str], strings: Sequence[str], flag_is: FlagIsHelper | None):
        self.names = names
        self.strings = strings
        self.params: list[tuple[str, object]] = [("_type", type), ("_norm", normalize_context)]
        self.dims: dict[int, str] = {}
        self.flag_is = flag_is
        self.uses_path = False
        self.counter = 0
        # For a graph compiled as one function (compile_graph): prerequisite key -> (local holding
        # the value index it serves, its decoded values), or -> the decoded value of a constant one.
        self.inlined: dict[str, tuple[str, tuple[object, ...]]] = {}
        self.folded: dict[str, object] = {}
        self.indices: dict[int, str] = {}

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def bind(self, value: object) -> str:
        name = self.fresh("_k")
        self.params.append((name, value))
        return name

    def index(self, i: int) -> str:
        """A parameter holding value index `i`, one per index: a graph compares many."""
        if i not in self.indices:
            self.indices[i] = self.bind(i)
        return self.indices[i]

    def dim(self, index: int) -> str:
        if index not in self.dims:
            self.dims[index] = self.fresh("_d")
            self.params.append((self.dims[index], self.names[index]))
        return self.dims[index]

    def read(self, index: int) -> tuple[str, str]:
        """(walrus expression reading the dimension, variable holding the value)."""
        var = self.fresh("_v")
        return f"({var} := ctx.get({self.dim(index)}))", var

    def expr(self, e: bundle_pb2.Expr) -> str:
        """Python source for `e`; UnknownNode for a node without a known kind."""
        return EMIT.of(e)(self, e)

    def constant(self, e: bundle_pb2.Expr) -> str:
        return "True" if e.constant else "False"

    def items(self, e: bundle_pb2.Expr) -> str:
        kind = kind_of(e)
        parts = [self.expr(item) for item in getattr(e, kind).items]
        if not parts:
            return "True" if kind == "all" else "False"
        return "(" + f" {'and' if kind == 'all' else 'or'} ".join(parts) + ")"

    def negation(self, e: bundle_pb2.Expr) -> str:
        return f"(not {self.expr(getattr(e, 'not'))})"

    def present(self, e: bundle_pb2.Expr) -> str:
        return f"(ctx.get({self.dim(e.present.dim)}) is not None)"

    def bucket(self, e: bundle_pb2.Expr) -> str:
        b = e.bucket
        read, var = self.read(b.unit)
        h = self.hashed(b.salt, var)
        hi = self.bind(b.hi)
        lo = f"{self.bind(b.lo)} <= " if b.lo else ""  # most ranges start at 0
        t = self.fresh("_t")
        return (
            f"((({t} := _type({read})) is str and {lo}{h.format(var)} < {hi}) or "
            f"({t} is int and {lo}{h.format(f'str({var})')} < {hi}))"
        )

    def flag(self, e: bundle_pb2.Expr) -> str:
        key = e.flag.key
        if key in self.inlined or key in self.folded:
            expected = decoded(e.flag.value)
            if key in self.folded:
                return "True" if strict_equal(self.folded[key], expected) else "False"
            var, values = self.inlined[key]
            hits = [i for i, v in enumerate(values) if strict_equal(v, expected)]
            if len(hits) == 1:
                return f"({var} == {self.index(hits[0])})"
            return f"({var} in {self.bind(frozenset(hits))})" if hits else "False"
        if self.flag_is is None:
            raise ValueError("prerequisite without a flag_is helper")
        self.uses_path = True
        helper = self.bind(self.flag_is)
        return f"{helper}({self.bind(e.flag.key)}, {self.bind(decoded(e.flag.value))}, ctx, _path, _served)"

    def hashed(self, salt: str, var: str) -> str:
        """A format string hashing `{}` (an expression yielding a str) under `salt`."""
        prefix = self.bind((salt + ":").encode("utf-8", "surrogatepass"))
        h, mod = self.bind(mmh3.hash), self.bind(BUCKETS)
        return f"{h}({prefix} + {{}}.encode(), 0, False) % {mod}"

    def in_set(self, inset: bundle_pb2.InSet) -> str:
        members = [self.strings[i] for i in inset.strings] + [decoded(v) for v in inset.values]
        strs = frozenset(m for m in members if same_kind(m, ""))
        nums = frozenset(m for m in members if same_kind(m, 0))
        bools = frozenset(m for m in members if same_kind(m, True))
        kinds: list[tuple[str, frozenset[object]]] = []
        if strs:
            kinds.append(("{first} is str", strs))
        if nums:
            kinds.append(("({first} is int or {t} is float)", nums))
        if bools:
            kinds.append(("{first} is bool", bools))
        if not kinds:
            return "False"
        read, var = self.read(inset.dim)
        t = self.fresh("_t")
        # Only the first test reads the context; the others reuse its type.
        first = f"({t} := _type({read}))"
        tests = []
        for i, (kind, group) in enumerate(kinds):
            test = kind.format(first=first if i == 0 else t, t=t)
            tests.append(f"({test} and {var} in {self.bind(group)})")
        return "(" + " or ".join(tests) + ")"

    def compare(self, c: bundle_pb2.Compare) -> str:
        op = _OPS[c.op]
        read, var = self.read(c.dim)
        if c.kind == C.KIND_NUMBER:
            t = self.fresh("_t")
            return f"((({t} := _type({read})) is int or {t} is float) and {var} {op} {self.bind(c.number)})"
        if c.kind == C.KIND_SEMVER:
            right = semver.parse(c.text)
            if right is None:
                return "False"
            key = self.fresh("_s")
            parse = self.bind(semver.parse)
            return (
                f"(_type({read}) is str and ({key} := {parse}({var})) is not None "
                f"and {key} {op} {self.bind(right)})"
            )
        if c.kind == C.KIND_TIMESTAMP:
            epoch = self.fresh("_e")
            to_epoch = self.bind(timestamps.to_epoch)
            return f"(({epoch} := {to_epoch}({read})) is not None and {epoch} {op} {self.bind(c.number)})"
        raise ValueError(f"unknown comparison kind {c.kind}")

    def match(self, m: bundle_pb2.Match) -> str:
        read, var = self.read(m.dim)
        head = f"(_type({read}) is str and "
        if m.op == M.OP_REGEX:
            # The RE2 pattern check_flag compiled at load, bound: the call never compiles.
            search = self.bind(regex.compiled(m.pattern, m.ignore_case).search)
            return head + f"{search}({var}))"
        text = f"{var}.casefold()" if m.ignore_case else var
        pattern = self.bind(m.pattern.casefold() if m.ignore_case else m.pattern)
        if m.op == M.OP_CONTAINS:
            return head + f"{pattern} in {text})"
        return head + f"{text}.{_STR_METHODS[m.op]}({pattern}))"


# Dispatch happens while the source is written: the generated code has none.
EMIT: Dispatch[Callable[[_Emitter, bundle_pb2.Expr], str]] = Dispatch("codegen", {
    "constant": _Emitter.constant,
    "all": _Emitter.items,
    "any": _Emitter.items,
    "not": _Emitter.negation,
    "in": lambda em, e: em.in_set(getattr(e, "in")),
    "compare": lambda em, e: em.compare(e.compare),
    "match": lambda em, e: em.match(e.match),
    "present": _Emitter.present,
    "bucket": _Emitter.bucket,
    "flag": _Emitter.flag,
})


def compile_flag(
    spec: SpecializedFlag,
    outcomes: Sequence[object],
    names: Sequence[str],
    strings: Sequence[str],
    flag_is: FlagIsHelper | None = None,
    detail: bool = False,
) -> Callable[..., object]:
    """A function `(ctx, _stack=(), _served=None) -> outcome` for a non-constant
    flag; a prerequisite calls it with its own path and the request's
    `PrerequisiteMemo`.

    `outcomes` holds what to return for each value index (the Python value
    for `get_*`); with `detail`, the function returns `Resolution`s built from
    each rule's reason and index instead.
    """
    em = _Emitter(names, strings, flag_is)
    body = _outcomes(em, spec, outcomes, detail, "    ")
    head = ["    if ctx.__class__ is not dict:", "        ctx = _norm(ctx)"]
    if em.uses_path:
        # Only a flag with prerequisites pays for the request's memo of them (made by the first such flag).
        head.append(f"    _path = _stack + ({em.bind(spec.flag.key)},)")
        head.append("    if _served is None:")
        head.append(f"        _served = {em.bind(PrerequisiteMemo)}()")
    params = ", ".join(name for name, _ in em.params)
    source = "\n".join([f"def _flag(ctx, _stack, _served, {params}):", *head, *body]) + "\n"
    defaults = ((), None, *(value for _, value in em.params))
    return FunctionType(_code(source), _GLOBALS, "_flag", defaults)


def compile_graph(
    spec: SpecializedFlag,
    outcomes: Sequence[object],
    names: Sequence[str],
    strings: Sequence[str],
    reached: Sequence[SpecializedFlag],
    memo: Callable[..., object],
    detail: bool = False,
    trace: Callable[[str], object] | None = None,
) -> Callable[..., object]:
    """`compile_flag` for a flag whose prerequisites form a graph without cuts:
    one function that computes the value index each flag of `reached` serves,
    once, into a local (a flag after the flags it requires), then `spec`'s
    rules over those locals. No memo, no call per prerequisite.

    `reached` is every flag the prerequisites reach, none split, none on a
    cycle, none past MAX_FLAG_DEPTH (the caller's walk): then evaluating each
    once, all of them, answers what the memo's lazy walk would. `memo` (the
    `compile_flag` function) serves a request that arrives as a prerequisite,
    and one the inline code raises on (a value it does not take inline), so
    that request goes the way it went without inlining. `trace(key)` is
    called as each flag is computed, for tests that count evaluations."""
    em = _Emitter(names, strings, None)
    body: list[str] = []
    tracer = em.bind(trace) if trace is not None else None
    if tracer is not None:
        body.append(f"        {tracer}({em.bind(spec.flag.key)})")
    for prereq in reached:
        key = prereq.flag.key
        values = tuple(decoded(v) for v in prereq.flag.values)
        if prereq.constant is not None:
            em.folded[key] = values[prereq.constant.value_index]
            continue
        if tracer is not None:
            body.append(f"        {tracer}({em.bind(key)})")
        var = em.fresh("_x")
        for i, rule in enumerate(prereq.rules):
            if rule.value is None:
                raise ValueError(f"prerequisite {key!r} splits: not inlined")
            body.append(f"        {'elif' if i else 'if'} {em.expr(rule.when)}:")
            body.append(f"            {var} = {em.index(rule.value)}")
        fallback = f"{var} = {em.index(prereq.flag.fallback)}"
        body.extend(["        else:", f"            {fallback}"] if prereq.rules else [f"        {fallback}"])
        em.inlined[key] = (var, values)
    body.extend(_outcomes(em, spec, outcomes, detail, "        "))
    memo_fn = em.bind(memo)
    head = [
        "    if _served is not None or _stack:",  # met as a prerequisite: the request's memo decides
        f"        return {memo_fn}(ctx, _stack, _served)",
        "    if ctx.__class__ is not dict:",
        "        ctx = _norm(ctx)",
        "    try:",
    ]
    tail = ["    except Exception:", f"        return {memo_fn}(ctx)"]
    params = ", ".join(name for name, _ in em.params)
    source = "\n".join([f"def _graph(ctx, _stack, _served, {params}):", *head, *body, *tail]) + "\n"
    if len(source) > MAX_GRAPH_SOURCE:
        raise ValueError(f"{spec.flag.key!r}: graph too large to inline ({len(source):,} characters)")
    defaults = ((), None, *(value for _, value in em.params))
    return FunctionType(_code(source), _GLOBALS, "_graph", defaults)


def _outcomes(em: _Emitter, spec: SpecializedFlag, outcomes: Sequence[object], detail: bool, pad: str) -> list[str]:
    """Lines returning `spec`'s outcome (its rules in order, then its fallback), indented by `pad`."""
    body: list[str] = []
    for rule in spec.rules:
        body.append(f"{pad}if {em.expr(rule.when)}:")
        if rule.split is None:
            assert rule.value is not None
            result = Resolution(rule.value, rule.reason, rule.index) if detail else outcomes[rule.value]
            body.append(f"{pad}    return {em.bind(result)}")
            continue
        split = rule.split
        read, var = em.read(split.unit)
        b, t = em.fresh("_b"), em.fresh("_t")
        h = em.hashed(split.salt, var)
        # An unusable unit gets bucket BUCKETS, past every arm: the rule does not match.
        body.append(f"{pad}    {t} = _type({read})")
        body.append(f"{pad}    if {t} is str:")
        body.append(f"{pad}        {b} = {h.format(var)}")
        body.append(f"{pad}    elif {t} is int:")
        body.append(f"{pad}        {b} = {h.format(f'str({var})')}")
        body.append(f"{pad}    else:")
        body.append(f"{pad}        {b} = {em.bind(BUCKETS)}")
        for arm in split.arms:
            result = Resolution(arm.value, rule.reason, rule.index) if detail else outcomes[arm.value]
            body.append(f"{pad}    if {b} < {em.bind(arm.upper)}:")
            body.append(f"{pad}        return {em.bind(result)}")
    fallback = spec.flag.fallback
    result = Resolution(fallback, Reason.DEFAULT, None) if detail else outcomes[fallback]
    body.append(f"{pad}return {em.bind(result)}")
    return body


def _code(source: str) -> CodeType:
    global _code_cache_chars
    code = _CODE_CACHE.get(source)
    if code is None:
        module = compile(source, "<safeflags flag>", "exec")
        code = next(c for c in module.co_consts if isinstance(c, CodeType))
        if len(source) > _CODE_CACHE_LONGEST:
            return code
        with _CODE_LOCK:
            if len(_CODE_CACHE) >= _CODE_CACHE_MAX or _code_cache_chars + len(source) > _CODE_CACHE_MAX_CHARS:
                _CODE_CACHE.clear()  # shapes are few; a bundle with more simply recompiles
                _code_cache_chars = 0
            if source not in _CODE_CACHE:
                _CODE_CACHE[source] = code
                _code_cache_chars += len(source)
    return code
