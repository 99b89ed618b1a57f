"""A long product rebuilt with a few of its factors changed, without SymPy sorting it
all again: ``Mul(*args)`` sorts every factor (comparing whole subtrees) each time, which
naming one temporary after another in a product of N factors repeats N times.

:func:`rebuilt` gives what ``e.func(*args)`` gives, the same factors in the same order:
it keeps the sorted factors ``e`` has and puts each new one where SymPy's sort puts it,
when no new factor shares its base with another (``x*x`` is ``x**2``, ``sqrt(2)*sqrt(3)``
is ``sqrt(6)``), nor is a number or a product;
otherwise it calls ``e.func(*args)``.

    >>> x, y, z, w = sp.symbols("x y z w")
    >>> e = 2*x*sp.tanh(y)*sp.exp(z)
    >>> e.args
    (2, x, exp(z), tanh(y))
    >>> rebuilt(e, [*e.args[:3], sp.tanh(w)])
    2*x*exp(z)*tanh(w)
    >>> rebuilt(e, [*e.args[:3], sp.tanh(w)]).args == sp.Mul(*e.args[:3], sp.tanh(w)).args
    True
    >>> rebuilt(e, [*e.args[:3], x])  # (x*x merges: SymPy's Mul)
    2*x**2*exp(z)
"""

from __future__ import annotations

from functools import cmp_to_key

import sympy as sp

_KEY = cmp_to_key(sp.Basic.compare)  # SymPy's order of a product's factors (core.mul._mulsort)


def rebuilt(e, args):
    """``e.func(*args)``, where ``args`` are ``e.args`` with some replaced (position for
    position)."""
    if not isinstance(e, sp.Mul) or len(args) != len(e.args) or len(args) < 4:
        return e.func(*args)
    changed = [k for k, (a, b) in enumerate(zip(args, e.args)) if a is not b]
    if not changed or 2 * len(changed) > len(args):
        return e.func(*args) if changed else e
    new = [args[k] for k in changed]
    if any(not isinstance(a, sp.Basic) or (a.is_Atom and not isinstance(a, sp.Symbol)) or a.is_Mul
           or a.is_Order or not a.is_commutative for a in new):  # (numbers, I, zoo: Mul takes them apart)
        return e.func(*args)
    gone = set(changed)
    kept = [a for k, a in enumerate(e.args) if k not in gone]
    coeff = kept.pop(0) if kept[0].is_Number else None
    bases = {a.as_base_exp()[0] for a in kept}
    fresh = [a.as_base_exp()[0] for a in new]
    if len(set(fresh)) != len(fresh) or any(b.is_Number or b in bases for b in fresh):
        return e.func(*args)
    keys = [_KEY(a) for a in kept]
    for a in new:
        ka = _KEY(a)
        lo, hi = 0, len(kept)
        while lo < hi:  # (bisect with a key needs Python 3.10's bisect)
            mid = (lo + hi) // 2
            if keys[mid] < ka:
                lo = mid + 1
            else:
                hi = mid
        kept.insert(lo, a)
        keys.insert(lo, ka)
    if coeff is not None:
        kept.insert(0, coeff)
    out = sp.Mul._from_args(kept, True)
    return sp.Mul._exec_constructor_postprocessors(out)
