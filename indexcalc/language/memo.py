"""Caches keyed by the identity of a SymPy expression, never by SymPy's deep equality
(comparing an equal copy costs as much as computing afresh). A cache holds the object it
is keyed by, so the id is not reused while cached.

    >>> cache, e, copy = {}, [1, 2], [1, 2]
    >>> remember(cache, e, "value")
    >>> recall(cache, e), recall(cache, copy), e == copy
    ('value', None, True)
"""

from __future__ import annotations


def remember(cache: dict, e, value, limit: int = 1 << 17):
    """Store ``value`` for the object ``e`` in ``cache`` (emptied when over ``limit``)."""
    if len(cache) > limit:
        cache.clear()
    cache[id(e)] = (e, value)


def recall(cache: dict, e):
    """The value :func:`remember` stored for the object ``e``, or None."""
    hit = cache.get(id(e))
    return hit[1] if hit is not None and hit[0] is e else None
