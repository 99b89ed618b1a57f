"""Delta contraction: an ordered list of small named rewrites run to a fixed point.

SymPy's own summation leaves ``Piecewise`` guards (DESIGN.md); here every index ranges
over its whole axis, so the rules hold without conditions::

    >>> i, j, a = Index("i"), Index("j"), Index("a")
    >>> x = sp.IndexedBase("x")
    >>> contract(ISum(sp.KroneckerDelta(i, a) * x[i, j], (i, j)))
    ISum(x[a, j], (j,))
    >>> contract(ISum(sp.KroneckerDelta(i, i) * x[j], (i, j)))
    Len(i)*ISum(x[j], (j,))

Each rule returns a replacement or ``None``. Each removes a delta or a summed index, or
moves a factor or a sum strictly outward (factors out of sums, sums out of additions,
products into additions that hold a delta), so the loop terminates.
"""

from __future__ import annotations

import contextlib
import contextvars

import sympy as sp
from sympy import KroneckerDelta

from indexcalc.language.algebra import Binder, Index, ISum, Len, MaxOver, Size, free_indices
from indexcalc.calculus.names import current
from indexcalc.calculus.solve import contract_axis_delta, has_axis_delta, lift_sums
from indexcalc.language.memo import Memo, recall, remember
from indexcalc.language.walk import built, rename, renamed


def fresh(hint, names=None) -> Index:
    """A new index named after ``hint`` (``i`` -> ``i_7``) from the supply ``names``
    (default: the derivation's, :func:`indexcalc.calculus.names.current`); printers rename it."""
    return (names or current()).index(hint)


def freshen(e, names=None):
    """Rename every summed index to a fresh one, so no bound name can clash: the new
    names come from ``names`` (default: the derivation's supply), told ``e``'s first."""
    names = names or current()
    names.add_expr(e)
    return _freshen(e, names)


def _freshen(e, names, ren=None):
    """One pass: each sum's indices get new names, which its body reads (``ren``)."""
    if isinstance(e, Index):
        return ren.get(e, e) if ren else e
    if isinstance(e, Binder):  # a sum, or a reduction such as max[i](..)
        ren = {**(ren or {}), **{i: names.index(i) for i in e.indices}}
        return type(e)(_freshen(e.body, names, ren), [ren[i] for i in e.indices], *e.args[2:])
    if not e.args or not ren and isinstance(e, (sp.Indexed, KroneckerDelta, Len, Size)):
        return e
    args = [_freshen(a, names, ren) for a in e.args]
    return e if all(a is b for a, b in zip(args, e.args)) else renamed(e, args)


def isum(body, indices):
    """``ISum`` that drops itself when there is nothing to sum."""
    indices = tuple(indices)
    if body == 0:
        return sp.Integer(0)
    return ISum(body, indices) if indices else body


def _has_delta(e) -> bool:
    return e.has(KroneckerDelta)


# -- the rules -------------------------------------------------------------------------
def empty_sum(e):
    """Σ over nothing is the body; Σ of 0 is 0."""
    if isinstance(e, ISum) and (not e.indices or e.body == 0):
        return e.body


def merge_sums(e):
    """Σ_i Σ_j f = Σ_{i,j} f."""
    if isinstance(e, ISum) and isinstance(e.body, ISum):
        return ISum(e.body.body, e.indices + e.body.indices)


def absent_index(e):
    """Σ_i f = len(i) f when i does not occur in f (or only in len(i))."""
    if isinstance(e, ISum):
        free = _free_outside_len(e.body)
        absent = [i for i in e.indices if i not in free]
        if absent:
            return sp.Mul(*[Len(i) for i in absent]) * isum(e.body, [i for i in e.indices if i in free])


def _free_outside_len(e) -> set:
    """:func:`free_indices` of ``e`` not counting ``len(i)``. (Replacing ``len(i)`` by 1
    instead would evaluate what holds it: ``relu(-len(s))`` would become 0.)"""
    if isinstance(e, (Len, Size)):
        return set()
    if isinstance(e, (Index, sp.Indexed)):
        return free_indices(e)
    if isinstance(e, ISum):
        return _free_outside_len(e.body) - set(e.indices)
    out = set()
    for a in e.args:
        out |= _free_outside_len(a)
    return out


def split_sum(e):
    """Σ (δ f + g) = Σ δ f + Σ g, so the delta can be contracted; terms without such a
    delta stay summed together (``Σ_i (x[i] + 1)`` keeps its ``i``, where splitting
    would leave a ``len(i)`` that no tensor in the result sizes)."""
    if isinstance(e, ISum) and isinstance(e.body, sp.Add):
        idx = set(e.indices)
        split = [t for t in e.body.args
                 if any(d.atoms(Index) & idx for d in t.atoms(KroneckerDelta))]
        rest = [t for t in e.body.args if t not in split]
        if split and (rest or len(split) > 1):
            return sp.Add(*[ISum(t, e.indices) for t in split]) + isum(sp.Add(*rest), e.indices)


