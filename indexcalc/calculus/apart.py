"""A statement with every index renamed apart, before the sweep differentiates it.

:func:`own_indices` gives every summed (or reduced) index of statement ``n`` a fresh name
that remembers its size, ``(n, index)`` in the program's ``sizes``, and so do its left
indices and any index that a ``len()`` reads outside every sum. The names are handed out
in one order: each sum's indices as a walk reaches the sum (outer before inner, in the
order of the arguments), then the loose indices by name, then the left ones.

    >>> import indexcalc as ic
    >>> from indexcalc.calculus.names import NameSupply
    >>> prog = ic.parse("y[i] = sum[j](W[i,j]*x[j]) + sum[j](x[j])")
    >>> supply = NameSupply.of_program(prog)
    >>> own_indices(prog.statements[0], 0, supply)
    ((i_1,), ISum(W[i_1, j_1]*x[j_1], (j_1,)) + ISum(x[j_2], (j_2,)))
    >>> supply.sized[Index("j_2")]
    (0, j)
"""

from __future__ import annotations

import sympy as sp
from sympy import KroneckerDelta

from indexcalc.calculus.contract import freshen
from indexcalc.language.algebra import Binder, Index, Len, Size
from indexcalc.language.walk import rename as rename_indices, renamed

_LEAVES = (sp.Indexed, Index, KroneckerDelta, Len, Size)  # (no sum is looked for inside)


def own_indices(st, n: int, supply, rename_left=True):
    """``(left, rhs)``: statement ``n`` with every index renamed apart (its left indices
    too, unless ``rename_left``), each new index remembering its size, ``(n, index)`` in
    the program's ``sizes``, so that a ``len()`` of it left unbound by a contraction can
    be stated as ``size(A, k)`` (:func:`~indexcalc.calculus.differentiate.state_sizes`).

    Two walks: the first hands out the names of the sums and finds the indices no sum
    binds; the second rebuilds the statement once with every name in place (a sum's
    names where it binds them, the loose and left ones elsewhere)."""
    supply.add_expr(st.expr)
    if not _ONE_WALK:
        return _two_walks(st, n, supply, rename_left)
    sums, free = [], set()
    _hand_out(st.expr, n, supply, frozenset(), sums, free)
    # an index only a len() mentions outside any sum (``cos(x[l]*len(s)) + x[s]``, where
    # the top-level sum over s is another term's) is free in rhs: rename it too
    ren = {i: supply.sized_index(i, (n, i)) for i in sorted(free, key=str)  # (not set order)
           if i not in st.indices and i not in supply.sized}
    left = tuple(st.indices)
    if rename_left:
        left = tuple(supply.sized_index(i, (n, i)) for i in st.indices)
        ren.update(zip(st.indices, left))
    if not ren and not sums:
        return left, st.expr
    return left, _rebuild(st.expr, ren, iter(sums))


def _hand_out(e, n, supply, bound, sums, free):
    """The first walk: a new name for each index of each sum, in the order the walk
    reaches them (``sums``, one map per sum), and the indices read where no sum binds
    them (``free``)."""
    if isinstance(e, Binder):
        ren = {i: supply.sized_index(i, (n, i)) for i in e.indices}
        sums.append(ren)
        _hand_out(e.body, n, supply, bound | set(e.indices), sums, free)
        return
    if isinstance(e, Index):
        if e not in bound:
            free.add(e)
        return
    if not e.args:
        return
    if isinstance(e, _LEAVES):
        stack = list(e.args)
        while stack:
            x = stack.pop()
            if isinstance(x, Index):
                if x not in bound:
                    free.add(x)
            else:
                stack.extend(x.args)
        return
    for a in e.args:
        _hand_out(a, n, supply, bound, sums, free)


def _rebuild(e, ren, sums):
    """The second walk: ``e`` with ``ren`` applied and each sum's names (``sums``, in the
    first walk's order) applied within it."""
    if isinstance(e, Binder):
        own = next(sums)
        return type(e)(_rebuild(e.body, {**ren, **own}, sums), [own[i] for i in e.indices])
    if not e.args or isinstance(e, _LEAVES):
        return rename_indices(e, ren) if ren and (e.args or isinstance(e, Index)) else e
    args = [_rebuild(a, ren, sums) for a in e.args]
    return e if all(a is b for a, b in zip(args, e.args)) else renamed(e, args)


