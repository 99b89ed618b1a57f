"""Cancellations a person makes at once and SymPy does not: equal terms collected up to
the names of their summed indices, fractions over a common denominator cancelled, and
``sign(u)/abs(u)`` read as ``1/u``.

    >>> from indexcalc.language.algebra import Index
    >>> p, t, n = sp.IndexedBase("p"), sp.IndexedBase("t"), Index("n")
    >>> cancel_fractions(p[n]*(1 - p[n])*(t[n]/p[n] - (1 - t[n])/(1 - p[n])))
    -p[n] + t[n]
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import ISum
from indexcalc.language.functions import FUNCTIONS
from indexcalc.language.walk import preorder, rebuild
from indexcalc.simplify.keys import blind

_ABS, _SIGN = FUNCTIONS["abs"].cls, FUNCTIONS["sign"].cls


def occurs(e, types, count=1) -> bool:
    """Are there at least ``count`` nodes of ``types`` in ``e`` (every argument walked,
    as ``atoms`` walks; a node met twice counts twice)? A cheap look before a pass that
    only ``types`` can change.

        >>> x = sp.Symbol("x")
        >>> occurs(sp.exp(x) + sp.exp(2*x), sp.exp, 2), occurs(sp.exp(x) + 1, sp.exp, 2)
        (True, False)
    """
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, types):
            count -= 1
            if count <= 0:
                return True
        stack.extend(x.args)
    return False


def collect_equal(e, canonical):
    """``e`` with the terms of every sum that are equal up to the names of their summed
    indices (``canonical``: a function that renames them canonically) added up:
    ``Σ_k A[i,k]B[k] + Σ_m A[i,m]B[m]`` is ``2 Σ_k A[i,k]B[k]``."""
    return rebuild(e, lambda x: _collect_equal_at(x, canonical))


def _collect_equal_at(e, canonical):
    if not isinstance(e, sp.Add):
        return e
    groups: dict = {}
    for term in e.args:
        c, rest = term.as_coeff_Mul()
        groups.setdefault(blind(rest), []).append((c, rest))
    if all(len(g) == 1 for g in groups.values()):
        return e
    terms = []
    for group in groups.values():
        while group:
            c, rest = group.pop(0)
            key, same = canonical(rest), []
            for other in group:
                if canonical(other[1]) == key:
                    same.append(other)
            for other in same:
                group.remove(other)
                c += other[0]
            terms.append(c * rest)
    return sp.Add(*terms)


def cancel_fractions(e):
    """``e`` over one denominator with common factors cancelled, inside sums too, when it
    has a sum in a denominator (where something may cancel); else ``e``."""
    if not _divides(e):
        return e
    if isinstance(e, ISum):
        return ISum(cancel_fractions(e.body), e.indices)
    if isinstance(e, (sp.Add, sp.Mul)):
        e = e.func(*[cancel_fractions(a) for a in e.args])
        if e.has(ISum) or not _may_cancel(e):
            return e
        # factored over one denominator: (t + 1)^2 stays so (cancel() multiplies it out)
        return sp.factor(e) if sp.count_ops(e) <= 40 else sp.cancel(e)
    return e


def _divides(e) -> bool:
    """Is there a sum in a denominator in ``e`` (a power of a sum with a negative
    exponent)? ``e.atoms(sp.Pow)`` looked through, without building the set."""
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, sp.Pow) and x.exp.is_negative and isinstance(x.base, sp.Add):
            return True
        stack.extend(x.args)
    return False


def _may_cancel(e) -> bool:
    """Can anything cancel? Only if a sum that divides occurs twice (``(1 - t)/u - t/u``,
    ``u*(a/u + b)``), up to sign; one lone denominator never cancels."""
    seen: dict = {}
    for x in preorder(e, stop=(sp.Function,)):
        if isinstance(x, sp.Add):
            key = min(x, -x, key=sp.default_sort_key)
            seen[key] = seen.get(key, 0) + 1
    return any(seen.get(min(p.base, -p.base, key=sp.default_sort_key), 0) >= 2
               for p in e.atoms(sp.Pow) if p.exp.is_negative and isinstance(p.base, sp.Add))


def sign_abs(e):
    """``u*sign(u)`` is ``abs(u)`` and ``sign(u)/abs(u)`` is ``1/u`` (where u is not 0,
    the only place the printed formula is used)."""
    if not occurs(e, _SIGN):
        return e
    return rebuild(e, _sign_abs_at)


def _sign_abs_at(e):
    if not isinstance(e, sp.Mul):
        return e
    factors = list(e.args)
    for s in [f for f in factors if isinstance(f, _SIGN)]:
        u = s.args[0]
        over_abs = sp.Pow(_ABS(u), -1)
        if over_abs in factors:
            factors.remove(s), factors.remove(over_abs)
            factors.append(sp.Pow(u, -1))
        elif u in factors:
            factors.remove(s), factors.remove(u)
            factors.append(_ABS(u))
    return sp.Mul(*factors) if len(factors) != len(e.args) else e
