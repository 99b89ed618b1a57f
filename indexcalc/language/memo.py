"""Caches keyed by the identity of a SymPy expression, never by SymPy's deep equality
(comparing an equal copy costs as much as computing afresh). A cache holds the object it
is keyed by, so the id is not reused while cached. Every cache is a :class:`Memo`: bounded
by its number of entries, the least recently used entry goes first (a long-running
process that derives many programs keeps a bounded memory).

    >>> cache, e, copy = Memo(2), [1, 2], [1, 2]
    >>> remember(cache, e, "value")
    >>> recall(cache, e), recall(cache, copy), e == copy
    ('value', None, True)
    >>> a, b = [3], [4]
    >>> remember(cache, a, "a"); recall(cache, e); remember(cache, b, "b")
    'value'
    >>> len(cache), recall(cache, e), recall(cache, a)
    (2, 'value', None)

The walks that use these caches are in :mod:`indexcalc.language.walk`.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import weakref
from collections import OrderedDict

#: entries of a :class:`Memo` unless told otherwise
LIMIT = 1 << 13


class Memo(OrderedDict):
    """``id(e) -> (e, value)``, at most ``limit`` entries, least recently used evicted.
    A memo of :data:`LIMIT` entries or more is a memo of expressions: emptied when a
    derivation starts (:func:`fresh_memos`)."""

    def __init__(self, limit: int = LIMIT):
        super().__init__()
        self.limit = limit
        if limit >= LIMIT:
            with _DEPTH_LOCK:
                _EXPRESSIONS.append(weakref.ref(self))


def remember(cache: Memo, e, value):
    """Store ``value`` for the object ``e`` in ``cache`` (the least recently used entry
    leaves when it is full)."""
    key = id(e)
    if key in cache:
        cache.move_to_end(key)
    cache[key] = (e, value)
    while len(cache) > cache.limit:
        cache.popitem(last=False)


def recall(cache: Memo, e):
    """The value :func:`remember` stored for the object ``e``, or None."""
    key = id(e)
    hit = cache.get(key)
    if hit is None or hit[0] is not e:
        return None
    cache.move_to_end(key)
    return hit[1]


_DEPTH = {"users": 0, "before": 0}
_DEPTH_LOCK = threading.Lock()


@contextlib.contextmanager
def deep_recursion(limit: int = 12000):
    """Python's recursion limit raised to ``limit`` inside (restored when the last user
    leaves). indexcalc's own walks are iterative, but SymPy's (construction, assumptions,
    ``xreplace``, printing) recurse once or more per level of nesting: a statement of 300
    nested calls needs some 4,000 frames. A last resort, confined to the pipeline."""
    with _DEPTH_LOCK:
        if _DEPTH["users"] == 0:
            _DEPTH["before"] = sys.getrecursionlimit()
        _DEPTH["users"] += 1
        sys.setrecursionlimit(max(limit, _DEPTH["before"]))
    try:
        yield
    finally:
        with _DEPTH_LOCK:
            _DEPTH["users"] -= 1
            if _DEPTH["users"] == 0:
                sys.setrecursionlimit(_DEPTH["before"])


_EXPRESSIONS: list = []  # weak references to the memos of expressions
_FRESH = {"users": 0}
#: False: memos keep what earlier derivations left (for an A/B measurement)
FRESH = True
#: False: the memos are not emptied when the last derivation leaves (for an A/B measurement)
AT_EXIT = True


@contextlib.contextmanager
def fresh_memos():
    """The memos of expressions emptied when a derivation starts where none is running
    (in any thread). They are keyed by identity, so what one derivation left is of
    little use to the next, and full memos cost: the 130 benchmark programs derived one
    after the other leave some 150,000 entries held, and the slowest of them then takes
    15 % longer than in a fresh process (each entry added evicts one, and the memory
    held grows). They are emptied again when the last derivation leaves, before the
    garbage collector resumes (:func:`collector_paused`): what they held is freed at
    once, and the collection that follows has that much less to walk (its time over the
    130 benchmark programs fell from ~0.29 s a pass to ~0.2 s)."""
    with _DEPTH_LOCK:
        if _FRESH["users"] == 0 and FRESH:
            _empty()
        _FRESH["users"] += 1
    try:
        yield
    finally:
        with _DEPTH_LOCK:
            _FRESH["users"] -= 1
            if _FRESH["users"] == 0 and FRESH and AT_EXIT:
                _empty()


def _empty():
    """Empty every memo of expressions (under ``_DEPTH_LOCK``)."""
    alive = [r for r in _EXPRESSIONS if r() is not None]
    _EXPRESSIONS[:] = alive
    for r in alive:
        memo = r()
        if memo is not None:
            memo.clear()


_PAUSED = {"users": 0, "was_on": False}


@contextlib.contextmanager
def collector_paused():
    """Python's cyclic garbage collector paused inside (switched back on when the last user
    leaves, if it was on). A derivation builds and drops some 10⁵–10⁶ SymPy objects, few of
    them in cycles, in a process that already tracks about 10⁶ (SymPy's own): each full
    collection walks them all, and one warm pass over the 130 benchmark programs triggered
    four (a fifth of its time). Reference counting frees what a derivation drops either
    way; what is left in cycles goes at the next collection after it.

        >>> import gc
        >>> with collector_paused():
        ...     inside = gc.isenabled()
        >>> inside, gc.isenabled()
        (False, True)
    """
    with _DEPTH_LOCK:
        if _PAUSED["users"] == 0:
            _PAUSED["was_on"] = gc.isenabled()
            gc.disable()
        _PAUSED["users"] += 1
    try:
        yield
    finally:
        with _DEPTH_LOCK:
            _PAUSED["users"] -= 1
            if _PAUSED["users"] == 0 and _PAUSED["was_on"]:
                gc.enable()
