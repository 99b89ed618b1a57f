"""A cheap structural key: :func:`blind` hashes an expression with every index name
forgotten, so expressions equal up to renaming their indices (free or summed) have equal
keys. Unequal keys prove two expressions different; equal keys only make them worth an
exact comparison. Cached by identity, and built bottom-up, so a whole tree costs one pass.

    >>> from indexcalc.language.algebra import Index
    >>> i, j, k = Index("i"), Index("j"), Index("k")
    >>> x, w = sp.IndexedBase("x"), sp.IndexedBase("w")
    >>> blind(x[i, k]*w[k]) == blind(w[j]*x[i, j]), blind(x[i, k]*w[k]) == blind(x[i, k] + w[k])
    (True, False)
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import Index


def blind(e) -> int:
    hit = _CACHE.get(id(e))
    if hit is not None and hit[0] is e:
        return hit[1]
    if isinstance(e, Index):
        k = 0
    elif isinstance(e, sp.Indexed):
        k = hash(("Indexed", str(e.base.label), len(e.indices)))
    elif not e.args:
        k = hash(e)
    elif isinstance(e, (sp.Add, sp.Mul)):
        k = blind_of(type(e).__name__, e.args)
    else:
        k = hash((type(e).__name__, tuple(blind(a) for a in e.args)))
    remember(_CACHE, e, k)
    return k


#: id(expression) -> (expression, key): looked up by identity, never by SymPy's deep
#: equality (comparing an equal copy costs as much as hashing it afresh)
_CACHE: dict = {}


def remember(cache: dict, e, value, limit: int = 1 << 17):
    """Store ``value`` for the object ``e`` in an identity-keyed ``cache`` (which holds
    ``e``, so its id is not reused while cached)."""
    if len(cache) > limit:
        cache.clear()
    cache[id(e)] = (e, value)


def recall(cache: dict, e):
    """The value :func:`remember` stored for the object ``e``, or None."""
    hit = cache.get(id(e))
    return hit[1] if hit is not None and hit[0] is e else None


def blind_of(head: str, args) -> int:
    """:func:`blind` of ``Add(*args)`` or ``Mul(*args)`` (``head``), without building it."""
    return hash((head, tuple(sorted(blind(a) for a in args))))
