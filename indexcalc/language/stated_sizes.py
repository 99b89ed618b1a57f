"""Sizes a printout states (README "Windows and positions"): the sized ``max``/``min``/
``logsumexp`` (``max[k:2](..)``), the summed or reduced indices whose size a statement would
not know, and the sizes a derivative's text states for them and for its left indices.
Split out of :mod:`indexcalc.language.windows` (the checker's part), which re-exports them.

    >>> import indexcalc as ic
    >>> print(ic.derive("y[i] = max[k:2](x[2*i+k])"))  # k and l: stated in dx's sums
    dx[j] = sum[i,k:2](delta(j,2*i+k)*dy[i]*(1 - step(y[i] - x[j]))/(sum[l:2](1 - step(y[i] - x[2*i+l]))))
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from indexcalc.language.algebra import (Binder, Index, Inv, ISum, KroneckerDelta, Len, LogSumExp, MaxOver, MinOver,
                                        Reduction, Size, size_node, size_of)
from indexcalc.language.axes import Compare, size_text
from indexcalc.language.functions import BY_CLASS
from indexcalc.language.naming import twin_axes

def windowed(e) -> bool:
    """Does ``e`` hold an axis expression, a literal position, a position or a comparison?"""
    if isinstance(e, (Index, Compare)):
        return True
    if isinstance(e, sp.Indexed):
        return any(not isinstance(x, Index) for x in e.indices)
    if isinstance(e, sp.KroneckerDelta):
        return any(not isinstance(x, Index) for x in e.args)
    if isinstance(e, Binder):
        return windowed(e.body)
    if isinstance(e, (Len, Size, Inv, sp.Tuple)):
        return False
    return any(windowed(a) for a in e.args)


def stated_size(prog, key):
    """The size of ``key`` (a key of ``prog.sizes``) as a stated size: ``size(A,k)`` of an
    axis of that size, else the number or expression a statement stated or the valid
    rule gave (``2`` for ``max[k:2]``); None where ``prog`` does not know it."""
    node = size_node(prog, key)
    if node is not None or key not in prog.sizes.parent:
        return node
    root = prog.sizes.find(key)
    values = [k[1] for k in list(prog.sizes.parent) if k[0] == "=" and prog.sizes.find(k) == root]
    return values[0] if values else None


class _Sized:
    """A ``max``, ``min`` or ``logsumexp`` with stated sizes: the part that differs from the
    plain reduction is a third argument, the sizes (0: not stated), and the text that
    writes them, ``max[k:2](..)``. It computes what the plain reduction computes."""

    def __new__(cls, body, indices, sizes=None):
        if sizes is None or not any(sp.sympify(n) != 0 for n in sizes):
            return cls.__mro__[2](body, indices)  # the plain reduction
        return sp.Expr.__new__(cls, sp.sympify(body), sp.Tuple(*indices), sp.Tuple(*sizes))

    @property
    def sizes(self) -> tuple:
        return tuple(None if n == 0 else n for n in self.args[2])

    def _indexcalc_text(self, printer):
        plain = Reduction._indexcalc_text(self, printer)  # word[i,j](body)
        slots = [str(i) if n is None else f"{i}:{size_text(n)}" for i, n in zip(self.indices, self.sizes)]
        return f"{self.word}[{','.join(slots)}]" + plain[plain.index("]") + 1:]


#: the sized class of each reduction other than a sum (a subclass of it)
SIZED = {cls: type(f"Sized{cls.__name__}", (_Sized, cls), {}) for cls in (MaxOver, MinOver, LogSumExp)}
BY_CLASS.update({sized: BY_CLASS[cls] for cls, sized in SIZED.items()})  # lowered, derived as the plain one


def _bare(body) -> set:
    return {i for r in body.atoms(sp.Indexed) for i in r.indices if isinstance(i, Index)}


def unsized_indices(e, left=None) -> set:
    """The summed or reduced indices of ``e`` whose size its statement would not know: an
    index that stands at no tensor axis by itself (only in deltas, comparisons, positions or
    ``len``) and that no ``delta`` ties to one that does or to a free (left) index. The
    checker sizes an index by its name in the statement, so a name counts once. With
    ``left`` (the statement's left indices, which its name does not size): those of them
    too that nothing on the right sizes (``hA[i,j] = 2*t1*delta(i,j)``).

        >>> x, c, b = Index("x"), Index("c"), Index("b")
        >>> A = sp.IndexedBase("A")
        >>> sorted(unsized_indices(A[b, b]*ISum(sp.exp(KroneckerDelta(x, c)), (x, c))), key=str)
        [c, x]
        >>> unsized_indices(ISum(A[b, b]*KroneckerDelta(b, c), (b, c)))
        set()
        >>> i, j = Index("i"), Index("j")
        >>> sorted(unsized_indices(A[b, b]*KroneckerDelta(i, j), (i, j)), key=str)
        [i, j]
    """
    left = frozenset(left or ())
    parent: dict = {}

    def find(a):
        while parent.get(a, a) != a:
            a = parent[a]
        return a

    sized, summed = set(), set()

    def walk(x, bound):
        if isinstance(x, Index):
            if x not in bound and x not in left:  # a free index: a left one, sized by the statement's name
                sized.add(x)
        elif isinstance(x, sp.Indexed):
            sized.update(i for i in x.indices if isinstance(i, Index))
            for i in x.indices:
                if not isinstance(i, Index):
                    walk(i, bound)
        elif isinstance(x, Inv):
            sized.update(i for i in x.args[1:] if isinstance(i, Index))
        elif isinstance(x, Binder):
            summed.update(x.indices)
            walk(x.body, bound | set(x.indices))
        elif isinstance(x, (Len, Size)):
            if isinstance(x, Len) and x.args[0] not in bound and x.args[0] not in left:
                sized.add(x.args[0])
        else:
            if isinstance(x, sp.KroneckerDelta) and all(isinstance(a, Index) for a in x.args):
                parent[find(x.args[0])] = find(x.args[1])
            for a in x.args:
                walk(a, bound)

    walk(e, frozenset())
    roots = {find(i) for i in sized}
    return {i for i in summed | left if i not in sized and find(i) not in roots}


def state_sum_sizes(e, size, unsized=False):
    """``e`` with the size of every summed or reduced index that stands at no axis by
    itself (only inside axis expressions, comparisons or positions) stated in its sum,
    ``max``, ``min`` or ``logsumexp``, as ``size(i)`` gives it (None: not known, left
    unstated), so the text says how large it is: ``sum[k:3](dy[j-k])``,
    ``logsumexp[l:3](al[t,n,s-l])``. The checker sizes no such index of a derivative by
    the valid rule (see :meth:`WindowChecks.resolve_sizes`). ``unsized`` (a derivative's
    statement, whole): without axis expressions, comparisons or positions, so does an index
    that stands only in deltas or ``len`` and that no delta ties to a sized one
    (:func:`unsized_indices`): ``sum[x:size(A,0),c:size(A,0)](softplus(delta(c,x)))``. (The
    checker's own sums keep the text as written: their sizes are the program's.)

        >>> k, j = Index("k"), Index("j")
        >>> dy, w = sp.IndexedBase("dy"), sp.IndexedBase("w")
        >>> state_sum_sizes(ISum(dy[j - k], (k,)), lambda i: 3).sizes
        (3,)
        >>> state_sum_sizes(ISum(dy[j - k]*w[k], (k,)), lambda i: 3).sizes
        (None,)
        >>> m = state_sum_sizes(MaxOver(dy[2*j + k], (k,)), lambda i: 2)
        >>> isinstance(m, MaxOver), m.sizes
        (True, (2,))
        >>> e = w[j]*ISum(sp.exp(KroneckerDelta(j, k)), (k,))  # k is as large as j
        >>> state_sum_sizes(e, lambda i: 3, unsized=True) is e
        True
        >>> m = Index("m")
        >>> state_sum_sizes(w[j]*ISum(sp.exp(KroneckerDelta(m, k)), (k, m)), lambda i: 3, unsized=True).args[0].sizes
        (3, 3)
    """
    if not isinstance(e, sp.Basic):
        return e
    if windowed(e):
        def stated(i, body, n):
            return n if n is not None else None if i in _bare(body) else size(i)
    elif not unsized:
        return e
    else:
        loose = unsized_indices(e)
        if not loose:
            return e

        def stated(i, body, n):
            return n if n is not None or i not in loose else size(i)

    def walk(x):
        if isinstance(x, ISum):
            body = walk(x.body)
            sizes = [stated(i, body, n) for i, n in zip(x.indices, x.sizes)]
            known = {Len(i): n for i, n in zip(x.indices, sizes) if n is not None and sp.sympify(n).is_Integer}
            body = body.xreplace(known) if known else body  # mean[k:2]: 1/2, not 1/len(k)
            return ISum(body, x.indices, [0 if n is None else n for n in sizes])
        plain = next((c for c in SIZED if isinstance(x, c)), None)
        if plain is not None:  # max[k:2](..): a reduction states its window's size too
            body, had = walk(x.body), getattr(x, "sizes", (None,) * len(x.indices))
            sizes = [stated(i, body, n) for i, n in zip(x.indices, had)]
            return SIZED[plain](body, x.indices, [0 if n is None else n for n in sizes])
        if not x.args or isinstance(x, (sp.Indexed, Index, Len, Size)):
            return x
        args = [walk(a) for a in x.args]
        return x if all(a is b for a, b in zip(args, x.args)) else x.func(*args)

    return walk(e)


def state_left_sizes(statements, axes, prog=None) -> list:
    """``statements`` with a stated size for each left index of a statement with axis
    expressions that stands at no axis of its own size by itself and whose name does not
    size it (a gradient ``dx`` of ``x`` needs none: the checker gives ``j`` of
    ``dx[j] = dy[j-k]*w[k]`` the size of ``x`` before the valid rule; a temporary does),
    and of any other statement whose name does not size it, for each left index that
    stands at no tensor axis and that no delta ties to one (:func:`unsized_indices`: an
    HVP ``hA[i:size(A,0),j:size(A,1)] = 2*t1*tt1*delta(i,j)``). ``axes`` maps a
    name to the ``(tensor, axis)`` its axes are as large as (a gradient ``dx``: those of
    ``x``); the forward program ``prog`` says whether a bare axis (``w[i]`` in a gradient
    of ``x``) is as large, and which axis of its own states the size (an input's)."""
    sizes = prog.sizes if prog is not None else None
    def same(read, k, want):
        key = axes[read][k] if read in axes and k < len(axes[read]) else (read, k)
        return key == want or (sizes is not None and key in sizes.parent and want in sizes.parent
                               and sizes.find(key) == sizes.find(want))

    out = []
    ranks = dict(prog.ranks) if prog is not None else {}
    for st in statements:
        want = axes.get(st.name, ())
        twins = twin_axes(st.name, len(st.indices), ranks) if st.name not in ranks else None
        ranks.setdefault(st.name, len(st.indices))
        if not st.indices or len(want) != len(st.indices) or any(st.sizes) \
                or (twins is not None and list(twins) == list(want)):  # its name sizes it
            out.append(st)
            continue
        if windowed(st.expr):
            sized = [any(x == i and same(str(r.base.label), a, want[k])
                         for r in st.expr.atoms(sp.Indexed) for a, x in enumerate(r.indices))
                     for k, i in enumerate(st.indices)]
        else:  # only a left index that stands at no axis and that no delta ties to one
            loose = unsized_indices(st.expr, st.indices)
            sized = [i not in loose for i in st.indices]
            if all(sized):
                out.append(st)
                continue
        stated = []
        for k, i in enumerate(st.indices):
            node = size_node(prog, want[k]) if prog is not None else size_of(*want[k])
            if node is None and want[k][0] in prog.ranks:
                node = size_of(*want[k])
            stated.append(None if sized[k] else node)  # (None: no axis of prog states it)
        out.append(dataclasses.replace(st, sizes=tuple(stated)) if any(stated) else st)
    return out
