"""A window's size stated in a reduction that prints it (README "Windows and positions"):
``max[k:2](x[2*a+k])`` reads only inside axis expressions, so nothing else in a printout
says how large ``k`` is. A sum carries its stated sizes itself
(:class:`~indexcalc.language.algebra.ISum`); a ``max``, ``min`` or ``logsumexp`` does not,
and for a printout (the LaTeX of a program, the steps of a derivation) :func:`sized`
gives it them: the same reduction (a subclass of its class, which computes the same),
printed ``max[k:2](..)`` in text and ``\\max_{k < 2}`` in LaTeX.

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

from indexcalc.language.algebra import Index, Len, LogSumExp, MaxOver, MinOver, Reduction, Size
from indexcalc.language.axes import size_text
from indexcalc.language.windows import stated_size

__all__ = ["sized", "window_size"]


class _Sized:
    """The part of a sized reduction that differs: a third argument, the stated sizes
    (0: not stated), and the text that writes them."""

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


_SIZED = {cls: type(f"Sized{cls.__name__}", (_Sized, cls), {}) for cls in (MaxOver, MinOver, LogSumExp)}


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
