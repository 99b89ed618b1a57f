"""A reduction of a forward value that is a sum, reduced term by term: the mean of a
centred value is zero, which a reader sees at once and the algebra does not.

Layer normalization centres ``xc[b,i] = x[b,i] - mu[b]`` with ``mu[b] = mean[i](x[b,i])``;
its Jacobian reads ``mean[i](xc[b,i])``. Reduced term by term that is
``mean[i](x[b,i]) - mean[i](mu[b])``, which is ``mu[b] - mu[b] = 0``. The rewrite is
kept only where it gives zero or something strictly shorter.

The cancellation is exact in exact arithmetic only: in floating point the mean of the
centred value is of the order of the rounding error (``eps`` times the size of ``x``),
not zero. Dropping it is what every hand-written layer-norm backward does, and what the
gradient already prints (its sweep never forms the mean); the derivative stays exact as
a formula (README "What a derivative is").

    >>> from indexcalc.derivation.program import Program
    >>> from indexcalc.language.algebra import Index, ISum, Len
    >>> p = Program.parse("mu[b] = mean[i](x[b,i])\\nxc[b,i] = x[b,i] - mu[b]")
    >>> b, j, m = Index("b"), Index("j"), Index("m")
    >>> xc = sp.IndexedBase("xc")
    >>> vanishing_sums(2*xc[b, j] - ISum(xc[b, m]/Len(m), (m,)), p)
    2*xc[b, j]
"""

from __future__ import annotations

import sympy as sp

from indexcalc.calculus.contract import freshen
from indexcalc.calculus.names import scope
from indexcalc.language.algebra import Index, ISum, Len, free_indices
from indexcalc.language.walk import rebuild, rename
from indexcalc.simplify.tidy import reuse_forward


def vanishing_sums(e, prog):
    """``e`` with every sum ``Σ_i c T[.., i, ..]`` (``c`` free of ``i``) of a forward
    value ``T`` defined as a sum of terms, reduced term by term and each term read back
    as the forward value it is, where that gives zero or something strictly shorter."""
    defs = {st.name: st for st in prog.statements
            if isinstance(st.expr, sp.Add) and st.indices
            and len(set(st.indices)) == len(st.indices) and st.name not in _reads(st.expr)}
    if not defs or not e.has(ISum):
        return e
    with scope(e, *[st.expr for st in prog.statements]):
        return rebuild(e, lambda x: _at(x, defs, prog))


def _reads(e) -> set:
    return {str(x.base) for x in e.atoms(sp.Indexed)}


def _at(x, defs, prog):
    if not isinstance(x, ISum):
        return x
    summed = set(x.indices)
    factors = sp.Mul.make_args(x.body)
    for k, f in enumerate(factors):
        if not (isinstance(f, sp.Indexed) and str(f.base) in defs):
            continue
        args = f.indices
        if not all(isinstance(a, Index) for a in args) or len(set(args)) != len(args) \
                or not summed & set(args):
            continue
        rest = sp.Mul(*(factors[:k] + factors[k + 1:]))
        if free_indices(rest.replace(Len, lambda i: 1)) & summed or rest.has(ISum):
            continue  # (only a reduction of the value itself: Σ_i c T[i], c free of i)
        st = defs[str(f.base)]
        definition = rename(freshen(st.expr), dict(zip(st.indices, args)))
        sizes = x.sizes if any(x.sizes) else None
        terms = [ISum(rest * term, x.indices, sizes) for term in sp.Add.make_args(definition)]
        new = reuse_forward(sp.Add(*terms), prog)
        if new == 0 or sp.count_ops(new) < sp.count_ops(x):
            return new
    return x