def constant_out(e):
    """Σ_i c f(i) = c Σ_i f(i) when c does not depend on the summed indices."""
    if isinstance(e, ISum) and isinstance(e.body, sp.Mul):
        idx = set(e.indices)
        out = [f for f in e.body.args if not free_indices(f) & idx]
        if out:
            return sp.Mul(*out) * isum(sp.Mul(*[f for f in e.body.args if f not in out]), e.indices)


def expand_delta(e):
    """a (δ + g) = a δ + a g, so that each delta stands in a product it can contract with."""
    if isinstance(e, sp.Mul):
        for k, f in enumerate(e.args):
            if isinstance(f, sp.Add) and _has_delta(f):
                rest = sp.Mul(*(e.args[:k] + e.args[k + 1:]))
                return sp.Add(*[rest * t for t in f.args])


def contract_delta(e):
    """Σ_i δ(i,a) f(i) = f(a): the delta and the sum over i both go."""
    if not isinstance(e, ISum):
        return None
    factors = sp.Mul.make_args(e.body)
    for k, f in enumerate(factors):
        if isinstance(f, sp.Pow) and isinstance(f.base, KroneckerDelta) and f.exp.is_positive:
            f = f.base  # δ^n = δ
        if isinstance(f, KroneckerDelta) and all(isinstance(x, Index) for x in f.args):
            a, b = f.args  # (of an axis expression, delta(j, i+k): solve.contract_axis_delta)
            gone, keep = (a, b) if a in e.indices else (b, a) if b in e.indices else (None, None)
            if gone is not None:
                rest = sp.Mul(*(factors[:k] + factors[k + 1:]))
                rest = rename(rest, {gone: keep}) if _RENAME else rest.xreplace({gone: keep})
                return isum(rest, [i for i in e.indices if i != gone])


def split_every_sum(e):
    """Σ (f + g) = Σ f + Σ g always: a normal form for comparing, not for printing."""
    if isinstance(e, ISum) and isinstance(e.body, sp.Add):
        return sp.Add(*[ISum(t, e.indices) for t in e.body.args])


def separate_sums(e):
    """Σ_{k,l} a(k) b(l) = (Σ_k a(k)) (Σ_l b(l)): factors linked by no summed index part."""
    if not (isinstance(e, ISum) and isinstance(e.body, sp.Mul) and len(e.indices) > 1):
        return None
    groups = []  # [indices, factors] of each part
    for f in e.body.args:
        idx = free_indices(f) & set(e.indices)
        linked = [g for g in groups if g[0] & idx]
        merged = [idx, [f]]
        for g in linked:
            merged[0] |= g[0]
            merged[1] += g[1]
            groups.remove(g)
        groups.append(merged)
    if len(groups) > 1:
        return sp.Mul(*[isum(sp.Mul(*fs), [i for i in e.indices if i in idx]) for idx, fs in groups])


def delta_power(e):
    """δ^n = δ for n > 0."""
    if isinstance(e, sp.Pow) and isinstance(e.base, KroneckerDelta) and e.exp.is_positive:
        return e.base


def function_of_delta(e):
    """f(δ) = f(0) + (f(1) - f(0)) δ, as δ is 0 or 1: ``tanh(δ(i,j))`` is ``tanh(1) δ(i,j)``,
    which contracts (and a sum over ``i`` and ``j`` of it is ``tanh(1) len(i)``); so is a
    function or power of numbers and one delta (``exp(-δ(i,j))``, ``sqrt(2 + δ(i,j))``).
    Only where ``f(0)`` and ``f(1)`` are finite real numbers.

        >>> i, j = sp.symbols("i j")
        >>> function_of_delta(sp.sqrt(2 + KroneckerDelta(i, j)))
        (-sqrt(2) + sqrt(3))*KroneckerDelta(i, j) + sqrt(2)
    """
    if not (isinstance(e, sp.Pow) or (isinstance(e, sp.Function) and len(e.args) == 1)):
        return None
    deltas = _deltas(e) if _MEMO_DELTAS else e.atoms(KroneckerDelta)
    if len(deltas) != 1:
        return None
    d, = deltas
    zero, one = e.xreplace({d: sp.Integer(0)}), e.xreplace({d: sp.Integer(1)})
    if all(v.is_number and v.is_extended_real and v.is_finite is not False
           and not v.has(sp.zoo, sp.oo, -sp.oo, sp.nan) for v in (zero, one)):
        return zero + (one - zero) * d
    return None


def _deltas(e) -> frozenset:
    """``e.atoms(KroneckerDelta)``, remembered by identity: a part that holds no sum or
    delta (:func:`_holds_sum_or_delta`, remembered too) holds none."""
    if isinstance(e, KroneckerDelta):
        return frozenset((e,))
    if not e.args or not _holds_sum_or_delta(e):
        return _NO_DELTAS
    out = recall(_DELTAS, e)
    if out is None:
        out = frozenset().union(*map(_deltas, e.args))
        remember(_DELTAS, e, out)
    return out


