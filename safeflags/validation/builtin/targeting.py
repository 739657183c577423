"""SF2xx: targeting logic — rules that can never match, prerequisites that
cannot be met. The logic runs over the compiled expression trees with the
abstract evaluator of safeflags.validation.domain, which over-approximates
the possible requests: these checks never report a rule that some request
could reach (a too-large partition is skipped, not guessed)."""
from __future__ import annotations

from collections.abc import Iterator

from safeflags.compile.suggest import did_you_mean
from safeflags.sdk.values import decoded
from safeflags.v1 import bundle_pb2, common_pb2, spec_pb2
from safeflags.validation.api import Context, FlagSpec, FlagValidator
from safeflags.validation.builtin.compile_errors import CompileErrorValidator
from safeflags.validation.changes import references
from safeflags.validation.domain import Space, Tree
from safeflags.validation.finding import Finding

C = spec_pb2.Condition


def _deliberately_false(c: spec_pb2.Condition) -> bool:
    """`never` and 0 % are written on purpose (a parked rule): not a mistake."""
    if c.op == C.OP_NEVER or (c.op == C.OP_PERCENT and c.percent <= 0):
        return True
    return any(_deliberately_false(x) for x in c.of)


def _label(rule: bundle_pb2.Rule) -> str:
    return rule.label.split(":")[0]


class ImpossibleCondition(FlagValidator):
    """A condition that can never be true.

    **What it catches**: an override's `when` or a rollout stage's `scope`
    that no request satisfies, given the declared enum values and the sets
    it tests: `region in [a] and region in [b]`, `tier in [x] and not tier
    in [x]`, `seats > 10 and seats < 5`.

    **Why**: the rule is dead code that reads as if it did something; a
    reviewer trusts a targeting rule that never fires.

    **How to fix**: correct the combinator (`sf.any` where `sf.all` was
    meant) or the values. To park a rule on purpose, write `sf.never`.

    **Example**: `sf.all([sf.dim.region.eq('us-east-1'), sf.dim.region.eq('eu-west-1')])`.
    """

    code = "SF202"
    name = "impossible-condition"

    def check_flag(self, flag: FlagSpec, ctx: Context) -> Iterator[Finding]:
        lowered = ctx.head.flag_facts(flag.key).lowered
        names = lowered.names
        conditions = [(f"override {i + 1}", o.when, expr, int(o.location.line))
                      for i, (o, expr) in enumerate(zip(flag.overrides, lowered.overrides, strict=True))]
        for i, (st, expr) in enumerate(zip(flag.rollout.stages, lowered.scopes, strict=True)):
            if expr is not None:
                conditions.append((f"the scope of rollout stage {i + 1} ({st.name})", st.scope, expr,
                                   int(flag.rollout.location.line)))
        for what, cond, expr, line in conditions:
            if _deliberately_false(cond):
                continue
            space = Space(ctx.head.config.dimensions, weighted=False)
            tree = Tree(expr, names)
            space.add(tree)
            truth = space.truth([tree.expr], names)
            if truth is None:
                continue  # too large to decide: skipped, never guessed
            if not truth[0]:
                yield self.at(flag, f"{what} can never be true: its parts contradict each other", line,
                              hint="use sf.any where sf.all was meant, or fix the values; "
                                   "write sf.never to park a rule")


class UnreachableRule(FlagValidator):
    """A rule unreachable because earlier rules already match everything it would.

    **What it catches**: an override (or the rollout) whose every matching
    request is already matched by an earlier override: rules are tried in
    order and the first match wins.

    **Why**: the later rule never serves; its author believes it does.
    Usually the order is wrong (a broad rule above a specific one).

    **How to fix**: move the specific rule above the broad one, or delete it.

    **Example**: `region in [us-east-1, us-east-2] → false` followed by
    `region in [us-east-1] → true`: the second never matches.
    """

    code = "SF201"
    name = "unreachable-rule"

    def check_flag(self, flag: FlagSpec, ctx: Context) -> Iterator[Finding]:
        # The rules without gates, and the same whether the flag is switched on or off.
        lowered = ctx.head.flag_facts(flag.key).lowered
        names = lowered.names
        rules = list(lowered.body.rules)
        if len(rules) < 2:
            return
        space = Space(ctx.head.config.dimensions, weighted=False)
        for r in rules:
            space.add(Tree(r.when, names))
        truth = space.truth([r.when for r in rules], names)
        if truth is None:
            return  # too large to decide: skipped, never guessed
        earlier = 0  # cells some earlier rule matches
        for j in range(1, len(rules)):
            earlier |= truth[j - 1]
            rows = truth[j]  # the cells rule j matches
            if not rows or rows & ~earlier:
                continue  # never true (SF202's business) or reachable
            single = next((i for i in range(j) if not rows & ~truth[i]), None)
            if single is not None:
                by = f"{_label(rules[single])} (line {rules[single].line}) matches every request it would, first"
            else:
                used = [i for i in range(j) if rows & truth[i]]
                by = " and ".join(_label(rules[i]) for i in used) + " together match every request it would, first"
            what = _label(rules[j])
            yield self.at(flag, f"{what} can never match: {by}", int(rules[j].line),
                          hint="move the more specific rule above the broader one, or delete it")


