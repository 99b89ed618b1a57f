"""Fused loop nests from the lowering IR: which values a loop backend computes, in which
loops, and where each is kept.

Each value that must be computed (a result, a reduction, an operand of a library call,
an element-wise value read several times that is dear to recompute) gets a loop nest: a
loop per axis, and for a reduction an accumulator around the loops of the summed axes. The
loops are ordered after the largest array the nest touches (so it is read along its
memory), and other element-wise values are inlined into the nests that read them. Nests
are placed one by one, in dependency order, into one tree of loops: a nest joins an
existing loop over the same axis size when everything it reads from that loop is complete
for the same iteration (a value over that axis, read at that index), so element-wise
chains and reductions over one iteration space become one pass, and a reduction and its
broadcast consumer become two passes inside one loop over the rows. A reduction over the
outermost (parallel) loop itself is a *cross* accumulation (per-chunk partial sums). Matrix
products (of windows too: im2col) are left to a library call (``numpy`` steps) between the
loop kernels. Then each value is kept as a full array (results, values read by a library
call or by another kernel), a buffer over the axes it is read along inside one parallel
loop, or a scalar.

    >>> import indexcalc as ic
    >>> from indexcalc.lower.build import lower
    >>> from indexcalc.lower.rewrite import prepare
    >>> d = ic.derive("mu[b] = mean[i](x[b,i])\\nxc[b,i] = x[b,i] - mu[b]\\n"
    ...               "var[b] = mean[i](xc[b,i]^2)\\ny[b,i] = xc[b,i]/sqrt(var[b] + eps)", wrt="x")
    >>> low = prepare(lower(d.program))
    >>> roots = [low.values[n][0] for n in ("y", "dx")]
    >>> print(schedule(low, roots).outline())
    loop b  [parallel]
      loop i: sum _t1; sum _t6
      loop i: sum _t2; sum _t5; sum _t7
      t1 = ...
      loop i: y = ...; dx = ...

Here ``_t1`` and ``_t2`` are the two row sums of the forward, ``t1`` the row's
``1/sqrt(var + eps)`` (a temporary of the derivation), and the backward adds three row
sums that join the forward's loops (:mod:`indexcalc.lower.rewrite` took ``t1^3`` out of
``_t5`` and opened the sum of ``dxc`` into ``_t6`` and ``_t7``) and the gradient: one
pass over the rows, with three loops over each row while it is in cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from indexcalc.lower.conv import matrix_product
from indexcalc.lower.fuse_windows import Form, form, labels_of, windowed_order
from indexcalc.lower.ir import ACCUMULATED, COMPARISONS, EXTREMA, Contract, Elementwise, Eye, Gather, Input, Map, \
    MatFunc, Recurrent, Scan, ScatterAdd, Window, WindowAdd


#: element-wise functions as cheap as an addition; the rest count as :data:`DEAR` (a
#: comparison of positions is an integer test: never kept as an array, a mask)
CHEAP = {"add", "mul", "max", "min", "relu", "step", "abs", "sign", "finite", *COMPARISONS}
DEAR, INLINE = 13, 12  # an exp costs 13 additions; values costlier than 12 read twice are kept


@dataclass(eq=False)
class Loop:
    """A loop over one axis size; ``crosses``: nodes accumulated across its iterations."""
    cls: object
    items: list = field(default_factory=list)
    crosses: list = field(default_factory=list)


@dataclass(eq=False)
class Step:
    """``init``/``acc``/``fin`` of a reduction, ``store`` of a value, ``numpy``: a library call."""
    kind: str
    node: int


def schedule(low, roots, layouts=None) -> "Schedule":
    """The loop tree computing ``roots`` (node ids; ``layouts``: the axis order each is
    returned in, as a permutation of its axes)."""
    return Schedule(low, list(dict.fromkeys(roots)), layouts or {})


class Schedule:
    """``top``: the loop tree (Loops and Steps); ``segments``: it cut at library calls into
    ``("kernel", items)`` and ``("numpy", node)``; per computed node its loop ``order``,
    ``loops`` (label -> Loop), ``kind`` (sum/max/min or None) and ``storage`` ("full",
    "local" or a tuple of the labels a buffer is indexed by)."""

    def __init__(self, low, roots, layouts):
        self.low, self.g, g = low, low.graph, low.graph
        self.static = g.static()
        self.roots = [k for k in roots if k not in self.static and not isinstance(g[k].op, Input)]
        self.ids = [k for k in g.reachable(roots) if k not in self.static and not isinstance(g[k].op, Input)]
        self.users = {k: [] for k in self.ids}
        for k in self.ids:
            for a, _ in g[k].args:
                if a in self.users:
                    self.users[a].append(k)
        # recurrences are a loop of their own (backends/loop_scan.py); a gather is read in the loops (README "Gathers"); a scatter-add is a kernel of its
        # own between the others (its operands inlined into it where they are element-wise)
        self.scatters = {k for k in self.ids if isinstance(g[k].op, (ScatterAdd, WindowAdd))}
        self.numpy = self.scatters | {k for k in self.ids if isinstance(g[k].op, (MatFunc, Recurrent))
                                      or (isinstance(g[k].op, Contract) and not self._loopable(k))}
        self.views = {k for k in self.ids if isinstance(g[k].op, Window) and k not in self.roots and self.users[k]
                      and all(u in self.numpy and isinstance(g[u].op, Contract) for u in self.users[k])}  # views in BLAS calls
        self.computed, self.cost = set(self.numpy), {}
        for k in self.ids:
            if self._computes(k):
                self.computed.add(k)
        self.layout = {k: tuple(layouts.get(k, range(g[k].rank))) for k in self.computed}
        self.reads = {k: self._reads(k) for k in self.computed}
        self.top, self.order, self.loops, self.chain, self.kind = [], {}, {}, {}, {}
        self.alone = {}  # node -> labels whose loops it joins with no other nest (fuse_windows.py)
        for k in sorted(self.computed):
            self._place(k)
        self.segments = self._segments()
        self.storage = {k: self._storage(k) for k in sorted(self.computed - self.numpy)}

    # --- what is computed --------------------------------------------------------------
    def _loopable(self, k) -> bool:
        """A contraction one of whose operands (or its result) carries every index (one pass
        over it; not a matrix product: BLAS does it), or a window's that is no matrix product."""
        node = self.g[k]
        every = {i for _, ls in node.args for i in ls}
        if any(isinstance(self.g[a].op, Window) for a, _ in node.args):
            return not matrix_product(node)  # BLAS on the window's copy (im2col), else loops
        return any(set(ls) == every for _, ls in node.args) or set(node.op.output) == every

    def _computes(self, k) -> bool:
        node, users = self.g[k], self.users[k]
        if k in self.views:
            return False
        if k in self.numpy or isinstance(node.op, ACCUMULATED) or k in self.roots or \
                any(((u in self.numpy and u not in self.scatters) or u in self.views)
                    and (isinstance(self.g[u].op, Scan) or not isinstance(node.op, Eye)) for u in users):
            return True
        if len(users) > 1 and any(isinstance(self.g[u].op, EXTREMA) for u in users) and not self._read_again(node):
            return True  # the gradient of max compares it with the maximum: the same bits
        own = 0 if not isinstance(node.op, Map) else 1 if node.op.function in CHEAP or _whole(node.op) else DEAR
        cost = own + sum(self.cost.get(a, 0) for a, _ in node.args)
        bigger = any(len(self.labels(u)[1]) > node.rank for u in users)
        if cost > INLINE and (len(users) > 1 or bigger):
            return True  # kept: its readers read an array (cost 0)
        self.cost[k] = cost
        return False

    def _read_again(self, node) -> bool:
        """A window of an input or of an array kept: read twice, the same bits (no copy)."""
        if not isinstance(node.op, Window):
            return False
        (b, _), = node.args
        return isinstance(self.g[b].op, Input) or b in self.computed

    def labels(self, k):
        """(output labels, every label, label -> size class) of node ``k``'s nest."""
        node, cls = self.g[k], {}
        if isinstance(node.op, ACCUMULATED):
            for a, ls in node.args:
                cls.update(zip(ls, self.g[a].axes))
        cls.update(enumerate(node.axes))
        return tuple(range(node.rank)), tuple(sorted(cls)), cls

    def _operands(self, k):
        """``(operand, labels of k for each operand axis)`` of node ``k``."""
        node = self.g[k]
        if isinstance(node.op, (Elementwise, *ACCUMULATED)):
            return [(a, tuple(ls)) for a, ls in node.args]
        if isinstance(node.op, (ScatterAdd, WindowAdd, Scan)):  # a kernel (a loop) of its own, reading whole arrays
            return [(a, tuple(range(self.g[a].rank))) for a, _ in node.args]
        if isinstance(node.op, Gather):
            return gathered(node, tuple(range(node.rank)))
        return []

    def _reads(self, k) -> list:
        """The arrays (inputs, computed nodes) node ``k``'s nest reads, with its labels (an
        axis read through a window: a :class:`Form` of them)."""
        out = []

        def visit(a, ls):
            if a in self.static:
                return
            if isinstance(self.g[a].op, Input) or a in self.computed:
                out.append((a, ls))
                return
            if isinstance(self.g[a].op, Window):
                (b, _), = self.g[a].args
                visit(b, tuple(form(c, tuple((ls[o], d) for o, d in terms)) for c, terms in self.g[a].op.forms))
                return
            if isinstance(self.g[a].op, Gather):
                for b, bl in gathered(self.g[a], ls):
                    visit(b, bl)
                return
            for b, pos in self._operands(a):
                visit(b, tuple(ls[p] for p in pos))
        node = self.g[k]
        if isinstance(node.op, Window):  # a window kept as an array (a recurrence's operand)
            (b, _), = node.args
            visit(b, tuple(form(c, tuple((o, d) for o, d in terms)) for c, terms in node.op.forms))
        for a, ls in self._operands(k):
            visit(a, ls)
        return out

    # --- placement ------------------------------------------------------------------------
    def _nest_order(self, k) -> list:
        """Labels in loop order: along the largest array the nest touches (its own result
        first among equals), outputs it lacks outside, sums it lacks inside."""
        out, every, cls = self.labels(k)
        windowed = windowed_order(self, k, cls)  # fuse_windows.py
        if windowed:
            return windowed
        arrays = [(tuple(labels_of(ls[j] for j in layout)), _identity(len(labels_of(ls))))
                  for a, ls in self.reads[k] if self.g[a].rank
                  for layout in [_identity(len(ls)) if a not in self.layout else self.layout[a]]]
        stores = not isinstance(self.g[k].op, ACCUMULATED) or set(out) == set(every)
        if stores:
            arrays.insert(0, (out, self.layout[k]))
        if not arrays:
            return list(out) + [i for i in every if i not in out]
        ls, layout = max(arrays, key=lambda t: len(set(t[0])))
        phys = list(dict.fromkeys(ls[j] for j in layout))
        return [i for i in out if i not in phys] + phys + [i for i in every if i not in out and i not in phys]

    def _place(self, k):
        if k in self.numpy:
            step = Step("numpy", k)
            self.top.append(step)
            self.chain[k] = [step]
            return
        out, _, cls = self.labels(k)
        order = self.order[k] = self._nest_order(k)
        node = self.g[k]
        p = next((d for d, i in enumerate(order) if i not in out), len(order))
        self.kind[k] = node.op.word if p < len(order) else None
        scalar = all(i not in out for i in order[p:])
        deps = {}
        for a, ls in self.reads[k]:
            if a in self.computed:
                deps.setdefault(a, []).append(ls)
        body, path, fin = self.top, [], None
        self.loops[k] = {}
        for d, label in enumerate(order):
            loop, at = self._fuse(body, d, label, cls[label], deps, path)
            if loop is not None and label in self.alone.get(k, ()):
                loop, at = None, len(body)  # a plane's loop of its own (fuse_windows.py)
            if loop is None:  # a new loop, right after what it reads (in the same kernel)
                loop = Loop(cls[label])
                body.insert(at, loop)
            if d == p:
                body.insert(body.index(loop), Step("init", k))
                if scalar:
                    fin = Step("fin", k)
                    body.insert(body.index(loop) + 1, fin)
                if d == 0:
                    loop.crosses.append(k)
            self.loops[k][label] = loop
            path.append(loop)
            body = loop.items
        step = Step("store" if p == len(order) else "acc", k)
        body.insert(self._fuse(body, 0, None, None, deps, path)[1] if not order else len(body), step)
        self.chain[k] = path + [step] if p == len(order) else path[:p] + [fin] if scalar else path[:p + 1]

    def _fuse(self, body, d, label, cls, deps, path):
        """The first loop of ``body`` over ``cls`` that the nest can join: after every value
        it reads that is completed in ``body``, or inside its loop when read at the same
        index; and where a new loop (or statement) goes: after the last of those."""
        last, blocked = -1, -1
        for a, reads in deps.items():
            chain = self.chain[a]
            if len(chain) <= d or any(x is not y for x, y in zip(chain[:d], path)):
                continue
            q = next(j for j, item in enumerate(body) if item is chain[d])
            last = max(last, q)
            i = self.order[a][d] if isinstance(chain[d], Loop) and d < len(self.order[a]) else None
            if i is None or i >= self.g[a].rank or any(ls[i] != label for ls in reads):
                blocked = max(blocked, q)
        for q in range(max(last, blocked + 1), len(body)):
            if cls is not None and isinstance(body[q], Loop) and body[q].cls == cls:
                return body[q], q
        return None, max(last, blocked) + 1

    # --- where values are kept ---------------------------------------------------------
    def _segments(self) -> list:
        segments = []
        for item in self.top:
            if isinstance(item, Step) and item.kind == "numpy":
                segments.append(("numpy", item.node))
            elif segments and segments[-1][0] == "kernel":
                segments[-1][1].append(item)
            else:
                segments.append(("kernel", [item]))
        return segments

    def _segment_of(self, k) -> int:
        first = self.chain[k][0]
        return next(n for n, (kind, s) in enumerate(self.segments)
                    if (s == k if kind == "numpy" else any(item is first for item in s)))

    def _storage(self, k):
        readers = [r for r in self.computed if any(a == k for a, _ in self.reads[r])]
        if k in self.roots or any(r in self.numpy or self._segment_of(r) != self._segment_of(k) for r in readers):
            return "full"
        mine = [x for x in self.chain[k] if isinstance(x, Loop)][:self.depth(k)]
        shared = min((_common(mine, [self.loops[r][i] for i in self.order[r]]) for r in readers), default=0)
        axes = tuple(i for d, i in enumerate(self.order[k]) if i < self.g[k].rank and d >= shared)
        return "local" if not axes else "full" if shared == 0 else axes

    def depth(self, k) -> int:
        """How many of ``k``'s loops enclose the point where it is complete."""
        order = self.order[k]
        return next((d for d, i in enumerate(order) if i >= self.g[k].rank), len(order))

    def outline(self) -> str:
        """The loop tree as indented text (values by their names in the program)."""
        names = {k: n for n, (k, _) in reversed(list(self.low.values.items()))}
        number = {k: i for i, k in enumerate(sorted(self.computed), 1)}
        lines = []

        def show(items, depth):
            for item in items:
                pad, what = "  " * depth, f"loop {letter(item.cls)}" if isinstance(item, Loop) else ""
                steps = [] if what else [item]
                if what and all(isinstance(x, Step) and x.kind in ("acc", "store") for x in item.items):
                    steps, what = item.items, what + ": "
                elif what:
                    lines.append(pad + what + ("  [parallel]" if depth == 0 else ""))
                    show(item.items, depth + 1)
                    continue
                text = [f"{self.kind[x.node]} " * (x.kind == "acc") + (names.get(x.node) or f"_t{number[x.node]}")
                        + {"store": " = ...", "numpy": " = library call"}.get(x.kind, "")
                        for x in steps if x.kind in ("acc", "store", "numpy")]
                if text:
                    lines.append(pad + what + "; ".join(text))
        show(self.top, 0)
        return "\n".join(lines)


