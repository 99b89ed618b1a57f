"""The lowering of gathers and their accumulations (README "Gathers"): a mixin of the
statement builder (:mod:`indexcalc.lower.build`).

A read with integer data in an index position (``E[tok[n], d]``, ``x[idx[i] + k]``,
``x[p[q[n]]]``) is a :class:`~indexcalc.lower.ir.Gather` of the node holding the tensor,
its integer operands lowered as ordinary (integer) expressions. A derived accumulation,
a sum whose body holds ``delta(v, tok[n])`` over summed indices of the data
(``dE[v,d] = delta(v, tok[n])*dy[n,d]``), is a :class:`~indexcalc.lower.ir.ScatterAdd`
of the other factors' product: never a one-hot (a factor reading ``v`` itself, ``E[v,d]``
in the gradient of ``E[tok[n],d]**2``, multiplies the scatter-add of the rest). Any other delta over data (``delta(c,
y[n])`` in a cross-entropy's ``dz[n,c]``, element-wise) is the comparison ``c == y[n]``
of a position and the data, of the result's own shape. A delta of a result index and an
affine form of summed ones that no index could be solved for (``delta(s, 2*a+k)`` in
stride-2 pooling's gradient) is a :class:`~indexcalc.lower.ir.WindowAdd`: the other
factors read at ``s = 2*a+k`` and added there, never a dense delta.

    >>> import indexcalc as ic
    >>> from indexcalc.lower.build import lower
    >>> g = lower(ic.parse("y[n,d] = E[tok[n],d]")).graph
    >>> g.nodes[-1].op, g.nodes[-1].args
    (Gather(forms=((0, (), 1), (0, ((1, 1),), 0))), ((0, (0, 1)), (1, (0,))))
    >>> d = ic.derive("y[n,d] = E[tok[n],d]")
    >>> print(str(d.program).splitlines()[-1])
    dE[v,d] = delta(v,tok[n])*dy[n,d]
    >>> lower(d.program).graph.nodes[-1].op
    ScatterAdd(output=(0, 1), target=0)
    >>> d = ic.derive("y[n] = sum[d](E[tok[n],d]*E[tok[n],d])")  # a factor reading v: E[v,d]
    >>> print(str(d.program).splitlines()[-1])
    dE[v,d] = 2*E[v,d]*delta(v,tok[n])*dy[n]
    >>> [type(n.op).__name__ for n in lower(d.program).graph.nodes][-2:]  # E times the scatter of 2*dy
    ['ScatterAdd', 'Map']
    >>> d = ic.derive("y[a] = sum[k:2](x[2*a+k])")
    >>> print(str(d.program).splitlines()[-1])
    dx[j] = sum[a,k:2](delta(j,2*a+k)*dy[a])
    >>> lower(d.program).graph.nodes[-1].op
    WindowAdd(forms=((0, ((0, 2), (1, 1))),))
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import Binder, Index, ISum
from indexcalc.language.axes import coefficients
from indexcalc.lower.ir import Broadcast, Gather, ScatterAdd, WindowAdd
from indexcalc.lower.ref import Ref


def _split(x):
    """``(data part, affine rest)`` of one slot: the terms reading integer data, the others."""
    terms = sp.Add.make_args(x)
    data = [t for t in terms if t.has(sp.Indexed)]
    return sp.Add(*data), sp.Add(*[t for t in terms if not t.has(sp.Indexed)])


def _indices(x) -> list:
    """The indices of ``x`` in order of first appearance (reading left to right)."""
    return list(dict.fromkeys(i for i in sp.preorder_traversal(x) if isinstance(i, Index)))


class Gathers:
    """Methods of the statement builder for gathers and accumulations."""

    def gather(self, node, positions, indices) -> Ref:
        """``name[indices]`` where a slot holds integer data: a Gather of the node holding it,
        whose axes are the indices the read holds (first appearance)."""
        out = tuple(dict.fromkeys(i for x in indices for i in _indices(x)))
        forms, args = [], [(node, tuple(range(len(positions))))]
        for p in positions:  # node axis a is axis positions[a] of the name
            data, rest = _split(indices[p])
            const, coeffs = coefficients(rest)
            source = 0
            if data != 0:
                ref = self.expr(data)
                args.append((ref.node, tuple(out.index(i) for i in ref.labels)))
                source = len(args) - 1
            forms.append((int(const), tuple((out.index(i), int(c)) for i, c in coeffs.items() if c), source))
        return Ref(self.add(Gather(tuple(forms)), args, (self.cls(i) for i in out)), out)

    def integer_value(self, x) -> Ref:
        """An index expression that may read integer data (a side of ``delta(c, y[n])``)."""
        data, rest = _split(x)
        if data == 0:
            return self.index_value(x)
        value = self.expr(data)
        return value if rest == 0 else self.map("add", [value, self.index_value(rest)])

    def accumulation(self, e):
        """A sum ``e`` whose body holds ``delta(v, G)`` with ``G`` reading integer data over
        summed indices (and perhaps kept ones: a batch axis): a ScatterAdd of the other
        factors' product (summed over the rest of ``e``'s indices); else None. Factors that
        read ``v`` (``E[v,d]`` in ``E[v,d]*delta(v,tok[n])*dy[n]``) but no summed index of
        ``G`` multiply the scatter-add of the others (contracted over the summed indices they
        read): never a one-hot."""
        factors = sp.Mul.make_args(e.body)
        summed = set(e.indices)
        sizes = dict(zip(e.indices, (n or 0 for n in e.sizes)))
        bound = {i for x in sp.preorder_traversal(e.body) if isinstance(x, Binder) for i in x.args[1]}
        for f in factors:
            if not isinstance(f, sp.KroneckerDelta):
                continue
            for v, G in (f.args, f.args[::-1]):
                inner = set(_indices(G))
                others = [h for h in factors if h is not f]
                if not (isinstance(v, Index) and G.has(sp.Indexed) and v not in summed and inner & summed
                        and v not in inner and v not in bound):
                    continue
                outer = [h for h in others if h.has(v)]
                if any(set(_indices(h)) & inner & summed for h in outer):
                    continue
                if outer:  # E[v,d] * (the scatter-add of the others)
                    read = {i for h in outer for i in _indices(h)}
                    later = [i for i in e.indices if i in read]
                    first = [i for i in e.indices if i not in read]
                    acc = self.accumulation(ISum(sp.Mul(f, *[h for h in others if h not in outer]), first,
                                                 [sizes[i] for i in first]))
                    if acc is None:
                        return None
                    refs = [self.expr(h) for h in outer] + [acc]
                    if not later:
                        return self.mul(refs)
                    keep = {i for r in refs for i in r.labels} - set(later)
                    return self.contract(refs, keep)
                rest = [i for i in e.indices if i not in inner]  # summed before the scatter
                body = sp.Mul(*others)
                values = self.expr(ISum(body, rest, [sizes[i] for i in rest]) if rest else body)
                pos = self.integer_value(G)
                kept = [i for i in (*values.labels, *pos.labels) if i not in summed]
                out = self.ordered([v] + kept)
                names = {i: k for k, i in enumerate(out)}
                for r in (values, pos):
                    for i in r.labels:
                        names.setdefault(i, len(names))
                args = [(r.node, tuple(names[i] for i in r.labels)) for r in (values, pos)]
                op = ScatterAdd(tuple(names[i] for i in out), names[v])
                return Ref(self.add(op, args, (self.cls(i) for i in out)), out)
        return None

    def window_accumulation(self, e):
        """A sum ``e`` whose body holds deltas ``delta(v, G)``, ``v`` an index the sum keeps
        and ``G`` an affine form (integer coefficients) of indices, some of them summed, that
        reads no data: a WindowAdd of the other factors with every ``v`` replaced by its
        ``G`` (summed first over the indices no ``G`` holds); else None."""
        summed, targets, others = set(e.indices), {}, []
        for f in sp.Mul.make_args(e.body):
            if isinstance(f, sp.KroneckerDelta) and not f.has(sp.Indexed):
                for v, G in (f.args, f.args[::-1]):
                    inner = set(_indices(G))
                    if isinstance(v, Index) and v not in summed and v not in targets and v not in inner \
                            and inner & summed and not G.has(*targets) and not any(g.has(v) for g in targets.values()):
                        try:
                            const, coeffs = coefficients(G)
                        except (TypeError, ValueError):
                            continue
                        if sp.expand(const + sum(c * i for i, c in coeffs.items()) - G) == 0:
                            targets[v] = G
                            break
                else:
                    others.append(f)
                continue
            others.append(f)
        bound = {i for x in sp.preorder_traversal(e.body) if isinstance(x, Binder) for i in x.args[1]}
        if not targets or bound & set(targets):  # an inner sum naming v itself: not replaced
            return None
        body = sp.Mul(*others).xreplace(targets)
        inner = {i for G in targets.values() for i in _indices(G)}
        rest = [(i, n or 0) for i, n in zip(e.indices, e.sizes) if i not in inner]  # summed before the adds
        values = self.expr(ISum(body, *zip(*rest)) if rest else body)
        labels = list(values.labels) + [i for i in dict.fromkeys(j for G in targets.values() for j in _indices(G))
                                        if i not in values.labels]
        if len(labels) > len(values.labels):  # a factor that reads no summed index (average pooling)
            node = self.add(Broadcast(), [(values.node, tuple(range(len(values.labels))))],
                            (self.cls(i) for i in labels))
            values = Ref(node, tuple(labels))
        out = self.ordered([i for i in values.labels if i not in summed] + list(targets))
        forms = []
        for v in out:
            const, coeffs = coefficients(targets.get(v, v))
            forms.append((const, tuple((values.labels.index(i), c) for i, c in coeffs.items() if c)))
        op = WindowAdd(tuple(forms))
        return Ref(self.add(op, [(values.node, tuple(range(len(values.labels))))], (self.cls(i) for i in out)), out)