class Prerequisites(CompileErrorValidator):
    """Prerequisite missing, never met, in a cycle, or too deep or too wide.

    **What it catches**: a prerequisite (or an `sf.flagIs` condition, in an
    override or a rollout stage's scope) on a flag that does not exist; a
    prerequisite value the other flag never serves; flags that require each
    other in a cycle, including a flag that requires itself; a chain of
    prerequisites more than `limits.max_prerequisite_depth` flags deep below
    a flag (default 8), or a flag naming more than
    `limits.max_prerequisite_fanout` other flags (default 16), both set in
    safeflags.yaml (the base revision's, in pull-request mode). A cycle a
    pull request closes is reported at the prerequisite (or condition) it
    added, in the flag that got it; a cycle already in the base, at its
    first flag.

    **Why**: an unmet prerequisite serves the default: the flag is silently
    off for everyone. A cycle can never be met at all. Every flag of a chain
    is evaluated on each request that reads the top one, and a graph of
    prerequisites nobody can follow is a graph nobody can review.

    **How to fix**: name an existing flag and a value it serves; break the
    cycle by removing one edge; require the flag a chain ends in directly,
    or group many prerequisites behind one flag that requires them.

    **Example**: `prerequisites: [sf.prereq('search.semantic_ranker')]`
    (did you mean 'search.semantic_reranker'?).
    """

    code = "SF203"
    name = "prerequisite"

    def check(self, ctx: Context) -> Iterator[Finding]:
        # A flag that is its own prerequisite is a compile error under this code: the runner
        # reports it (runner.compile_findings). This adds what the compiler does not check.
        specs = ctx.head.specs
        edges: dict[str, list[tuple[str, int]]] = {}
        for key in sorted(specs):
            flag = specs[key]
            for p in flag.prerequisites:
                if p.flag != key:  # a self-prerequisite is the compiler's error
                    edges.setdefault(key, []).append((p.flag, int(p.location.line)))
                yield from self._target(ctx, flag, p.flag, p.value, int(p.location.line), "prerequisite")
            conditions = [(o.when, int(o.location.line)) for o in flag.overrides]
            conditions += [(st.scope, int(flag.rollout.location.line))
                           for st in flag.rollout.stages if st.HasField("scope")]
            for when, line in conditions:
                for ref, value, at in _flag_refs(when):
                    edges.setdefault(key, []).append((ref, at or line))
                    yield from self._target(ctx, flag, ref, value, at or line, "condition")
        yield from self._cycles(ctx, edges)
        yield from self._limits(ctx, edges)

    def _target(self, ctx: Context, flag: FlagSpec, ref: str, value: object, line: int, what: str) -> Iterator[Finding]:
        if ref == flag.key and what == "prerequisite":
            return  # the compiler reports it
        if ref not in ctx.all_keys:
            near = did_you_mean(ref, ctx.all_keys)
            hint = f"did you mean {near!r}?" if near else "create the flag first, or remove the reference"
            yield self.at(flag, f"{what} on {ref!r}, which is not a flag", line, hint=hint)
            return
        target = ctx.head.specs.get(ref)
        if target is None:
            return  # it failed to compile; that error is reported
        wanted = decoded(value)  # type: ignore[arg-type]
        problem = _impossible(target, wanted)
        if problem:
            yield self.at(flag, f"{what} on {ref!r} = {wanted!r} can never be met: {problem}", line)

    def _cycles(self, ctx: Context, edges: dict[str, list[tuple[str, int]]]) -> Iterator[Finding]:
        # A cycle the pull request closed is reported at an edge it added, in the flag that got
        # it (the smallest such key); one it found in the base, at its smallest flag.
        reported: set[frozenset[str]] = set()
        before: set[tuple[str, str]] | None = None
        for start in sorted(edges):
            path = _find_cycle(start, edges)
            if path is None or frozenset(path) in reported:
                continue
            reported.add(frozenset(path))
            ring = path[:-1]
            if before is None and ctx.base is not None:
                before = {(key, ref) for key, spec in ctx.base.specs.items() for ref in references(spec)}
            new = [i for i, key in enumerate(ring) if before is not None
                   and (key, ring[(i + 1) % len(ring)]) not in before]
            i = min(new, key=lambda i: ring[i]) if new else ring.index(min(ring))
            cycle = ring[i:] + ring[:i] + [ring[i]]
            line = next(ln for ref, ln in edges[cycle[0]] if ref == cycle[1])
            message = "prerequisite cycle: " + " → ".join(cycle) + " (never met)"
            if new:
                message += f": this change adds {cycle[0]} → {cycle[1]}"
            spec = ctx.head.specs[cycle[0]]
            origin = ctx.origins.of(spec.key) if new else None
            if origin is not None:  # the edge came from a template line the pull request changed
                yield self.finding(f"{message} ({spec.key}: {spec.location.file}:{line} via {origin})",
                                   file=origin.file, line=origin.line, column=origin.column, flag=spec.key,
                                   hint="remove the edge this change adds")
                continue
            yield self.at(spec, message, line, hint="remove the edge this change adds" if new
                          else "remove one of the edges")

    def _limits(self, ctx: Context, edges: dict[str, list[tuple[str, int]]]) -> Iterator[Finding]:
        # The judging revision's limits: in pull-request mode a change cannot raise its own.
        limits = (ctx.base if ctx.base is not None else ctx.head).config.model.limits
        specs = ctx.head.specs
        named = {key: _named(key, refs) for key, refs in edges.items()}
        for key in sorted(named):
            refs = named[key]
            if len(refs) > limits.max_prerequisite_fanout:
                line = refs[limits.max_prerequisite_fanout][1]
                yield self.at(specs[key], f"requires {len(refs)} other flags (prerequisites and flagIs conditions): "
                              f"more than limits.max_prerequisite_fanout ({limits.max_prerequisite_fanout})", line,
                              hint="group them behind one flag that requires them")
        depth = _depths({key: [ref for ref, _ in refs] for key, refs in named.items()})
        over = {key for key, (hops, _) in depth.items() if hops > limits.max_prerequisite_depth}
        # Where each chain that is too deep starts: a flag below another one that is too deep is part of its chain.
        below = {ref for key in over for ref, _ in named.get(key, []) if ref in over}
        for key in sorted(over - below):
            chain = [key]
            while (following := depth[chain[-1]][1]) is not None and len(chain) <= len(depth):
                chain.append(following)
            line = next(ln for ref, ln in named[key] if ref == chain[1])
            shown = chain if len(chain) <= 12 else [*chain[:10], "…", chain[-1]]
            yield self.at(specs[key], f"prerequisite chain {depth[key][0]} flags deep: " + " → ".join(shown)
                          + f" (more than limits.max_prerequisite_depth, {limits.max_prerequisite_depth})", line,
                          hint="require the flag the chain ends in directly, or shorten the chain")


