"""A normal form of an expression, in which expressions that mean the same compare equal:
the round-trip proof (:mod:`indexcalc.derivation.proof`) compares a printed gradient,
parsed back, with the derived one in it.

    >>> x, i, j = sp.IndexedBase("x"), Index("i"), Index("j")
    >>> normal(ISum(x[j], [j]) * 2) == normal(ISum(2*x[i], [i]))
    True
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import Index, ISum, Len
from indexcalc.calculus.contract import RULES, freshen, merge_sums, rewrite, split_every_sum
from indexcalc.calculus.names import Bound, scope
from indexcalc.simplify.keys import alpha, signature


def normal(e):
    """A form in which expressions that mean the same compare equal (for round trips)."""
    with scope(e):
        e = freshen(e)  # every summed index its own name, so moving factors in renames none
        sizes = _sizes_of_summed(e)
        merged = rewrite(e, [merge_sums, _sum_in_unique])  # every factor inside its sums
        out = rewrite(sp.expand(merged), RULES + [split_every_sum])
    # a summed index that no term uses any more leaves len(k) behind (absent_index):
    # name its size by an axis it stood at, not by the summed index's arbitrary name
    out = out.replace(Len, lambda i: Len(sizes.get(i, i)))
    return alpha(out)


def _sizes_of_summed(e) -> dict:
    """``{summed index: canonical name of its size}``: the first tensor axis it stands at."""
    out = {}
    for s in e.atoms(ISum):
        for i in s.indices:
            sig = signature(s.body, i)
            if sig:
                out[i] = Bound(f"_len_{sig[0][0]}_{sig[0][1]}")
    return out


def _sum_in_unique(e):
    """:func:`sum_in` where every summed index already has a name of its own."""
    if isinstance(e, sp.Mul):
        for k, f in enumerate(e.args):
            if isinstance(f, ISum):
                rest = sp.Mul(*(e.args[:k] + e.args[k + 1:]))
                return ISum(rest * f.body, f.indices)
