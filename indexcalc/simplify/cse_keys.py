"""The keys :func:`~indexcalc.simplify.cse.eliminate` compares subexpressions by, each
remembered for every distinct subexpression (by identity), so that asking them of every
node of a deep tree costs the tree once, not once per ancestor.

:func:`shape_key` is equal for subexpressions equal up to the names of their indices,
free and summed: the set of the expression's spellings with its free indices renamed to
canonical slots in every order that keeps the (tensor, axis) places of each slot (at most
4 free indices; with more, the names of the free indices count).

    >>> from indexcalc.language.algebra import Index
    >>> i, j, k = Index("i"), Index("j"), Index("k")
    >>> x, w = sp.IndexedBase("x"), sp.IndexedBase("w")
    >>> keys = Keys()
    >>> keys.exact(x[i, k]*w[k]*w[i]) == keys.exact(x[j, i]*w[i]*w[j])
    True
    >>> keys.exact(x[i, j]*w[j]) == keys.exact(x[i, j]*w[i])
    False
    >>> keys.size(sp.tanh(x[i, j]) - w[j]/2), sp.count_ops(sp.tanh(x[i, j]) - w[j]/2)
    (5, 3)
"""

from __future__ import annotations

import itertools

import sympy as sp

from indexcalc.calculus.names import slot
from indexcalc.language.algebra import Binder, Index, Indexed, Det, LogDet, Size, free_indices
from indexcalc.language.walk import built, is_leaf
from indexcalc.simplify.cse_ops import count_ops
from indexcalc.simplify.keys import alpha, blind, blind_of


def shape_key(e, keys=None, every_order=False):
    """Equal for subexpressions equal up to renaming their free and summed indices
    (``keys``: the :class:`Keys` whose memos it uses). Compared, never ordered.

    A renaming keeps the places (tensor, axis) each free index stands at, so an index can
    only map to one standing at the same places: the free indices are grouped by their
    places (groups in the order of their places) and only the orders within each group
    are tried, each group on its own range of slots, not all orders of all of them
    (``every_order``: all, as the tests' reference). Two subexpressions share a spelling
    in one set exactly where they share one in the other."""
    keys = Keys() if keys is None else keys
    e = keys.alpha(e)
    free = sorted(keys.free(e), key=str)
    if len(free) > 4:
        return len(free), e
    if every_order or len(free) < 2:
        return len(free), frozenset(keys.slotted(e, {i: slot(k) for k, i in enumerate(p)})
                                    for p in itertools.permutations(free))
    groups = _by_places(free, keys.tensors(e))
    places = tuple(p for p, _ in groups)
    return len(free), places, frozenset(
        keys.slotted(e, {i: slot(k) for k, i in enumerate(itertools.chain.from_iterable(parts))})
        for parts in itertools.product(*[itertools.permutations(g) for _, g in groups]))


def _by_places(free, tensors) -> list:
    """``[(places, indices)]``: the ``free`` indices (in their order) grouped by the sorted
    (tensor, axis) places they stand at among ``tensors`` (an axis that is an expression,
    ``x[i + k]``, marks its indices apart), groups sorted by places. Renaming indices
    keeps each index's places: ``j`` and ``k`` below may trade names, ``i`` with neither.

        >>> i, j, k = Index("i"), Index("j"), Index("k")
        >>> x, w = sp.IndexedBase("x"), sp.IndexedBase("w")
        >>> for places, g in _by_places([i, j, k], {x[i, j], x[i, k], w[j], w[k]}):
        ...     print(places, g)
        (('w', 0, 0), ('x', 1, 0)) [j, k]
        (('x', 0, 0),) [i]
    """
    at = {i: set() for i in free}
    for el in tensors:
        name = str(el.base.label)
        for k, a in enumerate(el.indices):
            if a in at:
                at[a].add((name, k, 0))
            else:
                for s in a.free_symbols & at.keys():
                    at[s].add((name, k, 1))
    groups = {}
    for i in free:
        groups.setdefault(tuple(sorted(at[i])), []).append(i)
    return sorted(groups.items())


