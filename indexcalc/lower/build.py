"""Lower a checked program's statements (SymPy, explicit sums) to the IR of ``ir.py``.

Every statement's value becomes a node; a later statement that reads it reads that node,
so the whole program (a forward program followed by its backward) is one graph in which
every forward value is computed once.

Softmax and logsumexp are made stable while lowering, whatever names the user gave
(:mod:`indexcalc.lower.stable`).

    >>> import indexcalc as ic
    >>> low = lower(ic.parse("p[b,i] = exp(x[b,i]) / sum[j](exp(x[b,j]))"))
    >>> sorted({type(n.op).__name__ for n in low.graph.nodes})
    ['Const', 'Contract', 'Input', 'Map', 'Max']
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp

from indexcalc.language.algebra import Index, Inv, ISum, Len, Size, step
from indexcalc.language.functions import BY_CLASS
from indexcalc.language.axes import Compare
from indexcalc.lower.access import Access
from indexcalc.lower.compare import compared
from indexcalc.lower.gather import Gathers
from indexcalc.lower.diagonal import embedded, holds_delta, is_delta, scaled_diagonal
from indexcalc.lower.ir import EXTREMA, Broadcast, Const, Contract, Eye, Graph, Input, LogSumExp, Map, MatFunc, \
    Max, Min, Node
from indexcalc.lower.ir import Size as SizeOf
from indexcalc.lower.ref import Ref
from indexcalc.lower.scan import Scans
from indexcalc.lower.stable import StableExps

COMMUTATIVE = {"add", "mul", "max", "min"}
#: the reductions of the language (:mod:`indexcalc.language.functions`) as IR ops
REDUCERS = {"max": Max, "min": Min, "logsumexp": LogSumExp}


@dataclass
class Lowered:
    """The graph, and for each statement name the node holding it: ``values[name]`` is
    ``(node, positions)`` where axis ``a`` of the node is axis ``positions[a]`` of the name."""

    graph: Graph
    values: dict
    inputs: dict


def lower(prog) -> Lowered:
    """The IR of every statement of ``prog``: a read with axis expressions is a
    :class:`~indexcalc.lower.ir.Window`, an index outside brackets a
    :class:`~indexcalc.lower.ir.Position`, a comparison a ``Map`` of
    :data:`~indexcalc.lower.ir.COMPARISONS` (README "Windows and positions").

        >>> import indexcalc as ic
        >>> low = lower(ic.parse("y[i] = x[i+k]*w[k]*(k <= i)"))
        >>> [type(n.op).__name__ for n in low.graph.nodes]
        ['Position', 'Position', 'Map', 'Input', 'Input', 'Window', 'Contract']
        >>> low.graph.nodes[5].op
        Window(forms=((0, ((0, 1), (1, 1))),))
    """
    return _Builder(prog).run()


class _Builder(Access, Gathers, Scans, StableExps):
    def __init__(self, prog):
        self.prog = prog
        self.g = Graph()
        self.values, self.inputs, self.named = {}, {}, set()
        self.scale = {}  # node -> (its labels, stored ref, m ref, c): node = stored·exp(c·m)
        self.positive = set()  # nodes known to be positive (sums of exponentials)
        self.layouts = {}  # a map or contraction, whatever its axis order -> (node, its labels)
        self.reducing = frozenset()  # the indices of the max/min reduction whose body is built

    def run(self) -> Lowered:
        for n, st in enumerate(self.prog.statements):
            self.n, self.order = n, tuple(st.indices)
            if self.scanned(n):  # README "Recurrences": a group is one loop (lower/scan.py)
                continue
            ref = self.expr(st.expr)
            target = tuple(st.indices)
            missing = [i for i in target if i not in ref.labels]
            if missing:  # a statement that broadcasts its value along indices of the left
                pos = tuple(target.index(i) for i in ref.labels)
                node = Node(Broadcast(), ((ref.node, pos),), tuple(self.cls(i) for i in target))
                ref = Ref(self.g.add(node), target)
            self.values[st.name] = (ref.node, tuple(target.index(i) for i in ref.labels))
            self.named.add(ref.node)
        return Lowered(self.g, self.values, self.inputs)

    # --- helpers -----------------------------------------------------------------
    def cls(self, index):
        """The size class of an index of the statement being lowered."""
        return self.prog.sizes.find((self.n, index))

    def add(self, op, args=(), axes=()) -> int:
        return self.g.add(Node(op, tuple(args), tuple(axes)))

    def const(self, value) -> Ref:
        return Ref(self.add(Const(sp.sympify(value))), ())

    def axes_of(self, refs) -> dict:
        return {i: self.g[r.node].axes[a] for r in refs for a, i in enumerate(r.labels)}

    def ordered(self, labels) -> tuple:
        """Distinct ``labels``, the statement's left indices first in their order, then by
        first appearance: values come out in the layout the statement wants."""
        labels = list(dict.fromkeys(labels))
        return tuple(sorted(labels, key=lambda i: (self.order.index(i) if i in self.order
                                                   else len(self.order) + labels.index(i))))

    def map(self, fn, refs, *params) -> Ref:
        """An element-wise operation; nested sums and products are flattened."""
        refs = list(refs)
        if fn in ("add", "mul"):
            refs = [q for r in refs for q in self.operands(r, fn)]
        if fn in COMMUTATIVE:
            # in the body of a reduction, the factors that read only reduced indices come
            # first: f[n]*f[p] is then multiplied before anything else, so the body is
            # exactly symmetric where it is symmetric in n and p (max[n,p](f[n]*f[p]*g[t])),
            # and a tie that exact arithmetic has stays a tie for the arg-max
            refs.sort(key=lambda r: (not (fn == "mul" and r.labels and set(r.labels) <= self.reducing), r.node))
        key, first = self.unordered((Map(fn, params),), refs, commutative=fn in COMMUTATIVE)
        if key in self.layouts:
            return self.relabel(key, first)
        out = self.ordered(i for r in refs for i in r.labels)
        axes = self.axes_of(refs)
        args = [(r.node, tuple(out.index(i) for i in r.labels)) for r in refs]
        return self.laid_out(key, first, Ref(self.add(Map(fn, params), args, (axes[i] for i in out)), out))

    # A value is computed once, in the layout its first use wants: an equal map or
    # contraction wanted in another axis order (another statement's left indices first)
    # reads that node transposed. Besides saving the work, the values agree to the last
    # bit, which the gradient of max[..] relies on (``x[b,i]`` compared with the maximum
    # of ``x[b,j]``: a sum computed twice, in two axis orders, may round differently).
    @staticmethod
    def unordered(head, refs, keep=None, commutative=True):
        """``(key, numbering)``: what ``head`` of ``refs`` computes, whatever its output's
        axis order (labels numbered by first appearance), and that numbering. ``refs`` are
        sorted by node; operands of one node (``W[s,h,t] + W[s,m,u]``) may come in any
        order, so every order of those is tried and the least key taken (where the
        operation is ``commutative``)."""
        groups = [list(g) for _, g in itertools.groupby(refs, key=lambda r: r.node)] if commutative \
            else [[r] for r in refs]
        orders = itertools.product(*[itertools.permutations(g) if len(g) <= 4 else [tuple(g)]
                                     for g in groups])
        best = None
        for order in itertools.islice(orders, 256):
            first = {}
            for r in (r for g in order for r in g):
                for i in r.labels:
                    first.setdefault(i, len(first))
            args = tuple((r.node, tuple(first[i] for i in r.labels)) for g in order for r in g)
            kept = None if keep is None else frozenset(first[i] for i in first if i in keep)
            if best is None or (args, kept) < best[0][1:]:
                best = ((head, args, kept), first)
        return best

    def laid_out(self, key, first, ref) -> Ref:
        self.layouts.setdefault(key, (ref.node, tuple(first[i] for i in ref.labels)))
        return ref

    def relabel(self, key, first) -> Ref:
        node, numbers = self.layouts[key]
        label = {n: i for i, n in first.items()}
        return Ref(node, tuple(label[n] for n in numbers))

    def operands(self, r: Ref, fn, split_named=False) -> list:
        """The operands of ``r`` when it is itself a ``fn`` (add or mul), else ``[r]``."""
        node = self.g[r.node]
        if node.op != Map(fn) or (r.node in self.named and not split_named):
            return [r]
        return [Ref(a, tuple(r.labels[p] for p in pos)) for a, pos in node.args]

    def contract(self, refs, keep, op=Contract) -> Ref:
        """The product of ``refs`` summed (or reduced by ``op``, a class of
        :class:`~indexcalc.lower.ir.Reduction`) over every label not in ``keep``."""
        refs = sorted(refs, key=lambda r: r.node)
        key, first = self.unordered((op,), refs, keep)
        if key in self.layouts:
            return self.relabel(key, first)
        out = self.ordered(i for r in refs for i in r.labels if i in keep)
        names = {i: k for k, i in enumerate(out)}
        args = [(r.node, tuple(names.setdefault(i, len(names)) for i in r.labels)) for r in refs]
        axes = self.axes_of(refs)
        node = self.add(op(tuple(names[i] for i in out)), args, (axes[i] for i in out))
        return self.laid_out(key, first, Ref(node, out))

    def read(self, node, positions, indices) -> Ref:
        """Node ``node`` read as ``name[indices]``; a repeated index reads a diagonal."""
        labels = tuple(indices[p] for p in positions)
        if len(set(labels)) < len(labels):
            return self.contract([Ref(node, labels)], set(labels))
        return Ref(node, labels)

    def name(self, name, indices) -> Ref:
        node, positions = self.stored(name, len(indices))
        if any(isinstance(x, sp.Basic) and x.has(sp.Indexed) for x in indices):
            return self.gather(node, positions, indices)  # README "Gathers"
        if any(not isinstance(x, Index) for x in indices):
            return self.window(node, positions, indices)
        return self.read(node, positions, indices)

    def stored(self, name, rank):
        """``(node, positions)`` holding ``name`` (an input's node, created at its first read)."""
        if name in self.values:
            return self.values[name]
        if name not in self.inputs:
            axes = [self.prog.sizes.find((name, a)) for a in range(rank)]
            self.inputs[name] = self.add(Input(name), axes=axes)
        return self.inputs[name], tuple(range(rank))

    # --- expressions -------------------------------------------------------------
    def expr(self, e) -> Ref:
        if e.is_Number or e in (sp.E, sp.pi):
            return self.const(e)
        if isinstance(e, Index):
            return self.position(e)
        if isinstance(e, Compare):
            return self.compare(e.args[0], e.args[1], e.op)
        if isinstance(e, sp.Symbol):
            return self.name(e.name, ())
        if isinstance(e, sp.Indexed):
            return self.name(str(e.base.label), tuple(e.indices))
        if isinstance(e, Len):
            return Ref(self.add(SizeOf(self.cls(e.args[0]))), ())
        if isinstance(e, Size):  # size(A, k): the size of an axis of a tensor
            return Ref(self.add(SizeOf(self.prog.sizes.find((e.tensor, e.axis)))), ())
        if isinstance(e, sp.KroneckerDelta) and e.has(sp.Indexed):  # delta(c, y[n]): c == y[n]
            return self.map("eq", [self.integer_value(x) for x in e.args])
        if isinstance(e, sp.KroneckerDelta) and not all(isinstance(x, Index) for x in e.args):
            return self.compare(*e.args, "==")  # a delta that no index could be solved for
        if isinstance(e, sp.KroneckerDelta):
            i, j = e.args
            return Ref(self.add(Eye(), axes=(self.cls(i), self.cls(j))), (i, j))
        fn = BY_CLASS.get(type(e))
        if fn and fn.kind == "matrix":
            a = self.name(str(e.args[0].label), (Index("_r"), Index("_c")))
            node = self.add(MatFunc(fn.name), [(a.node, (0, 1))], self.g[a.node].axes if type(e) is Inv else ())
            return self.read(node, range(len(e.args) - 1), tuple(e.args[1:]))
        if isinstance(e, ISum):
            return self.isum(e)
        if fn and fn.kind == "reduction":
            return self.reduction(REDUCERS[fn.name], e)
        if isinstance(e, sp.Add):
            terms = [self.expr(a) for a in e.args]
            return self.combined(terms, "add") or self.map("add", terms)
        if isinstance(e, sp.Mul):
            return self.mul([self.expr(a) for a in e.args])
        if isinstance(e, sp.Pow):
            if e.exp.is_Number:
                return self.power(self.expr(e.base), e.exp)
            return self.map("powv", [self.expr(e.base), self.expr(e.exp)])
        if type(e) is sp.log:
            return self.log(self.expr(e.args[0]))
        if type(e) is step and isinstance(e.args[0], sp.Add):
            return self.map("step", [compared(self, e.args[0])])
        if fn:
            return self.map(fn.name, [self.expr(a) for a in e.args])
        raise AssertionError(f"no lowering for {type(e).__name__}")

    def isum(self, e) -> Ref:
        if e.body.has(sp.KroneckerDelta):  # README "Gathers": delta(v, tok[n])*dy[n,d] summed over n;
            acc = self.accumulation(e) if e.body.has(sp.Indexed) else None  # "Windows": delta(s, 2*a+k)
            acc = self.window_accumulation(e) if acc is None else acc
            if acc is not None:
                return acc
        refs = [self.expr(f) for f in sp.Mul.make_args(e.body)]
        scalars = [r for r in refs if not r.labels]
        tensors = [r for r in refs if r.labels]
        # a delta over indices the sum keeps multiplies the sum: a diagonal write after it
        outside = [r for r in tensors if is_delta(self, r) and not set(r.labels) & set(e.indices)]
        tensors = [r for r in tensors if r not in outside]
        scalars += outside
        present = {i for r in tensors for i in r.labels}
        scalars += [Ref(self.add(SizeOf(self.cls(i))), ()) for i in e.indices if i not in present]
        keep = present - set(e.indices)
        if not tensors:
            total = None
        elif len(tensors) == 1 and len(set(tensors[0].labels)) == len(tensors[0].labels) and keep == present:
            total = tensors[0]
        elif len(tensors) == 1 and self.g[tensors[0].node].op == Map("exp"):
            total = self.sum_exp(tensors[0], keep)
        else:
            total = self.combined(tensors, "contract", keep) or self.contract(tensors, keep)
        factors = scalars + ([total] if total else [])
        return self.mul(factors) if len(factors) > 1 else factors[0] if factors else self.const(1)

    def reduction(self, op, e) -> Ref:
        """``max[i](..)``, ``min[i](..)``, ``logsumexp[i](..)``: an ``op`` node over the
        body's axes ``i`` (each backend computes logsumexp shifted by the maximum). Along a
        listed index the body does not depend on (SymPy folded it away) the maximum is the
        body itself, and logsumexp adds ``log(len(i))``."""
        saved, self.reducing = self.reducing, frozenset(e.indices) if issubclass(op, EXTREMA) else frozenset()
        try:
            body = self.expr(e.body)
        finally:
            self.reducing = saved
        present = [i for i in e.indices if i in body.labels]
        out = self.contract([body], set(body.labels) - set(present), op=op) if present else body
        absent = [Ref(self.add(SizeOf(self.cls(i))), ()) for i in e.indices if i not in body.labels]
        if op is LogSumExp and absent:
            out = self.map("add", [out, self.map("log", [self.mul(absent) if len(absent) > 1 else absent[0]])])
        return out

    def mul(self, refs) -> Ref:
        refs = [q for r in refs for q in self.operands(r, "mul")]
        if any(is_delta(self, r) or holds_delta(self, r) for r in refs):  # diagonal writes (lower/diagonal.py)
            return embedded(self, refs)
        return scaled_diagonal(self, refs) or self.combined(refs, "mul") or self.map("mul", refs)
