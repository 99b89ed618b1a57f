"""Comparisons that the index ranges decide, replaced by their value (README "Windows and
positions": every index runs from 0 to its size - 1).

A derivative of a recurrence or a window shifts indices, so the comparisons of the
forward program come back with new sides: ``(i == 0)`` read one step later is
``(i + 1 == 0)``, which no index value satisfies, and ``(k > s)`` at ``s -> k + s`` is
``(k > k + s)``. :func:`decide_comparisons` replaces each comparison whose value the lower
bound 0 of every index settles by that value, so a factor that is always 1 goes and a
product with a factor that is always 0 vanishes. Only the lower bound is used (sizes are
not known here). The printed derivative is tidied with it; a program as its author wrote
it is not (the parser keeps ``(j <= i)``, and ``(i >= 0)`` too).

A delta of an index and a literal position that no sum contracts (the gradient of a read
at a literal step, ``L = h[5,i]*v[i]``) is written as a person writes it, the comparison
``(t == 5)``, not ``delta(5,t)`` (:func:`literal_deltas`).

    >>> i, k, s = Index("i"), Index("k"), Index("s")
    >>> decide(Compare(i + 1, 0, "==")), decide(Compare(k, k + s, ">")), decide(Compare(i, 0, ">="))
    (0, 0, 1)
    >>> decide(Compare(k, s, "<=")) is None, decide(Compare(i - k, 1, ">")) is None
    (True, True)
    >>> x = sp.IndexedBase("x")
    >>> literal_deltas(KroneckerDelta(5, i)*x[i] + KroneckerDelta(i, k + 1))
    Compare(i, 5, ==)*x[i] + KroneckerDelta(i, k + 1)
    >>> decide_comparisons(x[i]*Compare(i + 1, 0, ">") + x[k]*Compare(k, k + s, ">") + Compare(k, s, "<"))
    Compare(k, s, <) + x[i]
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import Index, KroneckerDelta
from indexcalc.language.axes import Compare
from indexcalc.simplify.cancel import occurs


def _range(d):
    """``(low, high)``: bounds of the affine index expression ``d`` over indices that are
    at least 0 (None where unbounded); None where ``d`` is not affine in indices with
    whole-number coefficients (a size, a scalar, a read of a tensor), or is both
    increasing and decreasing in some (``i - k``)."""
    const, signs = 0, set()
    for term in sp.Add.make_args(sp.expand(d)):
        c, rest = term.as_coeff_Mul()
        if not c.is_Integer:
            return None
        if rest == 1:
            const += int(c)
        elif isinstance(rest, Index):
            signs.add(c > 0)
        else:
            return None
    if signs == {True}:
        return const, None
    if signs == {False}:
        return None, const
    return (const, const) if not signs else None


def _holds(op, low, high):
    """True if ``d op 0`` holds for every ``d`` in ``[low, high]``, False if for none, else
    None (``low``/``high`` None: unbounded that way)."""
    above = lambda b: low is not None and low > b    # every d > b
    below = lambda b: high is not None and high < b  # every d < b
    tests = {">": (above(0), below(1)), ">=": (above(-1), below(0)),
             "<": (below(0), above(-1)), "<=": (below(1), above(0)),
             "==": (low == high == 0, above(0) or below(0)),
             "!=": (above(0) or below(0), low == high == 0)}
    always, never = tests[op]
    return True if always else False if never else None


def decide(c):
    """The value (``1`` or ``0``) of the :class:`~indexcalc.language.axes.Compare` ``c``
    at every index value from 0 up, or None where the lower bounds do not settle it."""
    span = _range(c.args[0] - c.args[1])
    if span is None:
        return None
    value = _holds(c.op, *span)
    return None if value is None else sp.Integer(1 if value else 0)


def literal_deltas(e):
    """``e`` with every delta of a literal position and an expression of indices (no
    tensor read) written as the comparison ``(t == 5)``: the same 1 or 0."""
    values = {}
    for d in e.atoms(sp.KroneckerDelta):
        a, b = d.args
        literal, other = (a, b) if a.is_Integer else (b, a)
        if literal.is_Integer and other.free_symbols and not other.has(sp.Indexed) and \
                all(isinstance(x, Index) for x in other.free_symbols):
            values[d] = Compare(other, literal, "==")
    return e.xreplace(values) if values else e


def decide_comparisons(e):
    """``e`` with every comparison that :func:`decide` settles replaced by its value, and
    its literal deltas written as comparisons (:func:`literal_deltas`)."""
    if not isinstance(e, sp.Basic) or not occurs(e, (sp.KroneckerDelta, Compare)):
        return e  # (nothing to decide: one walk, not two)
    e = literal_deltas(e)
    values = {}
    for c in e.atoms(Compare):
        value = decide(c)
        if value is not None:
            values[c] = value
    return e.xreplace(values) if values else e