def gathered(node, ls) -> list:
    """``(operand, labels)`` that a :class:`~indexcalc.lower.ir.Gather` read at labels ``ls``
    reads: its integer operands at their labels, and the gathered tensor with a label-free
    :class:`Form` on each axis that integer data choose (read at no loop's index: whatever
    computes it is complete before the gather runs).

        >>> from indexcalc.lower.ir import Gather, Node
        >>> gathered(Node(Gather(((0, (), 1), (0, ((1, 1),), 0))), ((0, (0, 1)), (1, (0,))), ("n", "d")), (5, 6))
        [(1, (5,)), (0, (Form(offset=0, terms=()), 6))]
    """
    (b, _), *data = node.args
    out = [(d, tuple(ls[p] for p in pos)) for d, pos in data]
    out.append((b, tuple(Form(0, ()) if src else form(c, tuple((ls[o], d) for o, d in terms))
                         for c, terms, src in node.op.forms)))
    return out


def letter(cls) -> str:
    """The index a size class was first named by (``b`` of ``(11, b)``), for loop names."""
    name = str(cls[1]) if isinstance(cls, tuple) and len(cls) == 2 else "i"
    return name if name.isidentifier() else "i"


def _whole(op) -> bool:
    """A power by a small whole number (a few multiplications)."""
    return op.function == "pow" and op.parameters[0].is_Integer and abs(op.parameters[0]) <= 4


def _identity(n):
    return tuple(range(n))


def _common(a, b, n=0) -> int:
    while n < min(len(a), len(b)) and a[n] is b[n]:
        n += 1
    return n
