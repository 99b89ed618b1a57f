"""SymPy's ``count_ops`` (``visual=False``), counted in plain integers and remembered per
subexpression. SymPy's own walk pops each part off a stack, notes its operations as
symbols (``ADD``, ``NEG``, ...) and pushes the parts to count next; at the end it sums the
symbols as a SymPy expression and counts its terms. What one part notes and pushes
depends on that part alone, so the count of a part is its own operations plus the counts
of what it pushes: remembered (by identity), the forms :func:`indexcalc.simplify.factoring.factor`
compares, which share most of their parts, are walked once. The steps are SymPy 1.14's.

    >>> x, y = sp.symbols("x y")
    >>> es = (x + y, -x - y, x/y, 2*x**3 - sp.exp(y), -x/2 + y, sp.Integer(1), sp.Rational(-1, 3))
    >>> [count_ops(e) for e in es]
    [1, 2, 1, 4, 2, 0, 2]
    >>> [sp.count_ops(e) for e in es]
    [1, 2, 1, 4, 2, 0, 2]
"""

from __future__ import annotations

import sympy as sp
from sympy.core.function import _coeff_isneg
from sympy.core.operations import LatticeOp
from sympy.simplify.radsimp import fraction

from indexcalc.language.memo import Memo, recall, remember

_ONE, _MINUS_ONE, _E = sp.S.One, sp.S.NegativeOne, sp.S.Exp1
_COUNTS = Memo(1 << 16)  # count of a part, by identity (indexcalc.language.memo)


def count_ops(expr) -> int:
    """``sp.count_ops(expr)``; a non-expression, or a relation, is left to SymPy."""
    if not isinstance(expr, sp.Expr) or expr.is_Relational:
        return sp.count_ops(expr)
    return _count(expr)


def _count(a) -> int:
    out = recall(_COUNTS, a)
    if out is None:
        ops, pushed = _step(a)
        out = ops + sum(_count(p) for p in pushed)
        remember(_COUNTS, a, out)
    return out


def _step(a):
    """What SymPy's walk notes for the part ``a`` (how many operations) and pushes."""
    if a.is_Rational:
        if a is not _ONE:
            return (a.p < 0) + (a.q != 1), ()
    elif a.is_Mul or a.is_MatMul:
        ops = 0
        if _coeff_isneg(a):
            ops += 1
            a = a.as_two_terms()[1] if a.args[0] is _MINUS_ONE else -a
        n, d = fraction(a)
        if n.is_Integer:
            return ops + (2 if n < 0 else 1), (d,)
        elif d is not _ONE:
            return ops + 1, ((n,) if d.is_Integer else (d, n))
        return ops + _own(a), _pushed(a)
    elif a.is_Add or a.is_MatAdd:
        aargs = a.args
        pushed = [-ai if _coeff_isneg(ai) else ai for ai in aargs]
        negs = sum(p is not ai for p, ai in zip(pushed, aargs))
        # (an ADD or a SUB between terms; the SUB - ADD of a first negative term counts none)
        return len(aargs) - 1 + (negs == len(aargs)), pushed
    if a.is_Pow and a.exp is _MINUS_ONE:
        return 1, (a.base,)
    if a == _E:
        return 1, ()
    if a.is_Pow and a.base == _E:
        return 1, (a.exp,)
    return _own(a), _pushed(a)


def _own(a) -> int:
    if a.is_Mul or isinstance(a, LatticeOp):
        return len(a.args) - 1
    if a.args and (a.is_Pow or a.is_Function or isinstance(a, (sp.Derivative, sp.Integral, sp.Sum))):
        return 1
    return 0


def _pushed(a):
    return () if a.is_Symbol else a.args