_NO_DELTAS = frozenset()
_RENAME = True  # (False: xreplace, for an A/B measurement)
_MEMO_DELTAS = True  # (False: SymPy's atoms, for an A/B measurement)
_SAME_SUM = True  # (False: every sum rebuilt, for an A/B measurement)


def max_of_delta(e):
    """``max[f](δ(f,u)) = 1``: every ``u`` is one of the places ``f`` runs over (a delta
    ties the two indices to one axis)."""
    if isinstance(e, MaxOver) and isinstance(e.body, KroneckerDelta):
        a, b = e.body.args
        if (a in e.indices) != (b in e.indices):
            return sp.Integer(1)
    return None


RULES = [empty_sum, merge_sums, delta_power, function_of_delta, max_of_delta, contract_delta, contract_axis_delta,
         absent_index, split_sum,
         expand_delta, constant_out, separate_sums]


#: None, or a list to which :func:`rewrite` appends ``(rule name, before, after)`` for each
#: rule that fires (``d.steps()`` shows them; see :func:`traced`). Unset, it costs one
#: lookup per rule that fires.
TRACE: contextvars.ContextVar = contextvars.ContextVar("indexcalc_trace", default=None)


@contextlib.contextmanager
def traced():
    """``with traced() as log:`` the rewrites that fire within are appended to ``log``."""
    log = []
    token = TRACE.set(log)
    try:
        yield log
    finally:
        TRACE.reset(token)


def rewrite(e, rules=RULES):
    """Apply ``rules`` bottom-up until none fires anywhere. (Every rule, here and in the
    simplifier, rewrites a sum or a delta: a part that holds neither is left alone.)"""
    return _rewrite(e, rules, {})


def _rewrite(e, rules, done):
    """:func:`rewrite`; ``done`` holds (by identity) the parts found where no rule fires,
    so that the walk after a rule fired does not try the rules on them again."""
    if not e.args or isinstance(e, (sp.Indexed, sp.IndexedBase, Index, KroneckerDelta, Len, Size)) or \
            not _holds_sum_or_delta(e) or done.get(id(e)) is e:
        return e
    args = [_rewrite(a, rules, done) for a in e.args]
    if isinstance(e, ISum):  # (its stated sizes dropped; itself where nothing changed)
        if len(e.args) != 2 or not _SAME_SUM or args[0] is not e.args[0] or args[1] is not e.args[1]:
            e = ISum(args[0], args[1])
    elif any(a is not b for a, b in zip(args, e.args)):
        e = built(e, args)
    for rule in rules:
        out = rule(e)
        if out is not None and out != e:
            log = TRACE.get()
            if log is not None:
                log.append((rule.__name__, e, out))
            return _rewrite(out, rules, done)
    done[id(e)] = e  # (held: its id is not reused meanwhile)
    return e


def _holds_sum_or_delta(e) -> bool:
    out = recall(_HOLDS, e)
    if out is None:
        out = isinstance(e, (ISum, KroneckerDelta)) or any(_holds_sum_or_delta(a) for a in e.args)
        remember(_HOLDS, e, out)
    return out


_HOLDS = Memo(1 << 16)  # by identity (indexcalc.language.memo)
_DELTAS = Memo(1 << 16)  # (of _deltas)


def contract(e):
    """Contract every delta that can be contracted, then tidy the sums."""
    e = sp.sympify(e)
    if has_axis_delta(e):  # one level of sums, so the solver may choose (calculus.solve)
        e = rewrite(e, [lift_sums, merge_sums, spread_axis_sums, split_sum])
    return rewrite(e)


def spread_axis_sums(e):
    """a (Σ f + Σ g) = a Σ f + a Σ g where the sums hold an axis delta, so that each term
    of a sum of convolutions meets the outer sums as a single convolution does and its
    delta is solved for the same index (``dx[j] = dy[j-k]*w[k] + dy[j-l]*v[l]``, not
    ``dy[a]*w[j-a] + dy[a]*v[j-a]``: the choice must not depend on the term being in a sum).

        >>> j, a, k = Index("j"), Index("a"), Index("k")
        >>> dy, w, v = sp.IndexedBase("dy"), sp.IndexedBase("w"), sp.IndexedBase("v")
        >>> spread_axis_sums(dy[a]*(ISum(sp.KroneckerDelta(j, a + k)*w[k], (k,)) + v[a]))
        (ISum(KroneckerDelta(j, a + k)*w[k], (k,)))*dy[a] + dy[a]*v[a]
    """
    if isinstance(e, sp.Mul):
        for n, f in enumerate(e.args):
            if isinstance(f, sp.Add) and any(isinstance(t, ISum) and has_axis_delta(t) for t in f.args):
                rest = sp.Mul(*(e.args[:n] + e.args[n + 1:]))
                return sp.Add(*[rest * t for t in f.args])
    return None
