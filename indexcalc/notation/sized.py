"""A window's size stated in a reduction that prints it (README "Windows and positions"):
``max[k:2](x[2*a+k])`` reads only inside axis expressions, so nothing else in a printout
says how large ``k`` is. A sum carries its stated sizes itself
(:class:`~indexcalc.language.algebra.ISum`); a ``max``, ``min`` or ``logsumexp`` that a
derivation prints carries them as one of the sized classes of
:mod:`indexcalc.language.windows` (``state_sum_sizes``); for any other printout (the LaTeX
of a program, the steps of a derivation) :func:`sized` gives it them: the same reduction
(a subclass of its class, which computes the same), printed ``max[k:2](..)`` in text and
``\\max_{k < 2}`` in LaTeX.

    >>> import sympy as sp
    >>> from indexcalc.language.algebra import Index, MaxOver
    >>> a, k = Index("a"), Index("k")
    >>> m = sized(MaxOver(sp.IndexedBase("x")[2*a + k], (k,)), lambda i: 2)
    >>> isinstance(m, MaxOver), m.sizes
    (True, (2,))
    >>> from indexcalc.notation.text import TextPrinter
    >>> TextPrinter().doprint(m)
    'max[k:2](x[2*a+k])'
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import Index, ISum, Len, LogSumExp, MaxOver, MinOver, Size
from indexcalc.language.one_size import stated_sizes
from indexcalc.language.windows import SIZED as _SIZED, stated_size

__all__ = ["restate", "sized", "stated_sums", "window_size"]


def sized(e, size):
    """``e`` with every ``max``, ``min`` and ``logsumexp`` whose listed index stands at no
    axis by itself (only inside axis expressions) given that index's size, as ``size(i)``
    tells it (None: unknown, left unstated)."""
    if not isinstance(e, sp.Basic) or not e.has(MaxOver, MinOver, LogSumExp):
        return e

    def walk(x):
        if not x.args or isinstance(x, (sp.Indexed, Index, Len, Size)):
            return x
        args = [walk(a) for a in x.args]
        x = x if all(a is b for a, b in zip(args, x.args)) else x.func(*args)
        cls = next((c for c in _SIZED if type(x) is c), None)
        if cls is None:
            return x
        bare = {i for r in x.body.atoms(sp.Indexed) for i in r.indices if isinstance(i, Index)}
        sizes = [0 if i in bare else (size(i) or 0) for i in x.indices]
        return _SIZED[cls](x.body, x.indices, sizes)

    return walk(e)


def window_size(program, n, i):
    """The size of index ``i`` of statement ``n`` of ``program`` as a stated size (the
    ``2`` of ``max[k:2]``; None where the program does not know it)."""
    key = (n, i)
    return stated_size(program, key) if key in program.sizes.parent else None


def stated_sums(e, program, st):
    """``e`` (the right side of statement ``st`` of ``program``) with the size that ``st``
    states for a summed or reduced index restored where a tensor also sizes that index
    (``sum[k:3](x[k])``: the checker keeps no size on the sum, since ``x`` gives it, but
    ``x`` must then have 3 elements, which the LaTeX says as ``\\sum_{k < 3}``, as the
    statement's text does), and each size the statement keeps beside its expression
    (:attr:`~indexcalc.language.program.Statement.stated`: a bare ``size(w,1)`` or
    ``len(i)`` too). A size kept already stays.

        >>> import indexcalc as ic
        >>> p = ic.parse("y = sum[k:3](x[k])")
        >>> stated_sums(p.statements[0].expr, p, p.statements[0]).sizes
        (3,)
    """
    stated = {i: n for (line, name, i), n in stated_sizes(program.sizes).items()
              if line == st.line and name == st.name}
    stated.update((i, n) for i, n in getattr(st, "stated", ()) if i not in stated)
    return restate(e, stated)


def restate(e, stated):
    """``e`` with every sum, ``max``, ``min`` and ``logsumexp`` over an index of ``stated``
    (``{index: size}`` or its items, as :attr:`~indexcalc.language.program.Statement.stated`)
    stating that size, where it states none (an index has one size in its statement).

        >>> import indexcalc as ic
        >>> from indexcalc.notation.text import TextPrinter
        >>> st = ic.parse("y = max[k:3](x[k])").statements[0]
        >>> st.stated
        ((k, 3),)
        >>> TextPrinter().doprint(restate(st.expr, st.stated))
        'max[k:3](x[k])'
    """
    stated = dict(stated)
    if not stated or not isinstance(e, sp.Basic):
        return e

    def had(x) -> list:
        return list(getattr(x, "sizes", None) or (None,) * len(x.indices))

    def restated(x):
        sizes = [n if n is not None else stated.get(i, 0) for i, n in zip(x.indices, had(x))]
        if isinstance(x, ISum):
            return ISum(x.body, x.indices, sizes)
        cls = next(c for c in _SIZED if isinstance(x, c))
        return _SIZED[cls](x.body, x.indices, sizes)

    def plain(x):  # a sum or reduction one of whose indices lacks its stated size
        return isinstance(x, (ISum, MaxOver, MinOver, LogSumExp)) and \
            any(n is None and i in stated for i, n in zip(x.indices, had(x)))
    return e.replace(plain, restated)
