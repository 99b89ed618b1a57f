"""A statement's own name in its derivative: for ``Y[left] = f(u)`` with ``f`` element-wise
and ``f'`` a function of its value (sigmoid, tanh, exp, ...), the reverse sweep
(:mod:`indexcalc.calculus.differentiate`) writes ``f'(u)`` with ``Y``: ``ig*(1 - ig)`` for
``ig = sigmoid(z)``, ``1 - h^2`` for ``h = tanh(z)``. Tidying would put the forward value
back anyway (README, `d.steps()`); written so at once, a gated cell, which sends that factor to
each of its weights, leaves nothing to find.
"""

from __future__ import annotations

import sympy as sp

from indexcalc.calculus import rules
from indexcalc.language.algebra import free_indices
from indexcalc.language.memo import Memo, recall, remember


def named_value(prog, n: int, left: tuple, rhs):
    """``Y[left]``, where statement ``n`` (renamed apart: ``left``, ``rhs``) is ``Y[left] =
    f(u)`` with ``f`` element-wise: the sweep writes ``f'(u)`` with the value ``Y``
    (``ig*(1 - ig)`` for ``ig = sigmoid(z)``), which tidying would put back anyway, so
    that it has nothing left to find (a gated cell sends that factor to each weight).
    None where the name could hold another value (assigned twice), where ``Y[left]``
    is not the value at each element (an index of ``left`` repeated, or not free in
    ``rhs``), where ``u`` holds a reduction, and in a recurrence.

        >>> import indexcalc as ic
        >>> prog = ic.parse("h[i] = tanh(x[i]); y[i,j] = tanh(x[i] + 0*w[j])")
        >>> named_value(prog, 0, prog.statements[0].indices, prog.statements[0].expr)
        h[i]
        >>> named_value(prog, 1, prog.statements[1].indices, prog.statements[1].expr) is None
        True
    """
    if type(rhs) not in rules.ELEMENTWISE:
        return None
    name = prog.statements[n].name
    if any(name in rec.names for rec in getattr(prog, "recurrences", ())):
        return None  # (README "Recurrences": the sweep of a group writes its own)
    if _assigned_once(prog).get(name) != 1 or len(set(left)) != len(left) or free_indices(rhs) != set(left):
        return None
    if any(type(x) in rules.REDUCTION for x in sp.preorder_traversal(rhs.args[0])):
        return None
    return sp.IndexedBase(name)[left] if left else sp.Symbol(name)


def _assigned_once(prog) -> dict:
    """``{name: how many statements assign it}``, remembered per program."""
    hit = recall(_COUNTS, prog)
    if hit is None or hit[0] != len(prog.statements):
        hit = (len(prog.statements), {})
        for st in prog.statements:
            hit[1][st.name] = hit[1].get(st.name, 0) + 1
        remember(_COUNTS, prog, hit)
    return hit[1]


_COUNTS = Memo(64)  # by identity (indexcalc.language.memo)
