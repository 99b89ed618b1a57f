"""Contracting a delta of axis expressions, ``Σ_{i,k} δ(j, i+k) f`` (README "Windows and
positions"): solve it for a summed index whose coefficient is ±1 and substitute.

Substituting ``s := e`` drops the constraint that ``e`` lies in ``s``'s range. That is only
right where a factor of the product reads an axis at ``s`` itself (bare): after the
substitution it reads that axis at ``e``, and a read outside an axis is 0, so the zero
padding enforces the range. An index with no such factor is never solved for (the delta
stays): ``y[i] = sum[k](x[i+k])`` gives ``dx[j] = dy[j-k]`` summed over ``k`` (solved for
``i``, which ``dy[i]`` reads), never ``dy[i]`` summed over all ``i`` (solved for ``k``).

    >>> import sympy as sp
    >>> i, j, k = Index("i"), Index("j"), Index("k")
    >>> dy, w = sp.IndexedBase("dy"), sp.IndexedBase("w")
    >>> contract_axis_delta(ISum(Delta(j, i + k) * dy[i] * w[k], (i, k)))
    ISum(dy[j - k]*w[k], (k,))
    >>> contract_axis_delta(ISum(Delta(j, 2*i + k) * dy[i] * w[k], (i, k)))
    ISum(dy[i]*w[-2*i + j], (i,))
    >>> print(contract_axis_delta(ISum(Delta(j, i + k) * dy[i], (i, k))))
    ISum(dy[j - k], (k,))
    >>> print(contract_axis_delta(ISum(Delta(j, i + k) * dy[j], (i, k))))
    None
"""

from __future__ import annotations

import sympy as sp
from sympy import KroneckerDelta

from indexcalc.language.algebra import Delta, Index, ISum  # noqa: F401 - Delta: the doctest's
from indexcalc.language.axes import Compare
from indexcalc.language.memo import Memo
from indexcalc.language.walk import bottom_up


def has_axis_delta(e) -> bool:
    """Does ``e`` hold a delta of an axis expression or a literal position? (Each distinct
    subexpression asked once, remembered by identity: ``e.atoms`` walks a subexpression
    again wherever it is repeated, and the whole expression at every call.)"""
    return bottom_up(_AXIS_DELTA, e, _inside_delta_search, _axis_delta_here)


_AXIS_DELTA = Memo(1 << 16)  # by identity (indexcalc.language.memo)


def _inside_delta_search(x):
    return () if isinstance(x, KroneckerDelta) else x.args


def _axis_delta_here(x, below) -> bool:
    if isinstance(x, KroneckerDelta):
        return not all(_plain(a) for a in x.args)
    return any(below)


def lift_sums(e):
    """a·Σ_k f = Σ_k a·f (the indices of a sum are fresh, so none is captured): before
    an axis delta is solved, every index it may be solved for is summed at one level, and
    the statement's own indices, listed first, are preferred (``dx[j] = dy[j-k]*w[k]``,
    the transposed convolution, rather than ``dy[i]*w[j-i]``)."""
    if isinstance(e, sp.Mul):
        for n, f in enumerate(e.args):
            if isinstance(f, ISum):
                rest = sp.Mul(*(e.args[:n] + e.args[n + 1:]))
                if not rest.atoms(Index) & set(f.indices):
                    return ISum(rest * f.body, f.indices)
    return None


def _plain(x) -> bool:
    return isinstance(x, Index)


def _reads_bare(factor, s) -> bool:
    """Does ``factor`` (one factor of a product) read an axis at ``s`` itself, so that it is
    0 wherever ``s`` would leave that axis?"""
    if isinstance(factor, sp.Pow) and factor.exp.is_positive:
        factor = factor.base
    return isinstance(factor, sp.Indexed) and s in factor.indices


