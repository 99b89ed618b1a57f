"""The one walk over an expression tree: what a leaf is (:data:`LEAVES`), the nodes in
pre-order (:func:`preorder`) and a tree rebuilt bottom-up (:func:`rebuild`). Both use an
explicit stack, never recursion: a program may nest thousands of levels deep, deeper than
Python's stack.

:func:`bottom_up` and :func:`postorder` walk a graph by identity instead (each distinct
node once), with the children it is given.

A leaf is a node with no arguments or one of :data:`LEAVES`: a tensor element, a
tensor, an index, a delta, a size. Their arguments name things (a tensor, an axis, an
index) and are never rewritten as subexpressions. A walk that must also stop elsewhere
(at function calls, say, whose arguments are compared as computed) passes ``stop``.

    >>> import sympy as sp
    >>> from indexcalc.language.algebra import Index, tanh
    >>> x, i = sp.IndexedBase("x"), Index("i")
    >>> e = 2*tanh(x[i]) + 1
    >>> [str(n) for n in preorder(e)]
    ['2*tanh(x[i]) + 1', '1', '2*tanh(x[i])', '2', 'tanh(x[i])', 'x[i]']
    >>> [str(n) for n in preorder(e, stop=(sp.Function,))]
    ['2*tanh(x[i]) + 1', '1', '2*tanh(x[i])', '2', 'tanh(x[i])']
    >>> rebuild(e, lambda n: n.args[0] if isinstance(n, tanh) else n)
    2*x[i] + 1

The walk has no depth limit (SymPy's own printers and ``xreplace`` still recurse):

    >>> deep = x[i]
    >>> for _ in range(5000):
    ...     deep = tanh(deep)
    >>> sum(1 for _ in preorder(deep)), rebuild(deep, lambda n: n) is deep
    (5001, True)
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import Index, KroneckerDelta, Len, Size
from indexcalc.language.memo import Memo, recall, remember

#: the nodes whose arguments are never walked into (besides those with no arguments)
LEAVES = (sp.Indexed, sp.IndexedBase, Index, KroneckerDelta, Len, Size)


def is_leaf(e, stop=()) -> bool:
    """Whether a walk stops at ``e``: it has no arguments, or is one of :data:`LEAVES`
    or of the classes ``stop``."""
    return not e.args or isinstance(e, LEAVES) or (bool(stop) and isinstance(e, stop))


def preorder(e, stop=()):
    """Every node of ``e`` as a tree, each before its arguments, left to right; the
    arguments of a leaf (:func:`is_leaf`) are not visited. A subexpression that occurs
    twice is visited twice."""
    stack = [e]
    while stack:
        x = stack.pop()
        yield x
        if isinstance(x, sp.Basic) and not is_leaf(x, stop):
            stack.extend(reversed(x.args))


def rebuild(e, at, stop=(), leaf=None):
    """``e`` rebuilt bottom-up: every node that is not a leaf is built again from its
    rebuilt arguments (the same object where none changed), then passed to ``at``, whose
    result stands for it; a leaf stands for itself, or for ``leaf(it)`` if ``leaf`` is
    given. A node shared in the tree is worked on once."""
    done: dict = {}  # id(node) -> (node, its result): the node is held, so its id stays its own
    stack = [(e, False)]
    while stack:
        x, ready = stack.pop()
        if id(x) in done:
            continue
        if not isinstance(x, sp.Basic) or is_leaf(x, stop):
            done[id(x)] = (x, x if leaf is None else leaf(x))
        elif not ready:
            stack.append((x, True))
            stack.extend((a, False) for a in x.args if id(a) not in done)
        else:
            args = [done[id(a)][1] for a in x.args]
            same = all(a is b for a, b in zip(args, x.args))
            done[id(x)] = (x, at(x if same else x.func(*args)))
    return done[id(e)][1]


def bottom_up(cache: Memo, e, children, combine):
    """``value(e)`` where ``value(x) = combine(x, [value(c) for c in children(x)])``,
    remembered in ``cache`` by identity; each distinct node once. ``combine`` never
    returns None.

    >>> depth = lambda e: bottom_up(Memo(), e, lambda x: x.args, lambda x, vs: 1 + max(vs, default=0))
    >>> x = sp.Symbol("x")
    >>> depth(sp.tanh(sp.tanh(x) + 1))
    4
    """
    hit = recall(cache, e)
    if hit is not None:
        return hit
    done: dict = {}  # id -> value, for this call (the cache may evict while we work)
    stack = [(e, False)]
    while stack:
        x, ready = stack.pop()
        if id(x) in done:
            continue
        if ready:
            done[id(x)] = value = combine(x, [done[id(c)] for c in children(x)])
            remember(cache, x, value)
            continue
        hit = recall(cache, x)
        if hit is not None:
            done[id(x)] = hit
            continue
        stack.append((x, True))
        stack.extend((c, False) for c in children(x) if id(c) not in done)
    return done[id(e)]


def postorder(roots, children) -> list:
    """The distinct nodes under ``roots`` (by identity), each after all of its children."""
    out, seen, stack = [], set(), [(r, False) for r in reversed(list(roots))]
    while stack:
        x, ready = stack.pop()
        if ready:
            out.append(x)
            continue
        if id(x) in seen:
            continue
        seen.add(id(x))
        stack.append((x, True))
        stack.extend((c, False) for c in reversed(list(children(x))) if id(c) not in seen)
    return out
