"""Numba kernels printed from a loop schedule (:mod:`indexcalc.lower.fuse`): one
``@numba.njit`` function per run of loops between library calls.

The outermost loop of each nest runs in chunks over ``numba.prange`` (one chunk per
thread; its index is unsigned, so that Numba checks no negative index and LLVM loads
vectors, not gathers); what it accumulates across rows goes to per-chunk partials,
combined after it.
Every number is of the data's dtype: constants are written ``_F(0.5)`` (``_F`` is the
dtype, an argument: ``np.float32`` or ``np.float64``), numbers computed from sizes come in
as arguments, and every function keeps float32 (``np.log`` of a float32 is a float32 in
Numba; ``_tanh``, ``_exp``, ``_erf`` are :mod:`indexcalc.backends.vecmath`'s), so float32 data
is computed, and accumulated, in float32.

    >>> import indexcalc as ic
    >>> from indexcalc.backends.numba import numba_source
    >>> src = numba_source(ic.parse("s[b] = sum[i](tanh(x[b,i]))"), "f")
    >>> print(src[src.index("def _k1("):src.index("def f")].strip())
    def _k1(x, s, n_x_0, n_x_1, _nt, _F):
        _nc = min(_nt, n_x_0)
        for _ch in numba.prange(_nc):
            for _b in range(np.uint64(_ch*n_x_0//_nc), np.uint64((_ch + 1)*n_x_0//_nc)):
                _a1 = _F(0)
                for _i in range(n_x_1):
                    _a1 += _tanh(x[_b, _i])
                s[_b] = _a1
"""

from __future__ import annotations

import re

import sympy as sp

from indexcalc.backends.blocked import tiled_nest
from indexcalc.backends.dialect import factor, literal, power
from indexcalc.backends.spelling import NUMBA  # element-wise functions of scalars of the data's dtype
from indexcalc.backends.loop_gathers import GatherLoops
from indexcalc.backends.loop_sums import SumLoops
from indexcalc.backends.loop_windows import WindowLoops
from indexcalc.lower.fuse import Loop, letter
from indexcalc.lower.ir import ACCUMULATED, COMPARISONS, Broadcast, Const, Contract, Diagonal, Eye, Gather, Input, \
    LogSumExp, Map, MatFunc, Max, Min, Outer, Position, Prior, Scan, Scanned, ScatterAdd, Size, Window, WindowAdd

START = {"sum": "_F(0)", "max": "_F(-np.inf)", "min": "_F(np.inf)"}
EXTREMUM = {"max": "_fmax", "min": "_fmin"}  # NaN wins, as np.max (vecmath.py)


