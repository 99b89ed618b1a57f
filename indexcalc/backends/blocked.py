"""Cache-blocked element-wise sums of matrices read in both orders: the Hessian of
``f = x[i]*A[i,j]*x[j]`` is ``A + A.T``, whose plain NumPy pass reads ``A`` across its rows
for every element written (a cache miss each, 20-30x the time of a copy at n = 2048).
Square tiles keep both reads in cache: ``out[I, J] = A[I, J] + A[J, I].T`` tile by tile.

:func:`terms` says whether a sum is such a sum (all terms dense 2-D arrays, each plain
or transposed, with a number as coefficient, some read in each order); the NumPy code
then calls ``_tadd`` (:data:`NUMPY`) where the result holds at least
:data:`~indexcalc.lower.plan.BLOCKED_FROM` elements (below that, the plain expression):
it allocates the result once and writes it tile by tile, adding in the plain
expression's order (the same bits).
Numba's kernels are tiled by :func:`tiled_nest` (any element-wise body that reads a
matrix in both orders: ``exp(A)*A.T`` too).

    >>> import indexcalc as ic
    >>> from indexcalc.backends.numpy import numpy_source
    >>> print(numpy_source(ic.parse("h[i,j] = A[i,j] + A[j,i]"), header=False).splitlines()[3])
        h = (A + A.T if A.size < 524288 else _tadd((A, False, 1), (A, True, 1)))
    >>> print(numpy_source(ic.parse("h[i,j] = A[i,j] + B[i,j]"), header=False).splitlines()[3])
        h = A + B
"""

from __future__ import annotations

import re

from indexcalc.backends.dialect import literal
from indexcalc.lower.ir import Const, Input, Map
from indexcalc.lower.plan import BLOCKED_FROM, NUMBA_TILE, TILE

#: the NumPy helper (carried by a module only where its code calls it)
NUMPY = f"""

def _tadd(*terms):  # sum of c*a or c*a.T (2-D), cache-blocked: written tile by tile, one allocation
    shape = terms[0][0].T.shape if terms[0][1] else terms[0][0].shape
    out = np.empty(shape, np.result_type(*(term[0] for term in terms)))
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


def tadd(parts, plain) -> str:
    """The ``_tadd`` call of :func:`terms`' parts where the first term holds at least
    :data:`~indexcalc.lower.plan.BLOCKED_FROM` elements, else the ``plain`` expression
    (no helper call: a few microseconds less on small matrices)."""
    call = "_tadd(" + ", ".join(f"({code}, {flip}, {c})" for code, flip, c in parts) + ")"
    return f"({plain} if {parts[0][0]}.size < {BLOCKED_FROM} else {call})"


_CHUNK = re.compile(r"^( *)for (_\w+) in range\(np\.uint64\(_ch\*(\w+)//_nc\), np\.uint64\(\(_ch \+ 1\)\*\3//_nc\)\):$")
_INNER = re.compile(r"^( *)for (_\w+) in range\((\w+)\):$")


def tiled_nest(lines):
    """The lines of a Numba chunk loop (``for _ch in numba.prange(_nc):`` and what it runs,
    as :mod:`indexcalc.backends.loops` prints it) rewritten to run in square tiles of
    :data:`~indexcalc.lower.plan.NUMBA_TILE` where it is two plain loops around element-wise
    statements that read an array at ``[inner, outer]`` and write at ``[outer, inner]``
    (``h[_i, _j] = A[_i, _j] + A[_j, _i]``); else None (the lines stay).

        >>> nest = ["    for _ch in numba.prange(_nc):",
        ...         "        for _i in range(np.uint64(_ch*n//_nc), np.uint64((_ch + 1)*n//_nc)):",
        ...         "            for _j in range(m):",
        ...         "                h[_i, _j] = A[_i, _j] + B[_j, _i]"]
        >>> print("\\n".join(tiled_nest(nest)))
            for _ch in numba.prange(_nc):
                _T1, _T2 = _ch*n//_nc, (_ch + 1)*n//_nc
                for _T3 in range(_T1, _T2, 64):
                    for _T4 in range(0, m, 64):
                        for _i in range(np.uint64(_T3), np.uint64(min(_T3 + 64, _T2))):
                            for _j in range(np.uint64(_T4), np.uint64(min(_T4 + 64, m))):
                                h[_i, _j] = A[_i, _j] + B[_j, _i]
    """
    if len(lines) < 4:
        return None
    chunk, inner = _CHUNK.match(lines[1]), _INNER.match(lines[2])
    if not (chunk and inner and lines[0].strip().startswith("for _ch in ")):
        return None
    ind, outer, size = chunk.groups()
    iind, var, size2 = inner.groups()
    body = lines[3:]
    if len(iind) != len(ind) + 4 or any(not b.startswith(iind + "    ") or b.strip().startswith(("for ", "if ", "while "))
                                        for b in body):
        return None
    text = "\n".join(body)
    if f"[{var}, {outer}]" not in text or not all(re.match(rf"^ *\w+\[{outer}, {var}\] = ", b) for b in body):
        return None
    words = set(re.findall(r"\w+", "\n".join(lines)))
    names, n = [], 0
    while len(names) < 4:
        n += 1
        if f"_T{n}" not in words:
            names.append(f"_T{n}")
    lo, hi, t1, t2 = names
    T = NUMBA_TILE
    return [lines[0],
            f"{ind}{lo}, {hi} = _ch*{size}//_nc, (_ch + 1)*{size}//_nc",
            f"{ind}for {t1} in range({lo}, {hi}, {T}):",
            f"{ind}    for {t2} in range(0, {size2}, {T}):",
            f"{ind}        for {outer} in range(np.uint64({t1}), np.uint64(min({t1} + {T}, {hi}))):",
            f"{ind}            for {var} in range(np.uint64({t2}), np.uint64(min({t2} + {T}, {size2}))):"] + \
        ["        " + b for b in body]