class Keys:
    """Memoized keys of subexpressions. :func:`~indexcalc.simplify.keys.blind` is cheap
    and equal wherever :func:`shape_key` is: it picks the few candidates whose exact key
    is worth computing."""

    def __init__(self):
        # id -> (subexpression, value): plain dicts, for one elimination (whose table holds
        # every subexpression anyway), not least-recently-used Memos (whose bookkeeping
        # cost more than most of the keys)
        self._exact, self._sized, self._nodes, self._number, self._size = {}, {}, {}, {}, {}
        self._nodes_in, self._tensors, self._ops, self._free, self._binders = {}, {}, {}, {}, {}
        self._slots, self._numbers = {}, {}

    blind = staticmethod(blind)
    blind_of = staticmethod(blind_of)

    def entries(self, e) -> list:
        """:func:`_entries` of ``e``."""
        hit = self._nodes.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        out = _entries(e, self)
        self._nodes[id(e)] = (e, out)
        return out

    def number(self, e) -> bool:
        """``e.is_number``, remembered for every subexpression (SymPy walks the whole
        tree each time it is asked)."""
        return up(self._number, e, _args, _is_number)

    def nodes(self, e) -> int:
        """The number of nodes of ``e`` written out as a tree: no subexpression with fewer
        holds one equal to ``e`` up to index names (nor does a product of some of its
        factors), so :func:`_substitute` does not look into it."""
        return up(self._nodes_in, e, _args, _count)

    def tensors(self, e) -> frozenset:
        """``e.atoms(sp.Indexed)``, remembered for every subexpression (SymPy's walk
        costs the depth of the tree per node: quadratic along ``tanh(tanh(...))``)."""
        return up(self._tensors, e, _args, _tensors)

    def size(self, e) -> int:
        hit = self._size.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        k = self.ops(e) + len(self.tensors(e))
        self._size[id(e)] = (e, k)
        return k

    def ops(self, e) -> int:
        """``sp.count_ops(e)``, each distinct subexpression counted once and remembered
        (SymPy's count walks the whole tree, and splits every product into a fraction,
        each time it is asked: quadratic along ``tanh(tanh(...))``)."""
        if not isinstance(e, sp.Expr) or e.is_Relational:
            return sp.count_ops(e)
        return count_ops(self._ops, e)

    def exact(self, e):
        """:func:`shape_key` of ``e`` as a number (equal for equal keys: a dict of the keys
        seen compares each new one once, then the numbers compare at once), remembered."""
        hit = self._exact.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        k = shape_key(e, self)
        k = self._numbers.setdefault(k, len(self._numbers))  # (equal keys compared once)
        self._exact[id(e)] = (e, k)
        return k

    def free(self, e) -> frozenset:
        """``free_indices(e)``, remembered for every subexpression (SymPy-style recursion
        through the whole tree each time costs the depth of the tree per node)."""
        return up(self._free, e, _free_below, _free)

    def summing(self, e) -> bool:
        """Does ``e`` hold a binder (a sum, a max over an index, ...)? Where it holds none,
        ``alpha(e)`` is ``e`` itself."""
        return up(self._binders, e, _args, _summing)

    def alpha(self, e):
        """:func:`~indexcalc.simplify.keys.alpha` of ``e`` (``e`` itself, without a walk,
        where it holds no binder)."""
        return alpha(e) if self.summing(e) else e

    def slotted(self, e, ren: dict):
        """``e.xreplace(ren)`` for ``ren`` a map of indices to canonical ones, each
        distinct subexpression rebuilt once for each ``ren`` (SymPy's ``xreplace`` walks
        a subexpression as often as it occurs, and afresh for each ancestor asked)."""
        if not ren:
            return e  # (xreplace with no rule looks at nothing)
        key = tuple(ren.items())
        cache = self._slots.get(key)
        if cache is None:
            cache = self._slots[key] = {}
        return up(cache, e, _args, lambda x, below: _replaced(x, below, ren))[0]

    def sized(self, e) -> bool:
        hit = self._sized.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        k = _sized(self.free(e), self.tensors(e))
        self._sized[id(e)] = (e, k)
        return k


def _args(e):
    return e.args


def _tensors(e, below) -> frozenset:
    inner = frozenset().union(*below)  # (a gather's index may be a tensor: x[idx[i]])
    return inner | {e} if isinstance(e, sp.Indexed) else inner


