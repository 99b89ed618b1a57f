"""``sympy.count_ops(e)`` (``visual=False``) with every distinct subexpression counted once
and remembered by identity: the size :func:`~indexcalc.simplify.cse.eliminate` orders
candidates by. SymPy's count walks the whole tree each time, and splits each product it
meets into a fraction, so sizing every subexpression of ``tanh(tanh(...))`` costs the
square of its depth.

SymPy's count pops an item, counts the operations at it and pushes the items to go on
with (its arguments, or others it builds: ``-a`` for a negative term, the numerator and
denominator of a product); the operations of an item and of all it pushes do not depend
on the rest of the walk, so the count of an item is its own plus those of what it pushes.

    >>> x, y = sp.symbols("x y")
    >>> e = sp.tanh(x - 2*y/x) + sp.exp(-x)*y**3
    >>> count_ops({}, e), sp.count_ops(e)
    (8, 8)
"""

from __future__ import annotations

import sympy as sp  # noqa: F401 (the examples)
from sympy import S
from sympy.concrete.summations import Sum
from sympy.core.function import Derivative, _coeff_isneg
from sympy.core.operations import LatticeOp
from sympy.integrals.integrals import Integral
from sympy.simplify.radsimp import fraction



def count_ops(cache: dict, e) -> int:
    """``sp.count_ops(e)`` for an expression ``e`` (an ``Expr``, not a relation), the
    counts of what it pushes remembered in ``cache`` (``id -> (item, count)``, which
    keeps the items, so that an id stays its item's)."""
    hit = cache.get(id(e))
    if hit is not None and hit[0] is e:
        return hit[1]
    local = {}  # id -> (item, its own count, what it pushes): holds the items it built
    stack = [(e, False)]
    while stack:
        x, ready = stack.pop()
        k = id(x)
        if k in cache:
            continue
        if ready:
            _, own, pushed = local[k]
            cache[k] = (x, own + sum(cache[id(p)][1] for p in pushed))
            continue
        if k not in local:
            local[k] = (x, *_at(x))
        stack.append((x, True))
        stack.extend((p, False) for p in local[k][2] if id(p) not in cache)
    return cache[id(e)][1]


def _at(a) -> tuple:
    """``(operations counted at a, the items pushed)``: one turn of SymPy's loop."""
    if a.is_Rational:
        if a is not S.One:
            return int(a.p < 0) + int(a.q != 1), ()
    elif a.is_Mul or a.is_MatMul:
        own = 0
        if _coeff_isneg(a):
            own += 1
            if a.args[0] is S.NegativeOne:
                a = a.as_two_terms()[1]
            else:
                a = -a
        n, d = fraction(a)
        if n.is_Integer:
            return own + 1 + (1 if n < 0 else 0), (d,)
        elif d is not S.One:
            return own + 1, ((d,) if not d.is_Integer else ()) + (n,)
        more, pushed = _tail(a)
        return own + more, pushed
    elif a.is_Add or a.is_MatAdd:
        aargs = list(a.args)
        own, pushed, negs = 0, [], 0
        for i, ai in enumerate(aargs):
            if _coeff_isneg(ai):
                negs += 1
                pushed.append(-ai)
            else:
                pushed.append(ai)
            own += i > 0  # SUB or ADD
        if negs == len(aargs):  # -x - y = NEG + SUB
            own += 1
        # (-x + y: SUB - ADD, which counts none)
        return own, tuple(pushed)
    return _tail(a)


def _tail(a) -> tuple:
    """The rest of the turn, after the rationals, products and sums of :func:`_at`."""
    own = 0
    if a.is_Pow and a.exp is S.NegativeOne:
        return 1, (a.base,)
    if a == S.Exp1:
        return 1, ()
    if a.is_Pow and a.base == S.Exp1:
        return 1, (a.exp,)
    if a.is_Mul or isinstance(a, LatticeOp):
        own += len(a.args) - 1
    elif a.args and (a.is_Pow or a.is_Function or isinstance(a, (Derivative, Integral, Sum))):
        own += 1  # (FUNC_NAME for an undefined function: one operation all the same)
    return own, (() if a.is_Symbol else tuple(a.args))
