"""One size per axis, across statements (README "Windows and positions"): an axis whose
size two statements compute differently, so that no input shape fits the program, is a
:class:`~indexcalc.errors.ShapeError` when the program is checked, naming the index, the two
axes and their sizes, not one at every call.

A stated size and a "valid" size are expressions of the program's axes
(``size(x,0) - 2``); the checker joins them with the axes of the indices they size
(``("=", expr)`` keys of :class:`~indexcalc.language.program.Sizes`). Two such sizes that
one index ties together must then be equal; where they differ by a number whatever the
inputs' shapes (``size(x,0) - 2`` and ``size(x,0) - 1``; ``size(x,0)`` and
``size(x,0) - 2``; ``3`` and ``4``), or by sizes that no axis can have (``size(x,0) -
size(w,0) + 1`` and ``size(x,0) + 2`` are equal only for ``size(w,0) = -1``, and every axis
has at least one element), the program can never run. Where they merely *might* differ
(``size(x,0) - size(w,0) + 1`` and ``size(x,0)``: ``w`` of size 1) the program stays valid
and the call checks the shapes.

    >>> import indexcalc as ic
    >>> ic.parse("y[a] = max[k:3](x[a+k])\\nz[a] = max[k:2](x[a+k])\\nw[a] = y[a]*z[a]")
    Traceback (most recent call last):
    ...
    indexcalc.errors.ShapeError: line 3, in 'w[a] = y[a]*z[a]': index a cannot have one size: axis 0 of y has size(x,0) - 2 (its valid size, line 1) and axis 0 of z has size(x,0) - 1 (its valid size, line 2), which differ by 1 whatever the shapes of the inputs, so no input fits the program
"""

from __future__ import annotations

import sympy as sp

from indexcalc.errors import ShapeError
from indexcalc.language.algebra import Len, Size, size_of
from indexcalc.language.axes import size_text


def computed(sizes) -> dict:
    """``{("=", expr) key: where it comes from or None}`` of ``sizes``, kept on it (a
    program resumed from another's tables finds its keys again, without where from)."""
    table = getattr(sizes, "computed_sizes", None)
    if table is None:
        table = {k: None for k in sizes.parent if k[0] == "="}
        sizes.computed_sizes = table
    return table


def record(sizes, key, line, name, axis, index, stated):
    """Note that statement ``line`` (``name``) gives ``key`` to ``index`` (at ``axis`` of
    ``name`` on the left, else None); a ``stated`` one also in :func:`stated_sizes`."""
    table = computed(sizes)
    if table.get(key) is None:
        table[key] = (line, name, axis, index, stated)
    if stated:
        stated_sizes(sizes)[(line, name, index)] = key[1]


def stated_sizes(sizes) -> dict:
    """``{(line, statement name, index): its stated size}`` of ``sizes``, each size that a
    statement states as an expression (``sum[k:3](x[k])``: ``3``; a bare ``size(A,k)`` or
    ``len(j)`` is an axis's key, not listed), kept on it for the printouts (the LaTeX of
    ``sum[k:3](x[k])`` is ``\\sum_{k < 3}``, though ``x`` sizes ``k``: see
    :mod:`indexcalc.notation.sized`). A program resumed from another's tables has none.

        >>> import indexcalc as ic
        >>> stated_sizes(ic.parse("y = sum[k:3](x[k])").sizes)
        {(1, 'y', k): 3}
    """
    table = getattr(sizes, "stated_sizes", None)
    if table is None:
        table = sizes.stated_sizes = {}
    return table