def _count(e, counts) -> int:
    return 1 + sum(counts)


def _is_number(e, numbers) -> bool:
    """SymPy's ``e.is_number`` given that of its arguments (``numbers``)."""
    if getattr(type(e), "is_number", None) is _EXPR_IS_NUMBER:
        return all(numbers)
    return bool(e.is_number)


_EXPR_IS_NUMBER = sp.Expr.__dict__["is_number"]


def _worth(e, keys) -> bool:
    """Is ``e`` worth a name? Not an atom, nor a number times an atom, nor ``1/atom``."""
    if is_leaf(e) or keys.number(e):  # (sqrt(2) is as short as its name)
        return False
    if isinstance(e, sp.Mul):
        return sum(not a.is_Number for a in e.args) >= 2 or any(not is_leaf(a) for a in e.args)
    if isinstance(e, sp.Pow):
        return not ((is_leaf(e.base) or isinstance(e.base, _Held)) and e.exp.is_Integer)
    if isinstance(e, sp.Function) and len(e.args) == 1:
        return not is_leaf(e.args[0])  # step(h[i]) costs less than a name
    return True


def _entries(e, keys) -> list:
    """``e`` if it is worth naming, and its sub-products if it is a product, as ``(blind
    key, expression or tuple of factors)`` (a sub-product is built only when its blind key
    occurs twice)."""
    out = [(keys.blind(e), e)] if _worth(e, keys) else []
    if isinstance(e, sp.Mul):
        factors = [a for a in e.args if not a.is_Number]
        if len(factors) <= 6:
            for r in range(2, len(factors)):
                out.extend((keys.blind_of("Mul", c), c) for c in itertools.combinations(factors, r))
    return out


def _sized(free, tensors) -> bool:
    """Does every free index of an expression (``free``) stand at a tensor axis in it (not
    only in len()), and has it no more free indices than its largest tensor (no outer
    products as names)? ``tensors``: its Indexed atoms."""
    at_axes, rank = set(), 0
    for el in tensors:
        at_axes |= set(el.indices)
        rank = max(rank, len(el.indices))
    return free <= at_axes and len(free) <= rank


class _Held(sp.Function):
    """``_Held(B, g)`` stands for ``B^g`` while SymPy would merge ``(B^g)^n`` into ``B^(gn)``."""

    nargs = 2


def up(cache: dict, e, children, combine):
    """:func:`~indexcalc.language.walk.bottom_up` with a plain dict ``id -> (node,
    value)`` for ``cache``, which keeps every node it is given (so an id stays its node's)."""
    hit = cache.get(id(e))
    if hit is not None and hit[0] is e:
        return hit[1]
    stack = [(e, False)]
    while stack:
        x, ready = stack.pop()
        k = id(x)
        if k in cache:
            continue
        if ready:
            cache[k] = (x, combine(x, [cache[id(c)][1] for c in children(x)]))
            continue
        stack.append((x, True))
        stack.extend((c, False) for c in children(x) if id(c) not in cache)
    return cache[id(e)][1]


def _free_below(e):
    return () if isinstance(e, (Index, Indexed, Det, LogDet, Size)) else (e.body,) if isinstance(e, Binder) \
        else e.args


def _free(e, below) -> frozenset:
    """:func:`~indexcalc.language.algebra.free_indices` of ``e`` given those of
    :func:`_free_below` of it."""
    if isinstance(e, (Index, Indexed)):
        return frozenset(free_indices(e))
    if isinstance(e, Binder):
        return below[0] - set(e.indices)
    return frozenset().union(*below)


def _summing(e, below) -> bool:
    return isinstance(e, Binder) or any(below)


def _replaced(x, below, ren) -> tuple:
    """One step of ``xreplace``: ``(x or its image, whether it changed)`` given those of
    its arguments (``below``). As in ``xreplace``, a node is built again wherever a part
    of it is a key of ``ren``, even one that ``ren`` maps to itself: SymPy's constructor
    may then give another form (``c*(a + b)`` left undistributed is distributed)."""
    if x in ren:
        return ren[x], True
    if any(changed for _, changed in below):
        return built(x, [a for a, _ in below]), True
    return x, False
