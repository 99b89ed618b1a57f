"""A cheap structural key: :func:`blind` hashes an expression with every index name
forgotten, so expressions equal up to renaming their indices (free or summed) have equal
keys. Unequal keys prove two expressions different; equal keys only make them worth an
exact comparison. Cached by identity, and built bottom-up, so a whole tree costs one pass.
:func:`alpha` is the exact comparison up to the names of summed indices.

    >>> from indexcalc.language.algebra import Index, ISum
    >>> i, j, k = Index("i"), Index("j"), Index("k")
    >>> x, w = sp.IndexedBase("x"), sp.IndexedBase("w")
    >>> blind(x[i, k]*w[k]) == blind(w[j]*x[i, j]), blind(x[i, k]*w[k]) == blind(x[i, k] + w[k])
    (True, False)
    >>> alpha(ISum(x[i, k]*w[k], [k])) == alpha(ISum(x[i, j]*w[j], [j])), alpha(x[i]) == alpha(x[j])
    (True, False)
"""

from __future__ import annotations

import sympy as sp

from sympy import KroneckerDelta

from indexcalc.calculus.names import bound
from indexcalc.language.algebra import Binder, Index, Inv
from indexcalc.language.memo import Memo, recall, remember
from indexcalc.language.walk import rebuild, rename


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


def alpha(e):
    """Comparison up to the names of summed indices: ``e`` with every summed index renamed by its depth and its place in its sum, so
    that sums equal up to the names of their indices compare equal (the new name of a
    summed index depends only on its own sum, not on the order SymPy lists terms in)."""
    out = recall(_ALPHA, e)
    if out is None:
        out = _alpha(e, 0)
        remember(_ALPHA, e, out)
    return out


_ALPHA = Memo()  # alpha(e) by the identity of e (see indexcalc.language.memo)


def _alpha(e, depth):
    """Recursion only from a binder into its body (``depth`` counts binders)."""
    def binder(b):  # a sum, or a reduction such as max[i](..)
        if len(b.indices) == 1:
            order = list(b.indices)
        else:
            found = _found(b.body)  # (once for all its indices)
            order = sorted(b.indices, key=lambda i: _signature(found, i, b.indices))
        # of their own class: equal to no index of the program, whatever its name
        ren = {i: bound(k, depth) for k, i in enumerate(order)}
        return type(b)(_alpha(rename(b.body, ren), depth + 1), [ren[i] for i in order])
    return rebuild(e, _same, stop=(Binder,), leaf=lambda x: binder(x) if isinstance(x, Binder) else x)


def _same(e):
    return e


def signature(e, i, summed=()):
    """Where index ``i`` stands in ``e``: the tensors (and inverses, deltas) and axes,
    independent of its name; with ``summed`` (the indices of its sum), also the other
    indices of each tensor it stands at (those of ``summed`` as ``?``), so that in
    ``X[l,i]*X[n,l]*X[j,n]`` the summed ``l`` (beside ``i``) and ``n`` (beside ``j``)
    differ."""
    return _signature(_found(e), i, summed)


def _found(e) -> tuple:
    """The tensor elements, inverses and deltas in ``e`` (what :func:`signature` reads)."""
    return e.atoms(sp.Indexed), e.atoms(Inv), e.atoms(KroneckerDelta)


def _signature(found, i, summed=()):
    elements, inverses, deltas = found

    def around(el):
        return tuple("*" if j == i else "?" if j in summed else _name(j) for j in el.indices) if summed else ()
    where = [(el.base.label.name, k, around(el)) for el in elements
             for k, j in enumerate(el.indices) if j == i]
    where += [("inv " + f.args[0].label.name, k, ()) for f in inverses for k, j in enumerate(f.args[1:]) if j == i]
    where += [("delta", 0, ()) for d in deltas for j in d.args if j == i]
    return sorted(where)


def _name(j) -> str:
    return j.name if isinstance(j, sp.Symbol) else str(j)