def check_one_size(sizes, n, indices, line, text):
    """Raise a ShapeError where an index of statement ``n`` (``indices``) ties two sizes
    that differ by a number (module doc)."""
    table = computed(sizes)
    if not table:
        return
    here = {}
    for i in indices:
        if (n, i) in sizes.parent:
            here.setdefault(sizes.find((n, i)), i)
    by_root = {}
    for key in table:
        root = sizes.find(key)
        if root in here:
            by_root.setdefault(root, []).append(key)
    for root, keys in by_root.items():
        clash = _clash(sizes, root, keys)
        if clash is not None:
            (a, a_text), (b, b_text), gap = clash
            why = " whatever the shapes of the inputs" if gap.is_Number else \
                " (never 0: every axis has at least one element)"
            raise ShapeError(f"line {line}, in '{text}': index {here[root]} cannot have one size: {a_text} and "
                             f"{b_text}, which differ by {_gap_text(gap)}{why}, so no input fits the program")


def _clash(sizes, root, keys):
    """Two sizes of the class ``root`` (from its ``("=", expr)`` ``keys``, and the class's
    own axis where an expression reads it) that differ by a nonzero number, each with its
    description, and the difference; or None."""
    values, own, names = [], None, {}  # names: each symbol back to a size, for the message
    for key in keys:
        expr = key[1]
        subs = {}
        for s in expr.atoms(Size):
            at = (s.tensor, s.axis)
            if at in sizes.parent and sizes.find(at) == root:
                subs[s] = sp.Symbol("_this")
                own = own or at
            else:  # (an axis no index reads, as w[0]: a size of its own)
                subs[s] = sp.Symbol(f"_size{sizes.find(at)!r}" if at in sizes.parent else f"_axis{at!r}")
        subs.update({x: sp.Dummy() for x in expr.atoms(Len)})  # (len(j) of one statement only)
        names.update({v: k for k, v in subs.items() if v not in names})
        values.append((expr.xreplace(subs), key))
    if own is not None:
        values.append((sp.Symbol("_this"), own))
        names[sp.Symbol("_this")] = size_of(*own)
    if len(values) < 2:
        return None
    for k, (a, ka) in enumerate(values):
        for b, kb in values[k + 1:]:
            gap = sp.expand(a - b)
            if (gap.is_Number and gap != 0) or _never_zero(gap):
                return (ka, _describe(sizes, ka)), (kb, _describe(sizes, kb)), gap.xreplace(names)
    return None


def _never_zero(gap) -> bool:
    """Is ``gap``, a polynomial in sizes (each at least 1: no axis is empty), never 0? So
    where every coefficient has one sign and their sum is not 0: ``-size(w,0) - 1`` (the
    sizes would be equal only for ``size(w,0) = -1``), ``size(w,0)``; not ``1 - size(w,0)``.

        >>> w, v = sp.symbols("w v")
        >>> _never_zero(-w - 1), _never_zero(w*v - 1), _never_zero(w), _never_zero(1 - w)
        (True, False, True, False)
    """
    symbols = sorted(gap.free_symbols, key=str)
    if not symbols or not gap.is_polynomial(*symbols):
        return False  # (a floor quotient: (size(x,0) - 3)//2 + 1)
    coefficients = sp.Poly(gap, *symbols).coeffs()
    total = sum(coefficients)
    return all(c >= 0 for c in coefficients) and total > 0 or all(c <= 0 for c in coefficients) and total < 0


def _gap_text(gap) -> str:
    """``1``; ``size(w,0) + 1`` (a difference of sizes, positive where all sizes are at least 1)."""
    gap = sp.expand(-gap) if gap.could_extract_minus_sign() else gap
    if gap.is_Number:
        return str(gap)
    try:
        return size_text(gap)
    except ValueError:
        return str(gap)


def _describe(sizes, key) -> str:
    if key[0] != "=":
        return f"axis {key[1]} of {key[0]} has size({key[0]},{key[1]})"
    try:
        text = size_text(key[1])
    except ValueError:
        text = str(key[1])
    where = computed(sizes).get(key)
    if where is None:
        return f"a size {text}"
    line, name, axis, index, stated = where
    how = "stated" if stated else "its valid size"
    if axis is None:
        return f"index {index} of line {line} has {text} ({how})"
    return f"axis {axis} of {name} has {text} ({how}, line {line})"