def axis_solution(e):
    """``(delta, s, value, reader)``: how :func:`contract_axis_delta` contracts the sum
    ``e``: the delta of an axis expression it removes, the summed index ``s`` it solves
    for, ``s``'s value, and the tensor read at ``s`` by itself whose zero padding keeps
    the solution in ``s``'s range; None where there is no such solution.

        >>> i, j, k = Index("i"), Index("j"), Index("k")
        >>> axis_solution(ISum(Delta(j, i + k) * sp.IndexedBase("dy")[i], (i, k)))
        (KroneckerDelta(j, i + k), i, j - k, 'dy')
    """
    if not isinstance(e, ISum):
        return None
    factors = sp.Mul.make_args(e.body)
    for n, f in enumerate(factors):
        if isinstance(f, sp.Pow) and isinstance(f.base, KroneckerDelta) and f.exp.is_positive:
            f = f.base
        if not isinstance(f, KroneckerDelta) or all(_plain(a) for a in f.args):
            continue
        diff = sp.expand(f.args[0] - f.args[1])
        rest = factors[:n] + factors[n + 1:]
        for s in e.indices:  # in order: the statement's own (left) indices first
            c = diff.coeff(s)
            if c not in (1, -1) or (diff - c * s).has(s):
                continue
            readers = [g for g in rest if _reads_bare(g, s)]
            if not readers:
                continue
            value = sp.expand(-(diff - c * s) / c)
            if value.has(sp.Indexed) and s not in f.args:
                # README "Gathers": integer data (tok[n]) moves only into a read of the axis
                # it indexes, delta(v, tok[n]) solved for v; never w[j - idx[i]]
                continue
            reader = readers[0].base if isinstance(readers[0], sp.Pow) else readers[0]
            return f, s, value, str(reader.base.label)
    return None


def contract_axis_delta(e):
    """Σ_s δ(p, q) f = f with s solved from p = q, for a delta one of whose sides is an
    axis expression or a literal position; None where no summed index can be solved for
    with its range enforced (see the module's note and :func:`axis_solution`)."""
    found = axis_solution(e)
    if found is None:
        return None
    delta, s, value, _ = found
    factors = list(sp.Mul.make_args(e.body))
    n = next(k for k, f in enumerate(factors) if f == delta or (isinstance(f, sp.Pow) and f.base == delta))
    body = _expand_slots(sp.Mul(*(factors[:n] + factors[n + 1:])).xreplace({s: value}))
    left = [i for i in e.indices if i != s]
    return ISum(body, left) if left else body


def _expand_slots(e):
    """``e`` with every axis expression expanded (``x[i - (i-j+1) + 1]`` is ``x[j]``; the
    derivation does not distribute a sign over a sum by itself)."""
    def slot(x):
        return sp.expand(x) if isinstance(x, sp.Basic) and not isinstance(x, Index) else x

    return e.replace(lambda x: isinstance(x, (sp.Indexed, KroneckerDelta)),
                     lambda x: x.func(*([x.args[0]] + [slot(a) for a in x.args[1:]]))
                     if isinstance(x, sp.Indexed) else x.func(*[slot(a) for a in x.args]))


