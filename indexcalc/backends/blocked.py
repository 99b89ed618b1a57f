"""Cache-blocked element-wise sums of matrices read in both orders: the Hessian of
``f = x[i]*A[i,j]*x[j]`` is ``A + A.T``, whose plain NumPy pass reads ``A`` across its rows
for every element written (a cache miss each, 20-30x the time of a copy at n = 2048).
Square tiles keep both reads in cache: ``out[I, J] = A[I, J] + A[J, I].T`` tile by tile.

:func:`terms` says whether a sum is such a sum (all terms dense 2-D arrays, each plain
or transposed, with a number as coefficient, some read in each order); the NumPy code
then calls ``_tadd`` (:data:`NUMPY`), which allocates the result once and writes it tile
by tile where the result holds at least :data:`~indexcalc.lower.plan.BLOCKED_FROM`
elements (below that it is one tile: the plain expression, in the same order, the same bits).

    >>> import indexcalc as ic
    >>> from indexcalc.backends.numpy import numpy_source
    >>> print(numpy_source(ic.parse("h[i,j] = A[i,j] + A[j,i]"), header=False).splitlines()[3])
        h = _tadd((A, False, 1), (A, True, 1))
    >>> print(numpy_source(ic.parse("h[i,j] = A[i,j] + B[i,j]"), header=False).splitlines()[3])
        h = A + B
"""

from __future__ import annotations

from indexcalc.backends.dialect import literal
from indexcalc.lower.ir import Const, Input, Map
from indexcalc.lower.plan import BLOCKED_FROM, TILE

#: the NumPy helper (carried by a module only where its code calls it)
NUMPY = f"""

def _tadd(*terms):  # sum of c*a or c*a.T (2-D), cache-blocked: written tile by tile, one allocation
    shape = terms[0][0].T.shape if terms[0][1] else terms[0][0].shape
    out = np.empty(shape, np.result_type(*(a for a, _, _ in terms)))
    n, m = shape
    t = {TILE} if n*m >= {BLOCKED_FROM} else max(n, m)  # small: one tile, the plain expression
    for i in range(0, n, t):
        for j in range(0, m, t):
            o = out[i:i + t, j:j + t]
            for k, (a, flip, c) in enumerate(terms):
                v = a[j:j + t, i:i + t].T if flip else a[i:i + t, j:j + t]
                if k == 0:
                    np.copyto(o, v) if c == 1 else np.multiply(v, c, out=o)
                elif c == 1 or c == -1:
                    (np.add if c == 1 else np.subtract)(o, v, out=o)
                else:
                    np.add(o, c*v, out=o)
    return out
"""


def terms(printer, node):
    """``[(code, transposed, coefficient code)]`` of a rank-2 sum ``node`` whose terms are
    dense arrays (inputs or variables) of both its axes, times a number, read in both
    orders; None otherwise (the printer writes the plain sum)."""
    if node.rank != 2 or len(node.args) < 2:
        return None
    out = []
    for a, pos in node.args:
        child, coeff = printer.g[a], "1"
        if a not in printer.var and child.op == Map("mul") and len(child.args) == 2:
            (c, _), (b, bpos) = sorted(child.args, key=lambda t: not isinstance(printer.g[t[0]].op, Const))
            if not isinstance(printer.g[c].op, Const) or isinstance(printer.g[b].op, Const):
                return None
            coeff, a, pos = literal(printer.g[c].op.value), b, [pos[i] for i in bpos]
            child = printer.g[a]
        if child.rank != 2 or not (isinstance(child.op, Input) or a in printer.var):
            return None
        code, layout = printer.expr(a)
        axes = [pos[i] for i in layout]  # the sum's axis held by each physical axis of the term
        if sorted(axes) != [0, 1]:
            return None
        out.append((code, axes == [1, 0], coeff))
    if len({flip for _, flip, _ in out}) < 2:
        return None
    return sorted(out, key=lambda t: t[2].startswith("-"))  # the printer's order: subtracted terms last


def tadd(parts) -> str:
    """The ``_tadd`` call of :func:`terms`' parts."""
    return "_tadd(" + ", ".join(f"({code}, {flip}, {c})" for code, flip, c in parts) + ")"
