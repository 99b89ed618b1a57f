"""Recurrences compiled to Numba (README "Recurrences"): the loop of a
:class:`~indexcalc.lower.ir.Scan` as one ``@numba.njit`` function (a subclass of
:class:`indexcalc.backends.loops.Kernels`, whose cases it reuses for the element-wise work).

The scan's operands are arrays computed before it (by the other kernels and library
calls); the arrays it writes come in allocated. Two shapes of loop:

* **element-wise steps** (a diagonal state-space layer, an EMA, a bidirectional pass: no
  value of a step reads another element of the state than its own): the elements are
  independent chains, so the function runs ``for _ch in numba.prange(_nc)`` over chunks of
  the first axis after the recurrence axes, the steps in order inside it, and the
  elements of the chunk innermost (contiguous: LLVM vectorizes them); no barrier per step.
* **any other step** (a matrix-vector product ``W[i,j]*h[t-1,j]``, a 2-D dynamic program):
  the recurrence axes outermost, in their direction, and in each step one loop nest per
  value that is kept (a sum, a value read twice, a value of the group), into a buffer
  allocated once before the loop; other element-wise values are inlined where read.

A read at another step (:class:`~indexcalc.lower.ir.Prior`) is 0 outside the array (a
test of the step position); a value of the group read at the same step (the LSTM's
``c[t,i]`` in ``h[t,i]``) is read back from its array.

    >>> import indexcalc as ic
    >>> from indexcalc.backends.numba import numba_source
    >>> src = numba_source(ic.parse("c[t] = c[t-1] + x[t]"), "f")
    >>> print(src[src.index("def _scan1"):src.index("def f")].strip())
    def _scan1(x, c, n_x_0, _F):
        for _i0 in range(n_x_0):
            c[_i0] = (c[_i0 - 1] if _i0 >= 1 else _F(0)) + x[_i0]
"""

from __future__ import annotations

from types import SimpleNamespace

from indexcalc.backends.loops import DEFINE, START, Kernels, _number
from indexcalc.errors import ProgramError
from indexcalc.lower.build import Lowered
from indexcalc.lower.ir import ACCUMULATED, Broadcast, Const, Diagonal, Eye, LogSumExp, Map, Outer, Position, Prior, Scan, \
    Scanned, Size, Window
from indexcalc.lower.rewrite import prepare

#: body ops a step may hold in the Numba loop (the others are refused: :func:`refusal`)
ALLOWED = (Const, Size, Outer, Prior, Map, Broadcast, Diagonal, Eye, Position, Window, LogSumExp, *ACCUMULATED)


def refusal(prog, low) -> None:
    """README "Recurrences": a step holding an op the Numba loop does not print (a gather,
    a matrix function inside the step) raises a ProgramError."""
    for node in low.graph.nodes:
        if not isinstance(node.op, Scan):
            continue
        bad = sorted({type(n.op).__name__ for n in node.op.body.graph.nodes if not isinstance(n.op, ALLOWED)})
        if bad:
            st = next(s for s in prog.statements if s.name == node.op.names[0])
            raise ProgramError(f"line {st.line}, in '{st.text or st.name}': the step of this recurrence holds "
                               f"{', '.join(bad)}, which the Numba loop does not compile yet; compile it with "
                               "backend='numpy', 'torch' or 'jax'")


