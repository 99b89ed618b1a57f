"""Long products built without SymPy sorting them again and again. :class:`Product`: a
product into which gradients are inlined one by one, multiplied once at the end. And a
long product rebuilt with a few of its factors changed, without SymPy sorting it all
again: ``Mul(*args)`` sorts every factor (comparing whole subtrees) each time, which
naming one temporary after another in a product of N factors repeats N times.

:func:`rebuilt` gives what ``e.func(*args)`` gives, the same factors in the same order:
it keeps the sorted factors ``e`` has and puts each new one where SymPy's sort puts it,
when no new factor shares its base with another (``x*x`` is ``x**2``, ``sqrt(2)*sqrt(3)``
is ``sqrt(6)``), nor is a number or a product with a number (a product without one stands
for its factors, as in ``Mul``); otherwise it calls ``e.func(*args)``.

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
    >>> rebuilt(e, [*e.args[:3], w*sp.tanh(w)]).args  # (a product's factors, each in its place)
    (2, w, x, exp(z), tanh(w))
"""

from __future__ import annotations

from functools import cmp_to_key

import sympy as sp

try:  # (SymPy's cached look-up; where it is missing, every product is post-processed)
    from sympy.core.basic import _get_postprocessors
except ImportError:  # pragma: no cover
    def _get_postprocessors(clsname, arg_type):
        return (None,)

from indexcalc.language.algebra import Index, ISum
from indexcalc.language.memo import Memo, recall, remember

_KEY = cmp_to_key(sp.Basic.compare)  # SymPy's order of a product's factors (core.mul._mulsort)


def rebuilt(e, args):
    """``e.func(*args)``, where ``args`` are ``e.args`` with some replaced (position for
    position)."""
    if not isinstance(e, sp.Mul) or len(args) != len(e.args) or len(args) < 4:
        return e.func(*args)
    changed = [k for k, (a, b) in enumerate(zip(args, e.args)) if a is not b]
    if not changed or 2 * len(changed) > len(args):
        return e.func(*args) if changed else e
    new = []
    for k in changed:  # (a product without a number among them is flattened into its factors)
        a = args[k]
        new.extend(a.args if isinstance(a, sp.Mul) and a.is_commutative and not a.args[0].is_Number else (a,))
    if any(not isinstance(a, sp.Basic) or (a.is_Atom and not isinstance(a, (sp.Symbol, sp.Indexed))) or a.is_Mul
           or a.is_Order or not a.is_commutative for a in new):  # (numbers, I, zoo: Mul takes them apart)
        return e.func(*args)
    gone = set(changed)
    kept = [a for k, a in enumerate(e.args) if k not in gone]
    coeff = kept.pop(0) if kept[0].is_Number else None
    counts = _bases(e)  # (the bases of the kept factors: e's, less those of the changed ones)
    removed: dict = {}
    for k in changed:
        if not e.args[k].is_Number:
            b = _base(e.args[k])
            removed[b] = removed.get(b, 0) + 1
    fresh = [_base(a) for a in new]
    if len(set(fresh)) != len(fresh) or any(b.is_Number or counts.get(b, 0) > removed.get(b, 0) for b in fresh):
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
    if any(_get_postprocessors("Mul", t) for t in set(map(type, kept))):
        return sp.Mul._exec_constructor_postprocessors(out)
    after = dict(counts)  # (out's bases, for the next round's rebuilt of it)
    for b, m in removed.items():
        after[b] -= m
    for b in fresh:
        after[b] = after.get(b, 0) + 1
    remember(_BASES, out, after)
    return out


#: product -> {base: how many of its factors (numbers left out) have it}: a long product
#: rebuilt round after round is not walked again for its bases
_BASES = Memo(64)


def _bases(e) -> dict:
    known = recall(_BASES, e)
    if known is None:
        known = {}
        for a in e.args:
            if not a.is_Number:
                b = _base(a)
                known[b] = known.get(b, 0) + 1
        remember(_BASES, e, known)
    return known


class Product:
    """A long product of element-wise factors into which gradients are inlined one by
    one (a chain of N statements inlines into one product of N factors), its factors
    kept in a list and multiplied once at the end: one SymPy ``Mul`` built per inlined
    gradient would sort the growing product each time (quadratic in N).

    A factor is added only where ``Mul`` would merely append it: no base it shares with
    another factor (``x*x`` is ``x**2``, ``exp(a)*exp(b)`` is ``exp(a + b)``), no sum and
    no delta (which :func:`contract` would rewrite), so that the one ``Mul`` at the end is
    the product the one-by-one inlining gave, factor for factor.

        >>> x, y = sp.IndexedBase("x"), sp.IndexedBase("y")
        >>> i = Index("i")
        >>> p = Product(sp.tanh(x[i]) * y[i] * sp.Symbol("s"))
        >>> p.inline("y", (i,), 1 - sp.cosh(x[i])**2)
        True
        >>> p.inline("s", (), sp.tanh(x[i]))  # (tanh(x[i]) is a factor already)
        False
        >>> p.expr()
        s*(1 - cosh(x[i])**2)*tanh(x[i])
    """

    def __init__(self, e):
        self.factors = list(e.args)
        self.bases = {_base(a) for a in self.factors if not a.is_Number}
        self.at = {}  # name -> positions of factors that are elements x[..] (or scalars) of it
        for k, a in enumerate(self.factors):
            self._note(k, a)

    @staticmethod
    def worth(e) -> bool:
        """A product of three or more factors, no sum, no delta (``contract`` leaves
        it as it is)."""
        return isinstance(e, sp.Mul) and len(e.args) >= 3 and not e.has(ISum, sp.KroneckerDelta)

    def _note(self, k, a):
        label = str(a.base.label) if isinstance(a, sp.Indexed) else a.name if type(a) is sp.Symbol else None
        if label is not None:
            self.at.setdefault(label, []).append(k)

    def inline(self, name, idx, value) -> bool:
        """Put ``value`` (at the read's indices) in place of the one factor that reads
        ``name``, or leave the product as it is and return False."""
        at = [k for k in self.at.get(name, ()) if self.factors[k] is not None and _reads(self.factors[k], name)]
        if len(at) != 1 or value.has(ISum, sp.KroneckerDelta):
            return False
        el = self.factors[at[0]]
        if idx:
            if not isinstance(el, sp.Indexed):
                return False
            if tuple(el.indices) != tuple(idx):  # (read at its own indices: nothing to rename)
                value = value.xreplace(dict(zip(idx, el.indices)))
        new = list(value.args) if isinstance(value, sp.Mul) else [value]
        bases = [_base(a) for a in new if not a.is_Number]
        if len(set(bases)) != len(bases) or any(b in self.bases or b.is_number for b in bases) or \
                _base(el) in bases:  # (sqrt(2)*sqrt(3) is sqrt(6))
            return False
        self.factors[at[0]] = None
        self.at[name].remove(at[0])
        self.bases.discard(_base(el))
        self.bases.update(bases)
        for a in new:
            self.factors.append(a)
            self._note(len(self.factors) - 1, a)
        return True

    def expr(self):
        return sp.Mul(*[a for a in self.factors if a is not None])


def _base(a):
    return a.as_base_exp()[0]


def _reads(el, name) -> bool:
    return (isinstance(el, sp.Indexed) and str(el.base.label) == name) or \
        (isinstance(el, sp.Symbol) and el.name == name)
