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
from indexcalc.language.memo import Memo, recall, remember


def blind(e) -> int:
    k = recall(_CACHE, e)
    if k is not None:
        return k
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


_CACHE = Memo()  # id(expression) -> (expression, key): see indexcalc.language.memo


def blind_of(head: str, args) -> int:
    """:func:`blind` of ``Add(*args)`` or ``Mul(*args)`` (``head``), without building it."""
    return hash((head, tuple(sorted(blind(a) for a in args))))
