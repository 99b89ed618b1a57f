"""A window reduction's forward value read at a shifted position (README "Windows and
positions"): the gradient of ``y[a] = max[k:3](x[a+k])`` is contracted by solving
``a = j - k``, which leaves the forward's maximum recomputed as ``max[m:3](x[j+m-k])``;
it is ``y[j-k]``, and is printed so.

Reading ``y[j-k]`` is 0 where ``j - k`` is outside ``y``'s axis, while the recomputed
maximum there is that of a window reaching into x's zero padding. So the value is put
back only where the two cannot differ in the result:

* the same product reads, at exactly those positions, the upstream gradient (a tensor
  the forward program neither assigns nor reads: ``dy[j-k]``, 0 there too) or ``y``
  itself, so the term is 0 outside ``y``'s axis whichever value stands in it;
* the statement is ``max``, ``min`` or ``logsumexp`` of a window over reads
  ``x[s*a + ... + c]`` with ``0 <= c < s``, and ``a`` has its valid size (none stated):
  a window whose ``a`` is outside ``y``'s axis then reads x's padding, so the count of
  ties in the max's gradient, ``sum[l](1 - step(y[j-k] - x[j+l-k]))``, is at least 1
  with ``y[j-k]`` = 0 too (no 0/0 that ``dy[j-k]`` = 0 would not cancel); a logsumexp
  stands in ``exp(x - y)``, finite for any ``y``.

    >>> import indexcalc as ic
    >>> from indexcalc.calculus.names import scope
    >>> prog = ic.parse("y[a] = max[k:3](x[a+k])")
    >>> x, dy, j, k, m = sp.IndexedBase("x"), sp.IndexedBase("dy"), Index("j"), Index("k"), Index("m")
    >>> e = dy[j - k]*sp.Function("step")(MaxOver(x[j + m - k], [m]) - x[j])
    >>> with scope(e, prog.statements[0].expr):
    ...     reuse_shifted(e, prog)
    step(-x[j] + y[j - k])*dy[j - k]
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import Index, LogSumExp, MaxOver, MinOver, tensor_names
from indexcalc.calculus.contract import contract, freshen
from indexcalc.language.walk import rebuild
from indexcalc.simplify.keys import alpha
from indexcalc.language.windows import stated_size

_WINDOWED = (MaxOver, MinOver, LogSumExp)


def twin_windows(prog) -> set:
    """Numbers of the statements of ``prog`` that hold a ``max``, ``min`` or ``logsumexp``
    whose twin, the same body up to index names, is taken over a window of another size
    somewhere in ``prog`` (``y[a] = max[k:3](x[a+k])`` and ``z[a] = max[k:2](x[a+k])``).
    The reduction itself does not hold its window's size (the program does), so a value
    recomputed in a derivative could match the wrong twin: neither is put back.

        >>> import indexcalc as ic
        >>> sorted(twin_windows(ic.parse("y[a] = max[k:3](x[a+k])\\nz[a] = max[k:2](x[a+k])\\nw[a] = max[k:2](u[a+k])")))
        [0, 1]
    """
    sizes, where = {}, {}
    for n, st in enumerate(prog.statements):
        for r in st.expr.atoms(*_WINDOWED):
            key = alpha(r)
            sizes.setdefault(key, set()).add(tuple(str(stated_size(prog, (n, i)) if (n, i) in prog.sizes.parent else None)
                                                    for i in r.indices))
            where.setdefault(key, set()).add(n)
    return {n for key, found in sizes.items() if len(found) > 1 for n in where[key]}


def reuse_shifted(e, prog, skip=frozenset()):
    """``e`` with each shifted recomputation of a window reduction (above) replaced by
    the statement's name read at the shifted position (not for statements in ``skip``)."""
    statements = [st for n, st in enumerate(prog.statements) if n not in skip and _eligible(st)]
    if not statements or not any(isinstance(r, _WINDOWED) for r in e.atoms(*_WINDOWED)):
        return e
    names = set(prog.ranks) | set(getattr(prog, "inputs", ()))
    patterns = [(st, contract(freshen(st.expr))) for st in statements]
    return rebuild(e, lambda p: _at_product(p, patterns, names))


def _eligible(st) -> bool:
    if not isinstance(st.expr, _WINDOWED) or not st.indices or any(s is not None for s in st.sizes or ()):
        return False
    for el in st.expr.body.atoms(sp.Indexed):
        for pos in el.indices:
            for i in st.indices:
                s = sp.expand(pos).coeff(i)
                if s == 0:
                    continue
                c = sp.expand(pos).as_coeff_Add()[0]  # (b alone: 0)
                if not (s.is_Integer and s > 0 and c.is_Integer and 0 <= c < s):
                    return False
    return True


def _at_product(p, patterns, names):
    if not isinstance(p, sp.Mul):
        return p
    reads = [f for f in p.args if isinstance(f, sp.Indexed)]
    out = p
    for st, pattern in patterns:
        for f in reads:
            name = str(f.base.label)
            if len(f.indices) != len(st.indices) or (name in names and name != st.name) or \
                    all(isinstance(i, Index) for i in f.indices):
                continue  # (bare positions: reuse_forward's own case)
            shift = dict(zip(st.indices, f.indices))
            value = alpha(pattern.xreplace(shift))
            lhs = sp.IndexedBase(st.name)[tuple(f.indices)]
            out = out.replace(lambda r: isinstance(r, type(pattern)) and tensor_names(r) == tensor_names(pattern)
                              and alpha(r) == value, lambda r: lhs)
    return out
