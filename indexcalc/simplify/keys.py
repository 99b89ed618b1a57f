"""A cheap structural key: :func:`blind` hashes an expression with every index name
forgotten, so expressions equal up to renaming their indices (free or summed) have equal
keys. Unequal keys prove two expressions different; equal keys only make them worth an
exact comparison. Cached, and built bottom-up, so a whole tree costs one pass.

    >>> from indexcalc.language.algebra import Index
    >>> i, j, k = Index("i"), Index("j"), Index("k")
    >>> x, w = sp.IndexedBase("x"), sp.IndexedBase("w")
    >>> blind(x[i, k]*w[k]) == blind(w[j]*x[i, j]), blind(x[i, k]*w[k]) == blind(x[i, k] + w[k])
    (True, False)
"""

from __future__ import annotations

import functools

import sympy as sp

from indexcalc.language.algebra import Index


@functools.lru_cache(maxsize=1 << 16)
def blind(e) -> int:
    if isinstance(e, Index):
        return 0
    if isinstance(e, sp.Indexed):
        return hash(("Indexed", str(e.base.label), len(e.indices)))
    if not e.args:
        return hash(e)
    if isinstance(e, (sp.Add, sp.Mul)):
        return blind_of(type(e).__name__, e.args)
    return hash((type(e).__name__, tuple(blind(a) for a in e.args)))


def blind_of(head: str, args) -> int:
    """:func:`blind` of ``Add(*args)`` or ``Mul(*args)`` (``head``), without building it."""
    return hash((head, tuple(sorted(blind(a) for a in args))))
