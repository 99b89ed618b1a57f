"""Exponentials that multiply are one exponential: ``exp(a)*exp(b)`` is ``exp(a + b)`` and
``exp(a)/exp(b)`` is ``exp(a - b)``, also among other factors of a product.

A person writes the softmin weights of soft-DTW as ``exp((R[i,j] - R[i+1,j])/g)``, one
exponential of a difference; the same weight as ``exp(R[i,j]/g)*exp(-R[i+1,j]/g)``
overflows once ``R/g`` passes about 709 (``inf*0`` is NaN) although the ratio is a
modest number. So a derivative is printed with each product's exponentials combined
(called last by :func:`indexcalc.simplify.factoring.factor`):

    >>> import sympy as sp
    >>> from indexcalc.language.algebra import Index
    >>> R, g, i = sp.IndexedBase("R"), sp.Symbol("g"), Index("i")
    >>> combine_exps(R[i]*sp.exp(R[i]/g)*sp.exp(-(R[i+1] + 3)/g))
    exp((-R[i + 1] + R[i] - 3)/g)*R[i]
    >>> combine_exps(1/(sp.exp(R[i]/g)*sp.exp(-R[i+1]/g) + 1))
    1/(exp((-R[i + 1] + R[i])/g) + 1)

The arguments of ``step``, ``sign``, ``max(a,b)``, ``min(a,b)`` and of reductions are
left as written: the gradient of a maximum compares values as the forward computed them,
bit for bit (README "Choices where the spec is silent").
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import Max2, Min2, Reduction, sign, step
from indexcalc.language.walk import rebuild
from indexcalc.simplify.cancel import occurs

#: the nodes whose insides are compared as computed, never rewritten
_AS_COMPUTED = (Reduction, step, sign, Max2, Min2)


def combine_exps(e):
    """``e`` with the exponentials of each product multiplied into one (see the module)."""
    if not occurs(e, sp.exp, 2):  # (two factors exp(a), exp(b) are two nodes)
        return e
    return rebuild(e, _combine_at, stop=_AS_COMPUTED)


def _exponent(f):
    """The argument ``a`` when the factor ``f`` is ``exp(a)`` or a numeric power of it."""
    if isinstance(f, sp.exp):
        return f.args[0]
    if isinstance(f, sp.Pow) and isinstance(f.base, sp.exp) and f.exp.is_Number:
        return f.exp*f.base.args[0]
    return None


def _combine_at(e):
    if not isinstance(e, sp.Mul):
        return e
    powers = [a for a in map(_exponent, e.args) if a is not None]
    if len(powers) < 2:
        return e
    rest = [f for f in e.args if _exponent(f) is None]
    return sp.Mul(*rest, sp.exp(sp.factor_terms(sp.Add(*powers))))
