"""The lowering of gathers and their accumulations (README "Gathers"): a mixin of the
statement builder (:mod:`indexcalc.lower.build`).

A read with integer data in an index position (``E[tok[n], d]``, ``x[idx[i] + k]``,
``x[p[q[n]]]``) is a :class:`~indexcalc.lower.ir.Gather` of the node holding the tensor,
its integer operands lowered as ordinary (integer) expressions. A derived accumulation,
a sum whose body holds ``delta(v, tok[n])`` over summed indices of the data
(``dE[v,d] = delta(v, tok[n])*dy[n,d]``), is a :class:`~indexcalc.lower.ir.ScatterAdd`
of the other factors' product: never a one-hot. Any other delta over data (``delta(c,
y[n])`` in a cross-entropy's ``dz[n,c]``, element-wise) is the comparison ``c == y[n]``
of a position and the data, of the result's own shape.

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
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import Index, ISum
from indexcalc.language.axes import coefficients
from indexcalc.lower.ir import Gather, ScatterAdd
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
        summed indices (and perhaps kept ones: a batch axis) and ``v`` read nowhere else: a ScatterAdd of the other
        factors' product (summed over the rest of ``e``'s indices); else None."""
        if len(e.args) > 2:  # stated sizes: the general lowering
            return None
        factors = sp.Mul.make_args(e.body)
        summed = set(e.indices)
        for f in factors:
            if not isinstance(f, sp.KroneckerDelta):
                continue
            for v, G in (f.args, f.args[::-1]):
                inner = set(_indices(G))
                others = [h for h in factors if h is not f]
                if not (isinstance(v, Index) and G.has(sp.Indexed) and v not in summed and inner & summed
                        and v not in inner and not any(h.has(v) for h in others)):
                    continue
                rest = tuple(i for i in e.indices if i not in inner)  # summed before the scatter
                body = sp.Mul(*others)
                values = self.expr(ISum(body, rest) if rest else body)
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
