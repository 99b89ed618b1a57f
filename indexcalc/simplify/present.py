"""Where a forward value may stand inside an expression, by hashable keys, so that
:func:`indexcalc.simplify.tidy.reuse_forward` walks into no part that cannot hold it and
looks in no factor of a product that cannot hold it (a chain of 1,000 statements has a
gradient of 1,000 factors: each statement visits its few candidates, not all 1,000).

    >>> x, i = sp.IndexedBase("x"), sp.Symbol("i")
    >>> t = sp.tanh(x[i])
    >>> factors = Factors([1 - t**2, sp.exp(x[i]), 3 + t], Present())
    >>> [k for k, _ in factors.candidates(Shape(t))]
    [0, 2]
    >>> factors.put(2, sp.Integer(4)); [k for k, _ in factors.candidates(Shape(t))]
    [0]
"""

from __future__ import annotations

from collections import Counter

import sympy as sp

from indexcalc.language.memo import Memo
from indexcalc.language.walk import bottom_up, is_leaf
from indexcalc.simplify.keys import blind


class Shape:
    """What :func:`~indexcalc.simplify.tidy._replace_once` can find, by
    :func:`~indexcalc.simplify.keys.blind` keys: the pattern itself, a power of its base,
    or its factors within a product."""

    def __init__(self, pattern):
        self.whole = blind(pattern)
        self.base = blind(pattern.base) if isinstance(pattern, sp.Pow) else None
        self.factors = {blind(base(f)) for f in pattern.args} if isinstance(pattern, sp.Mul) else None
        # (what tidy._replace_once asks of the pattern alone, found on its first call)
        self.left_ok = self.places = self.left = self.loose = None

    def may_be_in(self, e) -> bool:
        if blind(e) == self.whole:
            return True
        if self.base is not None and isinstance(e, sp.Pow) and blind(e.base) == self.base:
            return True
        return self.factors is not None and isinstance(e, sp.Mul) and \
            self.factors <= {blind(base(f)) for f in e.args}


class Present:
    """The :func:`~indexcalc.simplify.keys.blind` keys of the parts of ``e`` that
    :class:`Shape` looks at (tagged: a whole part, a power's base, a product's factor),
    for every subexpression, remembered by identity: a statement's value whose keys are
    absent below a node is not there, and the search does not walk in."""

    def __init__(self):
        self.memo = Memo(1 << 18)

    def below(self, e) -> frozenset:
        return bottom_up(self.memo, e, _parts, _own_keys)

    def may_hold(self, shape, e) -> bool:
        keys = self.below(e)
        return ("whole", shape.whole) in keys or ("base", shape.base) in keys or \
            (shape.factors is not None and {("factor", k) for k in shape.factors} <= keys)


class Factors:
    """A product's factors and an index: each key of :class:`Present` (a whole part, a
    power's base, a product's factor) of every subexpression of a factor -> the places of
    the factors that hold it, so that a statement's value is looked for only in the
    factors that may hold it (:meth:`Present.may_hold`). It also counts the factors'
    :func:`~indexcalc.simplify.keys.blind` keys (is the value a product that may stand in
    the whole product? :meth:`whole_may_hold`) and their bases, and marks ``suspect`` a
    factor put in that SymPy could merge with another when the product is rebuilt (a
    product, a number, a power of a base another factor has: ``g*g`` is ``g^2``)."""

    def __init__(self, args, present):
        self.factors, self.present, self.at = list(args), present, {}
        self.tops, self.bases = Counter(), Counter()
        self.suspect = len(self.factors) <= 3  # (SymPy distributes ``2*(x + y)``: checked)
        for k, f in enumerate(self.factors):
            self._index(k, f)
            self._count(f, 1)

    def _index(self, k, f):
        for key in self.present.below(f):
            self.at.setdefault(key, set()).add(k)

    def _count(self, f, n):
        for counter, key in ((self.tops, blind(base(f))), (self.bases, f.as_base_exp()[0])):
            counter[key] += n
            if not counter[key]:
                del counter[key]

    def candidates(self, shape):
        """``(place, factor)`` of each factor that may hold the value of ``shape``, in
        the order of the factors."""
        keys = [("whole", shape.whole)]
        if shape.base is not None:
            keys.append(("base", shape.base))
        if shape.factors is not None:  # (a factor that holds them all holds this one)
            keys.append(min((("factor", k) for k in shape.factors), key=lambda key: len(self.at.get(key, ()))))
        found = [self.at[key] for key in keys if key in self.at]
        for k in sorted(set().union(*found)):
            f = self.factors[k]
            if self.present.may_hold(shape, f):
                yield k, f
            else:
                for places in found:
                    places.discard(k)  # (a factor that changed since it was indexed)

    def whole_may_hold(self, shape) -> bool:
        """May the value of ``shape`` stand in the product itself, not within one factor
        (:meth:`Shape.may_be_in` of the product)? Only a product can: its factors'
        keys are among the product's."""
        return shape.factors is not None and shape.factors <= self.tops.keys()

    def put(self, k, f):
        """The factor at place ``k`` is now ``f``."""
        old = self.factors[k]
        self._count(old, -1)
        self._count(f, 1)
        self.factors[k] = f
        self._index(k, f)
        if not self.suspect:
            b = f.as_base_exp()[0]
            self.suspect = isinstance(f, (sp.Mul, sp.Number)) or not f.is_commutative or f.is_number or \
                b.is_number or self.bases[b] > 1


def _own_keys(x, below) -> frozenset:
    own = {("whole", blind(x))}
    if isinstance(x, sp.Pow):
        own.add(("base", blind(x.base)))
    elif isinstance(x, sp.Mul):
        own.update(("factor", blind(base(f))) for f in x.args)
    return frozenset(own.union(*below))


def _parts(x):
    return () if is_leaf(x) else x.args


def base(f):
    """A power's base, or ``f``."""
    return f.base if isinstance(f, sp.Pow) else f