class ScanKernel(Kernels):
    """The function of Scan node ``k`` of the main graph ``G`` (schedule ``s``, its
    ``names``, ``statics``, ``sizes`` as :class:`~indexcalc.backends.loops.Kernels`);
    ``prange``: ``numba.prange`` or ``range`` (the serial twin). After :meth:`kernel`,
    ``params`` are the names it takes and :attr:`parallel` whether it has a parallel loop."""

    def __init__(self, s, k, names, statics, sizes, taken):
        self.main, self.k, self.names, self.statics, self.sizes = s, k, names, statics, sizes
        self.G, self.op = s.g, s.g[k].op
        body = prepare(Lowered(self.op.body.graph, self.op.body.values, {}))  # a log-sum-exp: max, then sum
        self.g, self.values = body.graph, body.values
        self.prange, self.taken, self.inner = "numba.prange", set(taken), None
        self.members = {self.G[m].op.name: m for m in range(k + 1, len(self.G.nodes))
                        if isinstance(self.G[m].op, Scanned) and self.G[m].args[0][0] == k}
        self.names = dict(names)  # a member nothing after the loop reads: a buffer of its own
        self.names.update({m: f"_m{m}" for m in self.members.values() if m not in names})
        self.roots = {}
        for name, (v, positions) in self.values.items():
            self.roots.setdefault(v, (name, positions))
        self.ids = self.g.reachable(list(self.roots))
        uses = dict.fromkeys(self.ids, 0)
        for j in self.ids:
            for a, _ in self.g[j].args:
                uses[a] += 1
        leaf = (Const, Size, Outer, Prior, Broadcast)
        self.kept = [j for j in self.ids if j in self.roots or isinstance(self.g[j].op, ACCUMULATED)
                     or (uses[j] > 1 and not isinstance(self.g[j].op, leaf))
                     or (isinstance(self.g[j].op, Map) and any(isinstance(self.g[u].op, ACCUMULATED)
                                                               for u in self.ids if any(a == j for a, _ in self.g[u].args)))]
        self.frame = self.elementwise()
        if not self.frame:  # a read at another step copied once a step: the sums' loops test nothing
            self.kept = sorted(set(self.kept) | {j for j in self.ids if isinstance(self.g[j].op, Prior)
                                                 and self.g[j].rank and any(u for _, _, u in self.g[j].op.steps)})
        self.s = SimpleNamespace(static=set(), computed=set(self.kept))
        self.parallel = bool(self.frame) and self.prange != "range"

    # --- the shape of the loop -------------------------------------------------------------
    def elementwise(self):
        """``{node: frame axis per axis}`` where each step is element-wise over the axes after
        the recurrence axes (every member has the same ones, of rank at least 1), else None."""
        op, loops = self.op, self.op.loops
        ms = [self.G[m] for m in self.members.values()]
        rest = {tuple(c for a, c in enumerate(m.axes) if a not in loops) for m in ms}
        if len(rest) != 1 or not next(iter(rest)):
            return None
        rank = len(next(iter(rest)))
        frame = {}
        todo = [(v, tuple(p)) for v, p in self.values.values()]
        while todo:
            j, f = todo.pop()
            if frame.setdefault(j, f) != f:
                return None
            node = self.g[j]
            if isinstance(node.op, Prior):
                if [(a, r) for a, r, _ in node.op.steps] != [(a, r) for r, a in enumerate(loops)] or \
                        f != tuple(range(rank)):
                    return None
            elif isinstance(node.op, (Map, Broadcast)):
                todo += [(a, tuple(f[p] for p in pos)) for a, pos in node.args]
            elif not isinstance(node.op, (Const, Size, Outer)):
                return None
        return frame if op.names else None

    def kernel(self, fname, items=None, order=()) -> str:
        self.used, self.lines, self.var, self.hoisted = set(), [], {}, {}
        self.unsigned, self.safe = set(), set()
        loops = self.op.loops
        first = self.G[self.members[self.op.names[0]]]
        lengths = [self.size(first.axes[a]) for a in loops]
        self.lengths = lengths
        levels = [(f"_i{r}", lengths[r]) for r in range(len(loops))]
        if self.frame:
            self.elementwise_loop(levels, first)
        else:
            self.step_loop(levels)
        order = list(order) + [self.names[m] for m in self.members.values() if self.names[m] not in order]
        params = [n for n in order if n in self.used] + (["_nt"] if "_nt" in self.used else []) + ["_F"]
        self.params = params
        return f"def {fname}({', '.join(params)}):\n" + "".join(f"{line}\n" for line in self.lines)

    def span(self, n) -> str:
        return f"range({n})" if self.op.direction > 0 else f"range({n} - 1, -1, -1)"

    def elementwise_loop(self, levels, first):
        others = [c for a, c in enumerate(first.axes) if a not in self.op.loops]
        rank = len(others)
        evars = [f"_e{a}" for a in range(rank)]
        n0 = self.size(others[0])
        self.used.add("_nt")
        self.emit(1, f"_nc = min(_nt, {n0})")
        self.emit(1, f"for _ch in {self.prange}(_nc):")
        d = 2
        for var, n in levels:
            self.emit(d, f"for {var} in {self.span(n)}:")
            d += 1
        self.unsigned |= set(evars)
        self.emit(d, f"for _e0 in range(np.uint64(_ch*{n0}//_nc), np.uint64((_ch + 1)*{n0}//_nc)):")
        d += 1
        for a in range(1, rank):
            self.emit(d, f"for {evars[a]} in range(np.uint64({self.size(others[a])})):")
            d += 1
        for j in self.kept:
            ax = tuple(evars[f] for f in self.frame[j])
            code = self.value(j, ax)
            if j in self.roots:
                if any(j in [b for b, _ in self.g[u].args] for u in self.ids):
                    self.emit(d, f"_v{j} = {code}")
                    code = f"_v{j}"
                self.store_root(d, j, ax, code)
            else:
                self.emit(d, f"_v{j} = {code}")

    def step_loop(self, levels):
        for j in self.kept:
            if j not in self.roots and self.g[j].rank:
                shape = ", ".join(self.size(c) for c in self.g[j].axes)
                self.emit(1, f"_v{j} = np.empty(({shape},), _F)")
        d = 1
        for var, n in levels:
            self.emit(d, f"for {var} in {self.span(n)}:")
            d += 1
        for j in self.kept:
            self.nest(d, j)

    def nest(self, d, j):
        """The loop nest of kept body node ``j`` at one step. A sum's innermost loop runs
        along the last axis of most of the arrays it reads (:meth:`innermost`): a summed
        label (a dot product into a scalar), or an output label (the sum accumulated in
        place, ``v[b,i] += W[j,i]*s``: the backward of ``W[i,j]*h[t-1,j]``)."""
        node = self.g[j]
        out = [f"_x{a}" for a in range(node.rank)]
        ax = tuple(out)
        self.unsigned |= set(out) | {f"_y{i}" for _, ls in node.args for i in ls}  # indices (forms cast them)
        if not isinstance(node.op, ACCUMULATED):
            for a, c in enumerate(node.axes):
                self.emit(d, f"for {out[a]} in range(np.uint64({self.size(c)})):")
                d += 1
            code = self.value(j, ax)
            if j in self.roots:
                self.store_root(d, j, ax, code)
            else:
                self.emit(d, f"{self.temp(j, ax)} = {code}")
            return
        cls = {}
        for a, ls in node.args:
            cls.update(zip(ls, self.g[a].axes))
        cls.update(enumerate(node.axes))
        summed = [i for i in sorted(cls) if i >= node.rank]
        v = dict(enumerate(out)) | {i: f"_y{i}" for i in summed}
        kind, inner = node.op.word, self.innermost(j, summed)
        term = self.mul([(a, tuple(v[i] for i in ls)) for a, ls in node.args])
        names = [n for n, (w, _) in self.values.items() if w == j]
        if inner < node.rank and len(names) <= 1:  # accumulated in place, an output label innermost
            target = self.member_at(names[0], self.values[names[0]][1], ax) if names else self.temp(j, ax)
            dd = d
            for a, c in enumerate(node.axes):
                self.emit(dd, f"for {out[a]} in range(np.uint64({self.size(c)})):")
                dd += 1
            self.emit(dd, f"{target} = {START[kind]}")
            for i in [a for a in range(node.rank) if a != inner] + summed + [inner]:
                self.emit(d, f"for {v[i]} in range(np.uint64({self.size(cls[i])})):")
                d += 1
            self.accumulate(d, target, term, kind)
            return
        summed = [i for i in summed if i != inner] + [inner]
        for a, c in enumerate(node.axes):
            self.emit(d, f"for {out[a]} in range(np.uint64({self.size(c)})):")
            d += 1
        acc = f"_a{j}"
        self.emit(d, f"{acc} = {START[kind]}")
        dd = d
        for i in summed:
            self.emit(dd, f"for {v[i]} in range(np.uint64({self.size(cls[i])})):")
            dd += 1
        self.accumulate(dd, acc, term, kind)
        if j in self.roots:
            self.store_root(d, j, ax, acc)
        else:
            self.emit(d, f"{self.temp(j, ax)} = {acc}")

    def innermost(self, j, summed):
        """The label of sum ``j`` that is the last axis of most of the arrays it reads and
        writes (ties: a summed one)."""
        node = self.g[j]
        score = dict.fromkeys(list(range(node.rank)) + summed, 0)
        if node.rank:
            score[node.rank - 1] += 1
        for a, ls in node.args:
            last = self.last_axis(a)
            if last is not None and ls:
                score[ls[last]] += 1
        return max(score, key=lambda i: (score[i], i >= node.rank, i))

    def last_axis(self, a):
        """The axis of body node ``a`` that is innermost in memory where it is an array
        (an operand read at the step, a kept value, a member read at another step)."""
        node = self.g[a]
        if not node.rank:
            return None
        if isinstance(node.op, Outer):
            b = self.G[self.k].args[node.op.operand][0]
            steps = dict(node.op.steps)
            layout = self.main.layout.get(b, range(self.G[b].rank)) if b in self.main.computed and \
                b not in self.main.numpy else range(self.G[b].rank)
            mine = [q for q in range(self.G[b].rank) if q not in steps]
            last = [q for q in layout if q not in steps][-1]
            return mine.index(last)
        if a in self.kept or isinstance(node.op, Prior):
            return node.rank - 1
        return None

    # --- places and values -----------------------------------------------------------------
    def store_root(self, d, j, ax, code):
        for name, (v, positions) in self.values.items():
            if v == j:
                self.emit(d, f"{self.member_at(name, positions, ax)} = {code}")

    def member_at(self, name, positions, ax) -> str:
        m = self.members[name]
        loops, idx, k = self.op.loops, [], 0
        for a in range(self.G[m].rank):  # the steps' positions on the loops' axes, the others in order
            if a in loops:
                idx.append(f"_i{loops.index(a)}")
            else:
                idx.append(ax[positions.index(k)])
                k += 1
        return f"{self.use(self.names[m])}[{', '.join(idx)}]"

    def temp(self, j, ax) -> str:
        return f"_v{j}[{', '.join(ax)}]" if self.g[j].rank and not self.frame else f"_v{j}"

    def value(self, j, ax) -> str:
        """Body node ``j`` computed at ``ax`` (not read from where it is kept)."""
        op = self.g[j].op
        if isinstance(op, (Const, Size, Outer, Prior)):
            return self.leaf(j, ax)
        return DEFINE[type(op)](self, self.g[j], ax)

    def read(self, a, ax) -> str:
        if a in self.roots and a in self.kept:
            if self.frame:
                return f"_v{a}"
            name, positions = self.roots[a]
            return self.member_at(name, positions, ax)
        if a in self.kept:
            return self.temp(a, ax)
        return self.value(a, ax)

    def leaf(self, j, ax) -> str:
        op = self.g[j].op
        if isinstance(op, Const):
            return _number(op.value)
        if isinstance(op, Size):
            return f"_F({self.size(op.size_class)})"
        if isinstance(op, Outer):
            return self.outer(op, ax)
        return self.prior(op, ax)

    def outer(self, op, ax) -> str:
        """Operand ``op.operand`` of the scan at the current step."""
        a = self.G[self.k].args[op.operand][0]
        node, s = self.G[a], self.main
        if a in s.static:
            return _number(node.op.value) if isinstance(node.op, Const) else self.use(self.statics[a])
        steps, rest = dict(op.steps), iter(ax)
        idx = [f"_i{steps[q]}" if q in steps else next(rest) for q in range(node.rank)]
        if a in s.computed and a not in s.numpy:  # stored by a kernel: a number is stored as [0]
            idx = [idx[q] for q in s.layout[a]] or ["0"]
        name = self.use(self.names[a])
        return f"{name}[{', '.join(idx)}]" if idx else name

    def prior(self, op, ax) -> str:
        """Member ``op.name`` at another step: 0 outside its axes."""
        m = self.members[op.name]
        steps = {a: (r, shift) for a, r, shift in op.steps}
        rest, idx, tests = iter(ax), [], []
        for a in range(self.G[m].rank):
            if a not in steps:
                idx.append(next(rest))
                continue
            r, shift = steps[a]
            idx.append(f"_i{r}" + (f" + {shift}" if shift > 0 else f" - {-shift}" if shift else ""))
            if shift < 0:
                tests.append(f"_i{r} >= {-shift}")
            elif shift > 0:
                tests.append(f"_i{r} + {shift} < {self.size(self.G[m].axes[a])}")
        code = f"{self.use(self.names[m])}[{', '.join(idx)}]"
        return f"({code} if {' and '.join(tests)} else _F(0))" if tests else code

    def inline(self, a) -> bool:
        return a not in self.kept and isinstance(self.g[a].op, Map)