def use_axis_deltas(e):
    """In a product with ``δ(p, q)`` (``p`` an index, ``q`` an axis expression), every
    other read at ``q`` reads at ``p`` (the product is 0 unless ``p = q``), which reads
    more easily: the gradient of max pooling compares ``x[n,c,s,r]``, the element it
    is the gradient of, not ``x[n,c,2*a+k,2*e+l]``. Only in a factor that is finite for
    every finite input (sums, products and ``step`` of reads: :func:`_bounded`): where
    the delta is 0, ``1/x[p]`` might be infinite where ``1/x[q]`` was not, and 0 times
    infinity is no number.

        >>> i, j, k = Index("i"), Index("j"), Index("k")
        >>> x = sp.IndexedBase("x")
        >>> from indexcalc.language.algebra import step
        >>> use_axis_deltas(Delta(j, 2*i + k) * step(x[2*i + k]) * sp.exp(x[2*i + k]))
        exp(x[2*i + k])*KroneckerDelta(j, 2*i + k)*step(x[j])
    """
    if not isinstance(e, sp.Basic) or not has_axis_delta(e):
        return e
    if isinstance(e, sp.Mul):
        ren = {}
        for f in e.args:
            if isinstance(f, KroneckerDelta):
                p, q = f.args if _plain(f.args[0]) else (f.args[1], f.args[0])
                if _plain(p) and not _plain(q) and q.free_symbols:
                    ren[q] = p
        if ren:
            def read(x):
                return x.func(x.base, *[ren.get(a, a) for a in x.indices])
            args = [f if isinstance(f, KroneckerDelta) or not _bounded(f) else
                    f.replace(lambda x: isinstance(x, sp.Indexed) and any(a in ren for a in x.indices), read)
                    for f in e.args]
            return sp.Mul(*[use_axis_deltas(a) for a in args])
    if not e.args or isinstance(e, (sp.Indexed, Index, KroneckerDelta)):
        return e
    args = [use_axis_deltas(a) for a in e.args]
    return e if all(a is b for a, b in zip(args, e.args)) else e.func(*args)


def _bounded(f) -> bool:
    """Is ``f`` finite wherever the tensors it reads are (reads, numbers, indices,
    sums and products of them, ``step``; no division or other function)?"""
    if isinstance(f, (sp.Indexed, Index, sp.Number, sp.Symbol)):
        return True
    if isinstance(f, sp.Pow):
        return f.exp.is_Integer and f.exp > 0 and _bounded(f.base)
    if isinstance(f, (sp.Add, sp.Mul)) or type(f).__name__ == "step":
        return all(_bounded(a) for a in f.args)
    return False


def guard_deltas(e, same_size):
    """``Σ_s δ(p, s+c) f(s) = (p >= c)·f(p-c)`` for a whole number ``c > 0`` and an index
    ``p`` not summed here that ``same_size(p, s)`` says is as large as ``s``: ``s = p-c``
    lies in ``s``'s range exactly where ``p >= c`` (it is below the size, as ``p`` is).
    No factor need read ``s`` by itself (as :func:`contract_axis_delta` needs): the
    comparison keeps the range. The gradient of total variation reads so:
    ``(i >= 1)*(x[i,j] - x[i-1,j])`` rather than ``delta(i,k+1)*(x[i,j] - x[k,j])``.

        >>> i, k = Index("i"), Index("k")
        >>> x = sp.IndexedBase("x")
        >>> print(guard_deltas(ISum(Delta(i, k + 1) * (x[i] - x[k]), (k,)), lambda a, b: True))
        (-x[i - 1] + x[i])*Compare(i, 1, >=)
    """
    if not isinstance(e, sp.Basic) or not has_axis_delta(e):
        return e
    if isinstance(e, ISum):
        body = guard_deltas(e.body, same_size)
        factors = list(sp.Mul.make_args(body))
        for n, f in enumerate(factors):
            if not isinstance(f, KroneckerDelta):
                continue
            for p, q in (f.args, f.args[::-1]):
                if not _plain(p) or p in e.indices or _plain(q):
                    continue
                const, s = q - sum(q.atoms(Index)), list(q.atoms(Index))
                if len(s) != 1 or q != s[0] + const or not const.is_Integer or const <= 0 \
                        or s[0] not in e.indices or not same_size(p, s[0]):
                    continue
                rest = sp.Mul(*(factors[:n] + factors[n + 1:])).xreplace({s[0]: p - const})
                left = [i for i in e.indices if i != s[0]]
                guard = Compare(p, const, ">=")
                return guard * (ISum(_expand_slots(rest), left) if left else _expand_slots(rest))
        return ISum(body, e.indices, *e.args[2:]) if body is not e.body else e
    if not e.args or isinstance(e, (sp.Indexed, Index, KroneckerDelta)):
        return e
    args = [guard_deltas(a, same_size) for a in e.args]
    return e if all(a is b for a, b in zip(args, e.args)) else e.func(*args)