class Kernels(GatherLoops, WindowLoops, SumLoops):
    """Prints the kernels of schedule ``s``; ``names``: node -> variable name (inputs and
    computed nodes), ``statics``: node -> argument name, ``sizes``: size class -> size
    variable. ``prange``: what the chunks of an outermost loop run over (``numba.prange``,
    or ``range`` for a serial kernel). After :meth:`kernel`, ``params`` are the names it
    takes, in order."""

    def __init__(self, s, names, statics, sizes, taken):
        self.s, self.g, self.names, self.statics, self.sizes = s, s.g, names, statics, sizes
        self.prange = "numba.prange"
        self.taken = set(taken)
        self.n = {k: i for i, k in enumerate(sorted(s.computed), 1)}

    def kernel(self, fname, items, order) -> str:
        """``def fname(...)`` running ``items``; ``order``: every name a kernel may take,
        in the order the parameters are listed."""
        self.used, self.lines, self.var, self.inner = set(), [], {}, None
        self.unsigned, self.safe, self.hoisted, self.partials = set(), set(), {}, {}
        self.block(items, 1, [])
        params = [n for n in order if n in self.used] + (["_nt"] if "_nt" in self.used else []) + ["_F"]
        self.params = params
        return f"def {fname}({', '.join(params)}):\n" + "".join(f"{line}\n" for line in self.lines)

    # --- statements --------------------------------------------------------------------
    def emit(self, depth, line):
        self.lines.append("    " * depth + line)

    def block(self, items, depth, scope):
        for item in items:
            if isinstance(item, Loop):
                self.loop(item, depth, scope)
            else:
                self.inner = scope[-1] if scope else None
                self.step(item, depth)

    def loop(self, loop, depth, scope):
        name = letter(loop.cls)
        var, n = f"_{name}", 1
        while var in self.taken or var in scope:
            n += 1
            var = f"_{name}{n}"
        self.var[id(loop)] = var
        size = self.size(loop.cls)
        if depth > 1:
            self.unsigned.add(var)  # if narrowed: unsigned, no test of a negative index (LLVM vectorizes)
            low, high, safe = self.narrowed(loop, var, size)
            if not safe:
                self.unsigned.discard(var)
            hoisted = self.hoist(loop, depth, scope + [var])
            part = self.partial_sum(loop, scope + [var])  # loop_sums.py: the loop's own sum
            if part:
                self.emit(depth, f"{part[1]} = _F(0)")
                self.partials[part[0]] = part[1]
            if safe:
                self.emit(depth, f"for {var} in range(np.uint64({low or 0}), np.uint64({high})):")
            else:
                self.emit(depth, f"for {var} in range({size}):")
            self.safe |= safe
            self.block(loop.items, depth + 1, scope + [var])
            self.safe -= safe
            if part:
                del self.partials[part[0]]
                self.step(loop.items[0], depth, added=part[1])
            for key in hoisted:
                del self.hoisted[key]
            return
        self.unsigned.add(var)
        self.used.add("_nt")
        self.emit(depth, f"_nc = min(_nt, {size})")
        for k in self.buffers(loop):
            shape = ", ".join(["_nc"] + [self.size(self.cls(k, i)) for i in self.s.storage[k]])
            self.emit(depth, f"{self.names[k]} = np.empty(({shape}), {'np.int64' if k in self.integral else '_F'})")
        for k in loop.crosses:
            shape = ", ".join(["_nc"] + [self.size(self.cls(k, self.s.layout[k][j])) for j in range(self.g[k].rank)
                                         if not self.scalar(k)])
            self.emit(depth, f"_p{self.n[k]} = np.empty(({shape},), _F)")
            if not self.scalar(k):
                self.emit(depth, f"_p{self.n[k]}[:] = {START[self.s.kind[k]]}")
        at = len(self.lines)
        self.emit(depth, f"for _ch in {self.prange}(_nc):")
        for k in loop.crosses:
            if self.scalar(k):
                self.emit(depth + 1, f"_r{self.n[k]} = {START[self.s.kind[k]]}")
        self.emit(depth + 1, f"for {var} in range(np.uint64(_ch*{size}//_nc), np.uint64((_ch + 1)*{size}//_nc)):")
        self.block(loop.items, depth + 2, scope + [var])
        tiles = None if loop.crosses else tiled_nest(self.lines[at:])  # A + A.T: square tiles
        self.lines[at:] = tiles or self.lines[at:]
        for k in loop.crosses:
            if self.scalar(k):
                self.emit(depth + 1, f"_p{self.n[k]}[_ch] = _r{self.n[k]}")
        for k in loop.crosses:
            self.combine(k, depth)

    def combine(self, k, depth):
        """The partials of cross accumulation ``k``, combined after its loop."""
        p, kind = f"_p{self.n[k]}", self.s.kind[k]
        if self.scalar(k):
            self.emit(depth, f"{self.acc(k)} = {p}[0]")
            self.accumulate(depth, self.acc(k), f"{p}[_cq]", kind, loop="for _cq in range(1, _nc):")
            return
        target = self.names[k]
        self.used.add(target)
        self.emit(depth, f"_src, _dst = {p}.reshape(_nc, -1), {target}.reshape(-1)")
        self.emit(depth, "for _cj in range(_dst.size):")
        self.emit(depth + 1, "_cv = _src[0, _cj]")
        self.accumulate(depth + 1, "_cv", "_src[_cq, _cj]", kind, loop="for _cq in range(1, _nc):")
        self.emit(depth + 1, "_dst[_cj] = _cv")

    def accumulate(self, depth, target, term, kind, loop=None):
        """``target`` accumulates ``term`` (``kind``: the schedule's sum, max or min)."""
        if loop:
            self.emit(depth, loop)
            depth += 1
        if kind == "sum":
            self.emit(depth, f"{target} += {term}")
        else:
            self.emit(depth, f"{target} = {EXTREMUM[kind]}({target}, {term})")

    def step(self, step, depth, added=None):
        """Print ``step``; ``added``: what an ``acc`` step adds in place of its term (an
        inner loop's partial sum, :meth:`partial_sum`)."""
        k = step.node
        if step.kind == "numpy":
            raise AssertionError("a library call inside a kernel")
        cross = self.cross(k)
        if step.kind == "init":
            if self.scalar(k) and not cross:
                self.emit(depth, f"{self.acc(k)} = {START[self.s.kind[k]]}")
            elif not cross:
                self.emit(depth, f"{self.target(k, region=True)} = {START[self.s.kind[k]]}")
        elif step.kind == "fin":
            if self.s.storage[k] != "local":
                self.emit(depth, f"{self.target(k)} = {self.acc(k)}")
        elif step.kind == "acc":
            target = (f"_r{self.n[k]}" if self.scalar(k) else self.partial(k)) if cross else \
                self.acc(k) if self.scalar(k) else self.target(k)
            target, term = (self.partials[k], self.term(k)) if k in self.partials else (target, added or self.term(k))
            self.accumulate(depth, target, term, self.s.kind[k])
        else:
            self.emit(depth, f"{self.target(k)} = {self.term(k)}")

    def cross(self, k) -> bool:
        """Whether ``k`` accumulates across the iterations of its parallel loop."""
        order = self.s.order[k]
        return bool(order) and k in self.s.loops[k][order[0]].crosses

    def scalar(self, k) -> bool:
        order = self.s.order[k]
        p = next(d for d, i in enumerate(order) if i >= self.g[k].rank)
        return all(i >= self.g[k].rank for i in order[p:])

    def acc(self, k) -> str:
        return self.names[k] if self.s.storage[k] == "local" else f"_a{self.n[k]}"

    def buffers(self, loop):
        return [k for k, st in self.s.storage.items() if isinstance(st, tuple) and self.s.chain[k][0] is loop]

    # --- places and values -------------------------------------------------------------
    def vars(self, k) -> dict:
        return {i: self.var[id(loop)] for i, loop in self.s.loops[k].items() if id(loop) in self.var}

    def target(self, k, region=False) -> str:
        """Where node ``k``'s value at the current indices is kept (``region``: every index
        not yet bound, as ``:``)."""
        st, name, v = self.s.storage[k], self.names[k], self.vars(k)
        if st == "local":
            return name
        bound = set(self.s.order[k][:self.s.depth(k)]) if region else set(v)
        if st == "full":
            self.used.add(name)
            idx = [v[i] if i in bound else ":" for i in self.s.layout[k]] or ["0"]
            return f"{name}[{', '.join(idx)}]"
        return f"{name}[{', '.join(['_ch'] + [v[i] if i in bound else ':' for i in st])}]"

    def partial(self, k) -> str:
        v = self.vars(k)
        return f"_p{self.n[k]}[{', '.join(['_ch'] + [v[i] for i in self.s.layout[k]])}]"

    def term(self, k) -> str:
        """The value a store writes, or the term a reduction accumulates."""
        node, v = self.g[k], self.vars(k)
        if isinstance(node.op, ACCUMULATED):
            return self.mul([(a, tuple(v[i] for i in ls)) for a, ls in node.args])
        return self.define(k, tuple(v[i] for i in range(node.rank)))

    def read(self, a, ax) -> str:
        """Node ``a`` at indices ``ax`` (one variable per axis)."""
        node, s = self.g[a], self.s
        if (a, tuple(ax)) in self.hoisted:
            return self.hoisted[a, tuple(ax)]
        if a in s.static:
            return _number(node.op.value) if isinstance(node.op, Const) else self.use(self.statics[a])
        if isinstance(node.op, Input) or a in s.numpy:
            name = self.use(self.names[a])
            return f"{name}[{', '.join(ax)}]" if ax else name
        if a in s.computed:
            st, name = s.storage[a], self.names[a]
            if st == "local":
                return name
            if st == "full":
                return f"{self.use(name)}[{', '.join(ax[j] for j in s.layout[a]) or '0'}]"
            return f"{name}[{', '.join(['_ch'] + [ax[i] for i in st])}]"
        return self.define(a, ax)

    def use(self, name) -> str:
        self.used.add(name)
        return name

    def define(self, a, ax) -> str:
        """Node ``a`` (element-wise, broadcast or identity) computed at ``ax`` (by its op's
        case in :data:`DEFINE`)."""
        node = self.g[a]
        return DEFINE[type(node.op)](self, node, ax)

    # --- one case per op of the IR (DEFINE) ------------------------------------------
    def _eye(self, node, ax) -> str:
        return f"(_F(1) if {ax[0]} == {ax[1]} else _F(0))"

    def _broadcast(self, node, ax) -> str:
        (b, pos), = node.args
        return self.read(b, tuple(ax[p] for p in pos))

    def _diagonal(self, node, ax) -> str:
        (b, pos), = node.args
        on = " and ".join(f"{ax[x]} == {ax[y]}" for x, y in node.op.ties)
        return f"({self.read(b, tuple(ax[p] for p in pos))} if {on} else _F(0))"

    def _map(self, node, ax) -> str:
        kids = [(b, tuple(ax[p] for p in pos)) for b, pos in node.args]
        fn = node.op.function
        if fn == "add":
            terms = sorted((self.signed(*kid) for kid in kids), key=lambda t: t[0] == "-")
            out = "".join(f" {sign} {code}" for sign, code in terms)
            return out[3:] if out.startswith(" + ") else "-" + out[3:]
        if fn == "mul":
            return self.mul(kids)
        if fn == "pow":
            return _power(self.read(*kids[0]), node.op.parameters[0])
        if fn in COMPARISONS:  # an integer test of positions: never a mask
            a, b = (self.integer(*kid) for kid in kids)
            return f"(_F(1) if {a} {COMPARISONS[fn]} {b} else _F(0))"
        return NUMBA[fn].format(*(self.read(*kid) for kid in kids))

    def inline(self, a) -> bool:
        return a not in self.s.static and a not in self.s.computed and isinstance(self.g[a].op, Map)

    def signed(self, a, ax):
        """``(sign, code)`` of a term of a sum."""
        node = self.g[a]
        if isinstance(node.op, Const) and node.op.value < 0:
            return "-", _number(-node.op.value)
        if self.inline(a) and node.op == Map("mul"):
            consts = [self.g[b].op.value for b, _ in node.args if isinstance(self.g[b].op, Const)]
            if consts and sp.Mul(*consts) < 0:
                return "-", _summand(self.mul([(b, tuple(ax[p] for p in pos)) for b, pos in node.args], negate=True))
        return "+", self.read(a, ax)

    def mul(self, kids, negate=False) -> str:
        coeff, up, down = sp.Integer(-1 if negate else 1), [], []
        for b, bax in kids:
            node = self.g[b]
            if isinstance(node.op, Const):
                coeff *= node.op.value
            elif self.inline(b) and node.op.function == "pow" and node.op.parameters[0] < 0:
                (c, pos), = node.args
                down.append(_power(self.read(c, tuple(bax[p] for p in pos)), -node.op.parameters[0]))
            else:
                up.append(self.read(b, bax))
        if coeff not in (1, -1):
            up.insert(0, _number(coeff))
        if len(up) == 1 and not down and coeff == 1:
            return up[0]
        code = "*".join(map(factor, up)) or "_F(1)"
        for d in down:  # a divisor the innermost loop does not change: one reciprocal, hoisted
            hoist = up and self.inner and not re.search(rf"\b{self.inner}\b", d)
            code += f"*(_F(1)/{factor(d)})" if hoist else f"/{factor(d)}"
        return "-" + code if coeff == -1 else code

    def size(self, cls) -> str:
        return self.use(self.sizes[cls])

    def cls(self, k, label):
        return self.s.labels(k)[2][label]


