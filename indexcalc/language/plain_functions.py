"""``exp`` and ``log`` built as SymPy builds them, without SymPy's evaluation where it
provably returns the call as it is (as :func:`~indexcalc.language.walk.plain_power` does
for a power). SymPy 1.14's ``exp.eval`` builds ``exp(term)`` for every term of a sum and
asks whether its argument is zero; ``log.eval`` asks whether it is a number, zero, an
``exp`` of a real, a multiple of ``I``: assumption queries that cost ~6% of a warm
derivation (profiled, session 7) and find nothing in a program, whose tensors and scalars carry no
assumptions (nothing is known of ``x[i]``, not even that it is real).

:func:`plain_exp` and :func:`plain_log` return exactly what ``sp.exp(x)`` and
``sp.log(x)`` return (equal, the same ``srepr``, the same ``nargs``); they skip the
evaluation only for the arguments below, built from *opaque* parts, and hand anything
else to SymPy. An opaque part is an ``Indexed`` or plain ``Symbol`` that SymPy knows no
fact of but commutativity, a sum or reduction of the language (:class:`Binder`: never a
number, it binds indices), a call of one of the language's own function classes
(:data:`OPAQUE_FUNCTIONS`, ``Compare`` included) that is not a number (they define no
assumptions: ``tests/test_plain_functions.py`` checks it), or SymPy's ``exp`` of a plain
``exp`` argument (but not as the whole argument of ``log``, which may undo it). None is a number, a ``log``, a multiple of ``pi`` or
``I``, and nothing can show one is zero or real. A *plain sum* is a sum of rationals,
opaque parts, their rational powers and plain products, one term at least not a number;
a *plain product* a rational (or none) times opaque parts, their rational powers and
plain sums. Then (reading SymPy 1.14's ``exp.eval``, ``log.eval``, ``Function._new_``):

* ``exp(a)``, ``a`` opaque: ``eval`` reaches its last test, ``a.is_zero``: None.
* ``exp(p)``, ``p`` a plain product: no ``pi*I`` coefficient is found (nor would one
  holding an opaque part be an integer or rational), the coefficient is finite, and no
  factor is a ``log`` once ``logcombine`` has looked at it (it makes a ``log`` only of
  ``log`` terms): None.
* ``exp(s)``, ``s`` a plain sum: ``exp`` of every term (but 1) is left as it is, so the
  sum is not split, and the sum is not known to be zero: None.
* ``log(a)`` (``a`` opaque, not an ``exp``), ``log(p)``, ``log(s)``: not a number, not an
  ``exp`` or a power of ``E``, not known to be zero, no rational multiple of ``I``: None.

Not for a float anywhere at the top (SymPy may evaluate a call of a float) or where
SymPy's settings differ (``evaluate`` off, ``exp_is_pow`` on).
``tests/test_plain_functions.py`` compares both with SymPy's own call on every argument
the gallery and the real programs build and on a table of arguments where SymPy does
evaluate.

    >>> from indexcalc.language.algebra import Index, tanh
    >>> x, i, j = sp.IndexedBase("x"), Index("i"), Index("j")
    >>> e = plain_exp(x[i] - 2*x[j])
    >>> e == sp.exp(x[i] - 2*x[j]), sp.srepr(e) == sp.srepr(sp.exp(x[i] - 2*x[j])), e.nargs
    (True, True, {1})
    >>> plain_log(1 + tanh(x[i])), plain_log(sp.exp(x[i])), plain_exp(sp.log(x[i]))
    (log(tanh(x[i]) + 1), log(exp(x[i])), x[i])
    >>> as_is_exp(x[i] - 2*x[j]), as_is_log(sp.exp(x[i])), as_is_exp(sp.log(x[i]))
    (True, False, False)
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp
from sympy.core.parameters import global_parameters
from sympy.sets.sets import FiniteSet

from indexcalc.language.algebra import Binder
from indexcalc.language.axes import Compare
from indexcalc.language.elementwise import (
    Abs, Det, Inv, LogDet, Max2, Min2, atan, cos, cosh, erf, expm1, log1p, relu, sigmoid, sign, sin, sinh,
    softplus, step, tan, tanh)

#: the language's own function classes: no assumption of their own, a number only of numbers
OPAQUE_FUNCTIONS = frozenset({relu, step, sigmoid, softplus, tanh, sin, cos, tan, atan, sinh, cosh, erf,
                              log1p, expm1, sign, Abs, Max2, Min2, Inv, Det, LogDet, Compare})

_PLAIN_FACTS = {"commutative": True}  # all SymPy knows of a tensor element or scalar of a program
_EXP_NARGS = FiniteSet(*sp.exp._nargs)  # what SymPy stores as the ``nargs`` of each call
_LOG_NARGS = FiniteSet(*sp.log._nargs)


def plain_exp(x):
    """``sp.exp(x)``, built without SymPy's evaluation where it returns it as it is
    (:func:`as_is_exp`)."""
    if _settings_plain():
        out = _exp_as_is(x)
        if out is not None:
            return out
    return sp.exp(x)


def plain_log(x):
    """``sp.log(x)``, built without SymPy's evaluation where it returns it as it is
    (:func:`as_is_log`)."""
    if _settings_plain():
        out = _log_as_is(x)
        if out is not None:
            return out
    return sp.log(x)


# Remembered by argument as SymPy's own cache remembers a call (``cacheit``: the same
# object for an equal argument, up to 1,000 of them), so a tree built again gets the node
# whose assumption queries SymPy has already answered; only under the settings that
# let SymPy's evaluation run.
@lru_cache(maxsize=1000, typed=True)
def _exp_as_is(x):
    return _built(sp.exp, x, _EXP_NARGS) if _plain_exp_arg(x) else None


@lru_cache(maxsize=1000, typed=True)
def _log_as_is(x):
    return _built(sp.log, x, _LOG_NARGS) if _plain_log_arg(x) else None


#: SymPy class -> its constructor here
PLAIN = {sp.exp: plain_exp, sp.log: plain_log}


def as_is_exp(x) -> bool:
    """Would SymPy (1.14) build ``exp(x)`` as it is? True only where that is provable
    from the form of ``x`` (see the module's docstring); False may be either."""
    return _settings_plain() and _plain_exp_arg(x)


def as_is_log(x) -> bool:
    """Would SymPy (1.14) build ``log(x)`` as it is? As :func:`as_is_exp`."""
    return _settings_plain() and _plain_log_arg(x)


def _plain_exp_arg(x) -> bool:
    if x.is_Add:
        return _plain_sum(x)
    if x.is_Mul:
        return _product(x)
    return _opaque(x)


def _plain_log_arg(x) -> bool:
    if x.is_Add:
        return _plain_sum(x)
    if x.is_Mul:
        return _product(x)
    return type(x) is not sp.exp and _opaque(x)


def _settings_plain() -> bool:
    return global_parameters.evaluate and not global_parameters.exp_is_pow


def _built(cls, x, nargs):
    """``cls(x)`` as ``Application.__new__`` leaves it when ``eval`` returns None (its
    ``nargs`` one shared set, equal to the one SymPy builds per call)."""
    out = sp.Basic.__new__(cls, x)
    out.nargs = nargs
    return out


def _opaque(x) -> bool:
    """Whether ``x`` is an opaque part (the module's docstring)."""
    t = type(x)
    if t is sp.Indexed or t is sp.Symbol:
        return x.assumptions0 == _PLAIN_FACTS
    if t in OPAQUE_FUNCTIONS:
        return not x.is_number
    if isinstance(x, Binder):
        return True  # its listed indices are symbols: never a number
    if t is sp.exp:
        return _plain_exp_arg(x.args[0])
    return False


def _factor(x) -> bool:
    """An opaque part or its rational power."""
    if type(x) is sp.Pow:
        return x.exp.is_Rational and _opaque(x.base)
    return _opaque(x)


def _product(x) -> bool:
    """A product of a rational (or none) and opaque parts, their rational powers and sums
    (:func:`_plain_sum`)."""
    args = x.args
    rest = args[1:] if args[0].is_Rational else args
    return bool(rest) and all(_plain_sum(a) if a.is_Add else _factor(a) for a in rest)


def _plain_sum(x) -> bool:
    """A sum of rationals, opaque parts, their rational powers and products of these
    (:func:`_product`), one term at least not a number."""
    parts = 0
    for a in x.args:
        if a.is_Rational:
            continue
        if not (_product(a) if a.is_Mul else _factor(a)):
            return False
        parts += 1
    return parts > 0