def _named(key: str, refs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The other flags `key` names, each once, with the line that first names it."""
    seen: dict[str, int] = {}
    for ref, line in refs:
        if ref != key:
            seen.setdefault(ref, line)
    return list(seen.items())


def _depths(edges: dict[str, list[str]]) -> dict[str, tuple[int, str | None]]:
    """Flag -> (how many flags deep its longest chain of prerequisites goes,
    the next flag on that chain). A cycle is SF203's own error: an edge back
    into the chain being walked counts as the end of it. Iterative, so a chain
    of any length is walked without recursion."""
    done: dict[str, tuple[int, str | None]] = {}
    for start in sorted(edges):
        if start in done:
            continue
        walking = {start}
        stack = [(start, iter(sorted(edges.get(start, []))))]
        while stack:
            node, refs = stack[-1]
            ref = next(refs, None)
            if ref is None:
                best: tuple[int, str | None] = (0, None)
                for r in sorted(edges.get(node, [])):
                    if r in done and done[r][0] + 1 > best[0]:
                        best = (done[r][0] + 1, r)
                done[node] = best
                walking.discard(node)
                stack.pop()
            elif ref not in done and ref not in walking:
                walking.add(ref)
                stack.append((ref, iter(sorted(edges.get(ref, [])))))
    return done


def _flag_refs(c: spec_pb2.Condition) -> Iterator[tuple[str, object, int]]:
    """Each flag condition inside `c`: the flag, the value it asks for, and
    the line of the condition itself (0 when the compiler gave none)."""
    if c.op == C.OP_FLAG:
        yield c.flag, c.value, int(c.location.line)
    for x in c.of:
        yield from _flag_refs(x)


_TYPE_OK = {
    common_pb2.FLAG_TYPE_BOOL: lambda v: isinstance(v, bool),
    common_pb2.FLAG_TYPE_STRING: lambda v: isinstance(v, str),
    common_pb2.FLAG_TYPE_INT:
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer(),
    common_pb2.FLAG_TYPE_FLOAT: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def _impossible(target: FlagSpec, wanted: object) -> str | None:
    """Why `target` can never serve `wanted`, or None. Only the type and the
    declared variants count: a flag that is off today may be switched on."""
    ok = _TYPE_OK.get(target.type)
    if ok is not None and not ok(wanted):
        return f"that flag is of type {common_pb2.FlagType.Name(target.type).removeprefix('FLAG_TYPE_').lower()}"
    if target.variants and target.type != common_pb2.FLAG_TYPE_JSON:
        values = [decoded(v.value) for v in target.variants]
        if wanted not in values:
            return "that flag serves only its variants " + ", ".join(repr(v) for v in values)
    return None


def _find_cycle(start: str, edges: dict[str, list[tuple[str, int]]]) -> list[str] | None:
    """A cycle through `start` (as a closed path), by depth-first search."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for ref, _ in sorted(edges.get(node, []), reverse=True):
            if ref == start:
                return [*path, start]
            if ref not in seen:
                seen.add(ref)
                stack.append((ref, [*path, ref]))
    return None