def _two_walks(st, n, supply, rename_left):
    """:func:`own_indices` as it was (for an A/B measurement): the sums renamed apart
    bottom-up, then the loose and left indices in a second rebuild."""
    def rename(e):
        if isinstance(e, Binder):  # a sum or a reduction
            ren = {i: supply.sized_index(i, (n, i)) for i in e.indices}
            return type(e)(rename_indices(rename(e.body), ren), [ren[i] for i in e.indices])
        if not e.args or isinstance(e, _LEAVES):
            return e
        args = [rename(a) for a in e.args]
        return e if all(a is b for a, b in zip(args, e.args)) else renamed(e, args)

    rhs = rename(st.expr)
    loose = {i: supply.sized_index(i, (n, i)) for i in sorted(rhs.atoms(Index), key=str)
             if i not in st.indices and i not in supply.sized}
    if not rename_left:
        return tuple(st.indices), rename_indices(rhs, loose) if loose else rhs
    left = tuple(supply.sized_index(i, (n, i)) for i in st.indices)
    return left, rename_indices(rhs, {**loose, **dict(zip(st.indices, left))})


_ONE_WALK = True  # (False: the two walks, for an A/B measurement)


class _Taken(Exception):
    """A name to rename to is in the expression already (see :func:`freshen_renamed`)."""


def freshen_renamed(e, supply, ren: dict):
    """``rename(freshen(e, supply), ren)`` in one walk: every summed index of ``e`` gets a
    fresh name from ``supply`` (in the order :func:`~indexcalc.calculus.contract.freshen`
    hands them out) and the free indices of ``ren`` (one to one) get theirs. A new name of
    ``ren`` found in ``e`` (which the sweep's own names never are) is left to the two
    walks, with summed names fresh again.

        >>> import indexcalc as ic
        >>> from indexcalc.calculus.names import NameSupply
        >>> from indexcalc.language.algebra import ISum
        >>> a, i, k = Index("a_1"), Index("i"), Index("k_1")
        >>> x = sp.IndexedBase("x")
        >>> supply = NameSupply(["i", "k_1", "a_1"])
        >>> freshen_renamed(ISum(x[a, k], (k,)), supply, {a: i})
        ISum(x[i, k_2], (k_2,))
    """
    new = set(ren.values()) - set(ren)
    if not _FUSED or len(set(ren.values())) != len(ren):
        return rename_indices(freshen(e, supply), ren)
    supply.add_expr(e)
    try:
        return _freshen(e, supply, {}, ren, new)
    except _Taken:
        return rename_indices(freshen(e, supply), ren)


def _freshen(e, supply, fresh, ren, new):
    """``fresh``: the new names of the sums around ``e`` (as ``freshen`` renames them);
    ``ren``: the free indices' new names."""
    if isinstance(e, Index):
        if e in fresh:
            return fresh[e]
        if e in new:
            raise _Taken
        return ren.get(e, e)
    if isinstance(e, Binder):  # a sum, or a reduction such as max[i](..)
        fresh = {**fresh, **{i: supply.index(i) for i in e.indices}}
        return type(e)(_freshen(e.body, supply, fresh, ren, new), [fresh[i] for i in e.indices], *e.args[2:])
    if not e.args:
        return e
    if not fresh and isinstance(e, _LEAVES):  # (freshen looks for no sum inside)
        return _plain(e, ren, new)
    args = [_freshen(a, supply, fresh, ren, new) for a in e.args]
    return e if all(a is b for a, b in zip(args, e.args)) else renamed(e, args)


def _plain(e, ren, new):
    """``e`` with ``ren`` applied, sums or not."""
    if isinstance(e, Index):
        if e in new:
            raise _Taken
        return ren.get(e, e)
    if not e.args:
        return e
    args = [_plain(a, ren, new) for a in e.args]
    return e if all(a is b for a, b in zip(args, e.args)) else renamed(e, args)


_FUSED = True  # (False: freshen, then rename: for an A/B measurement)
