"""Numbers as a printout writes them: as the program wrote them, a short decimal or
fraction, or a long coefficient as a product of the numbers the program was written with
(see :func:`written`).

    >>> import sympy as sp
    >>> _coefficient(sp.Rational(1, 2)), _coefficient(sp.Rational(7978845608, 10**10))
    ('1/2', '0.7978845608')
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
from decimal import Decimal, localcontext

import sympy as sp


#: the numbers the program being printed was written with (see :func:`written`)
_WRITTEN: contextvars.ContextVar = contextvars.ContextVar("indexcalc_written", default=())


@contextlib.contextmanager
def written(*exprs):
    """Print, within, a long coefficient as a product of the numbers written in
    ``exprs`` (a program's right sides): ``0.5*0.7978845608028654*3*0.044715`` stays that
    product (``1.5*0.7978845608028654*0.044715``), not its 21-digit value."""
    numbers = {abs(r) for e in exprs for r in _numbers(e) if not r.is_Integer}
    token = _WRITTEN.set(tuple(sorted(numbers)))
    try:
        yield
    finally:
        _WRITTEN.reset(token)


def _numbers(e):
    """The rational numbers of ``e`` but exponents (``sqrt(x)`` writes no 1/2)."""
    if isinstance(e, sp.Rational):
        yield e
    for k, a in enumerate(e.args):
        if not (isinstance(e, sp.Pow) and k == 1 and a.is_Rational):
            yield from _numbers(a)


def _coefficient(c) -> str:
    """A positive rational coefficient as text: as written, or a short decimal or
    fraction, or (when it is long, or a product of the numbers the program was written
    with and a small one) that small number times those numbers."""
    if c in _WRITTEN.get() or _digits(c) <= 6:
        return _number(c)
    numbers = [n for n in _WRITTEN.get() if _long_text(n)]
    best = None
    for factors in itertools.chain(((n,) for n in numbers), itertools.combinations_with_replacement(numbers, 2)):
        q = c / sp.Mul(*factors)
        if (_digits(q) <= 3 or (_long(c) and not _long(q))) and (best is None or _digits(q) < _digits(best[0])):
            best = (q, factors)
    if best is None:
        return _number(c)
    q, factors = best
    small = [] if q == 1 else [_decimal(q, short=True) or _number(q)]
    return "*".join(small + [_number(f) for f in factors])


def _number(r) -> str:
    """``r`` as a decimal where that is exact and either long as a fraction or how the
    program wrote it (``0.2``); else as a fraction (``1/2``, ``1/3``)."""
    if r in _WRITTEN.get() and _decimal(r, short=True):
        return _decimal(r, short=True)
    return _decimal(r) or (str(r.p) if r.q == 1 else f"{r.p}/{r.q}")


def _digits(r) -> int:
    """Significant digits of ``r`` as a decimal; of numerator and denominator for a
    fraction that no decimal ends (``1/3``)."""
    q = r.q
    for f in (2, 5):
        while q % f == 0:
            q //= f
    if q != 1:
        return len(str(abs(r.p))) + len(str(r.q))
    with localcontext() as ctx:
        ctx.prec = len(str(abs(r.p))) + len(str(r.q)) + 5
        return len((Decimal(abs(r.p)) / Decimal(r.q)).normalize().as_tuple().digits)


def _long(r) -> bool:
    """Has ``r`` more digits than a person writes (17 significant ones, as a double)?"""
    return _digits(r) > 17


def _long_text(r) -> bool:
    """Is the number ``r`` written with more than a few digits (worth finding again)?"""
    return _digits(r) > 3


def _decimal(r, short=False):
    """``r`` as an exact decimal (``1e-05``, ``0.7978845608``) when its denominator is a
    product of 2s and 5s and the fraction would be long, so that it re-parses to the very
    same number; else None (``1/2`` and ``3/4`` stay fractions)."""
    q, twos, fives = r.q, 0, 0
    while q % 2 == 0:
        q, twos = q // 2, twos + 1
    while q % 5 == 0:
        q, fives = q // 5, fives + 1
    digits = len(str(abs(r.p))) + max(twos, fives)
    if q != 1 or r.q == 1 or (r.q <= 20 and abs(r.p) < 1000 and not short) or digits > 40:
        return None
    with localcontext() as ctx:
        ctx.prec = digits + 5
        d = (Decimal(r.p) / Decimal(r.q)).normalize()
    # as Python writes a float: plainly unless the exponent is below -4 or above 15
    return format(d, "f") if -4 <= d.adjusted() < 16 else format(d, "e")
