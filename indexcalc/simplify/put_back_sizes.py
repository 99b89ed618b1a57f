"""Sizes a put-back needs (:func:`~indexcalc.simplify.tidy.reuse_forward`): a left index of
a statement that stands at no tensor axis of its value (``I[i,j,k] = delta(i,j)*delta(i,k)``)
is sized by the statement alone, so its name is put back only where the index it goes to
is as large: a delta or a position sizes nothing, and ``I[a,b,c]`` read for
``delta(a,b)*delta(a,c)`` with a, b, c of another size would read outside ``I``.

    >>> import indexcalc as ic
    >>> st = ic.parse("I[i:3,j:3,k:3] = delta(i,j)*delta(i,k)").statements[0]
    >>> loose_indices(st.expr, st, at={})
    [0, 1, 2]
    >>> st = ic.parse("y[a] = x[2*a+k]*w[k]").statements[0]
    >>> loose_indices(st.expr, st, at={})
    []
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import Index, Inv


def loose_indices(pattern, st, at) -> list:
    """The numbers of the left indices of ``st`` that stand at no tensor axis of its value
    ``pattern`` (``at``: :func:`~indexcalc.simplify.tidy._places` of it), nor inside an axis expression
    (``x[2*a+k]``) or ``inv(A)[i,j]`` (those keep the old rule)."""
    loose = [k for k, i in enumerate(st.indices) if i not in at]
    if loose:
        held = {j for el in pattern.atoms(sp.Indexed, Inv) for x in el.args[1:] for j in x.atoms(Index)}
        loose = [k for k in loose if st.indices[k] not in held]
    return loose


def size_classes(e, places, sizes) -> dict:
    """``{index: size classes}`` of the indices of ``e``: those of the program's axes each
    stands at (``places``: :func:`~indexcalc.simplify.tidy._places`), else those of an index a delta in ``e`` ties it
    to (``delta(i,j)*A[i,i]``: j as large as A's axes, as the derivation's deltas are)."""
    out = {i: {sizes.find(p) for p in ps if p in sizes.parent} for i, ps in places.items()} if sizes else {}
    ties = [d.args for d in e.atoms(sp.KroneckerDelta) if all(isinstance(a, Index) for a in d.args)]
    changed = True
    while changed:
        changed = False
        for a, b in ties:
            for x, y in ((a, b), (b, a)):
                if not out.get(x) and out.get(y):
                    out[x] = set(out[y])
                    changed = True
    return out


def sized_alike(st, loose, m, classes, sizes) -> bool:
    """Does each left index of ``st`` numbered in ``loose`` (one that stands at no tensor
    axis of its value, nor inside one: ``I[i,j,k] = delta(i,j)*delta(i,k)``) go by ``m`` to
    an index as large as that axis of ``st`` (``classes``: :func:`size_classes`)? A delta or a
    position sizes nothing: ``I[a,b,c]`` for ``delta(a,b)*delta(a,c)``, a, b, c of another
    size, would read outside ``I``."""
    for k in loose:
        key = (st.name, k)
        if sizes is None or key not in sizes.parent or sizes.find(key) not in classes.get(m[st.indices[k]], ()):
            return False
    return True
