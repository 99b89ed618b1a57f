"""Where an intermediate gradient may not be put into its reader (README "Windows and
positions": a read outside its axis is 0, and a bare index sizes its axis):
:func:`indexcalc.derivation.assemble.inline_cheap` asks these before it inlines."""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import Index


def off_place_names(exprs) -> set:
    """The tensors that ``exprs`` read somewhere at a position other than a bare index or a
    literal (``dy[j-k]``, ``x[tok[n]]``): only a gradient among them needs the checks
    below, which walk the whole reader (a residual chain of n statements would walk n
    growing readers).

        >>> from indexcalc.language.algebra import Index
        >>> j, k = Index("j"), Index("k")
        >>> dy, w = sp.IndexedBase("dy"), sp.IndexedBase("w")
        >>> sorted(off_place_names([dy[j - k]*w[k], w[0]]))
        ['dy']
    """
    return {str(el.base.label) for e in exprs for el in e.atoms(sp.Indexed)
            if not all(isinstance(a, (Index, sp.Integer)) for a in el.indices)}


def _read_off_place(expr, name, idx, value) -> bool:
    """Whether ``expr`` reads tensor ``name`` (``name[idx] = value``) at a position other
    than a bare index or a literal (``dy[j-k]``, ``dy[2*i+k]``, a gather ``dy[tok[n]]``)
    where ``value`` put in its place would not vanish off the axis. Such a read is 0 where
    its position leaves the axis (README, "Windows and positions"); ``dy[i] = exp(y[i])``
    put into ``dx[j] = dy[j-k]*w[k]`` reads ``exp(y[j-k]) = 1`` there, so that gradient is
    not inlined. A value that is a product with a factor reading every such index bare,
    ``dy[i] = c[i]``, vanishes there too (``c[j-k]`` reads 0): it is inlined.

        >>> from indexcalc.language.algebra import Index
        >>> i, j, k = Index("i"), Index("j"), Index("k")
        >>> dy, c, y = sp.IndexedBase("dy"), sp.IndexedBase("c"), sp.IndexedBase("y")
        >>> _read_off_place(dy[j - k]*2, "dy", (i,), sp.exp(y[i]))
        True
        >>> _read_off_place(dy[j - k]*2, "dy", (i,), -c[i]), _read_off_place(dy[j]*dy[0], "dy", (i,), sp.Integer(1))
        (False, False)
    """
    bare = [set(f.indices) for f in sp.Mul.make_args(value) if isinstance(f, sp.Indexed)]
    for el in expr.atoms(sp.Indexed):
        if _is(el, name):
            off = {x for x, at in zip(idx, el.indices) if not isinstance(at, (Index, sp.Integer))}
            if off and not any(off <= b for b in bare):
                return True
    return False


def _collapses(expr, name, idx, value) -> bool:
    """Whether ``value`` (``name[idx] = value``) put in place of a read of ``name`` in
    ``expr`` turns an axis expression of one of its reads into a bare index: ``dh[m] =
    h[m]*c[m-1]`` read as ``dh[i+1]`` reads ``c[i]``, and a bare index sizes the axis
    (README "Windows and positions"), so ``c`` would have to be as large as the reader's
    axis, which the program does not require (``L = sum[i](h[i+1]^2*c[i])``: ``c`` has a
    size of its own). Such a gradient stays a statement of its own.

        >>> from indexcalc.language.algebra import Index
        >>> i, m = Index("i"), Index("m")
        >>> dh, h, c = sp.IndexedBase("dh"), sp.IndexedBase("h"), sp.IndexedBase("c")
        >>> _collapses(dh[i + 1]*2, "dh", (m,), h[m]*c[m - 1]), _collapses(dh[i]*2, "dh", (m,), h[m]*c[m - 1])
        (True, False)
    """
    shifted = [el for el in value.atoms(sp.Indexed) if not all(isinstance(a, (Index, sp.Integer)) for a in el.indices)]
    if not shifted:
        return False
    for el in expr.atoms(sp.Indexed):
        if _is(el, name):
            at = dict(zip(idx, el.indices))
            for read in shifted:
                if any(not isinstance(a, (Index, sp.Integer)) and isinstance(a.xreplace(at), Index)
                       for a in read.indices):
                    return True
    return False


def _is(el, name):
    return (isinstance(el, sp.Indexed) and str(el.base.label) == name) or \
        (isinstance(el, sp.Symbol) and el.name == name)