def _never(why):
    """The case of an op that no loop computes element by element: ``why``."""
    def case(self, node, ax):
        raise AssertionError(f"{type(node.op).__name__} computed in a loop: {why}")
    return case


#: how :meth:`Kernels.define` computes each op of the IR (:data:`indexcalc.lower.ir.OPS`) at
#: given indices; the others reach the kernels otherwise
DEFINE = {
    Eye: Kernels._eye, Broadcast: Kernels._broadcast, Diagonal: Kernels._diagonal, Map: Kernels._map,
    Input: _never("read from its array (Kernels.read)"),
    Const: _never("a number: an argument of the kernel (Kernels.read)"),
    Size: _never("a number: an argument of the kernel (Kernels.read)"),
    Contract: _never("accumulated (Kernels.term)"), Max: _never("accumulated (Kernels.term)"),
    Min: _never("accumulated (Kernels.term)"),
    LogSumExp: _never("rewritten into a max and a sum first (indexcalc.lower.rewrite)"),
    MatFunc: _never("a library call between the kernels"),
    Position: Kernels._position, Window: Kernels._window,
    Gather: Kernels._gather,  # README "Gathers": read in the loops (loop_gathers.py)
    ScatterAdd: _never("a kernel of its own (GatherLoops.scatter)"),
    WindowAdd: _never("a kernel of its own (GatherLoops.window_add)"),
    Scan: _never("a loop of its own (backends/loop_scan.py)"), Scanned: _never("written by its Scan's loop"),
    Outer: _never("(Scan)"), Prior: _never("(Scan)"),
}


def _number(x) -> str:
    return f"_F({literal(x)})"


def _power(base, exp) -> str:
    return power(base, exp, lambda c: f"np.sqrt({c})", one="_F(1)", real=lambda x: f"_F({x!r})")


def _summand(code) -> str:
    """``code`` parenthesized if it is itself a sum (it follows a minus sign)."""
    depth = 0
    for k, ch in enumerate(code):
        depth += (ch in "([{") - (ch in ")]}")
        if depth == 0 and code[k:k + 3] in (" + ", " - "):
            return f"({code})"
    return code


