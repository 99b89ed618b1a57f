"""The SymPy classes of the language's functions: every element-wise function but ``exp``,
``log`` and powers (SymPy's own), and the matrix functions. SymPy's own ``tanh``, ``sin``,
... are not used: their automatic evaluation runs on every construction (``tanh(tanh(..))``
nested 8 deep spent seconds in it); these fold numbers at most. Their rows (names,
derivative rules, spellings) are in :mod:`indexcalc.language.functions`.

    >>> x = sp.Symbol("x")
    >>> tanh(x), tanh(0), relu(-2), step(3), sign(-0.5), Abs(-2)
    (tanh(x), 0, 0, 1, -1, 2)
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.arity import FixedArity


class relu(sp.Function):  # noqa: N801 - printed as written in the language
    nargs = FixedArity((1,))

    @classmethod
    def eval(cls, x):
        return sp.Max(x, 0) if x.is_Number else None


class step(sp.Function):  # noqa: N801
    """1 where x > 0, else 0: the derivative of ``relu``."""

    nargs = FixedArity((1,))

    @classmethod
    def eval(cls, x):
        return sp.Integer(1 if x > 0 else 0) if x.is_Number else None


class sigmoid(sp.Function):  # noqa: N801
    nargs = FixedArity((1,))


class softplus(sp.Function):  # noqa: N801
    """``log(1 + exp(x))``."""

    nargs = FixedArity((1,))


class _Elementwise(sp.Function):
    """A function of one argument that SymPy leaves alone: no automatic evaluation but
    ``f(0)`` for the functions that have a simple value there (``at_zero``), so building
    ``tanh(tanh(...))`` costs nothing. Numbers stay symbolic (``tanh(1/2)``); the code
    computes them with the registry's ``math`` spelling."""

    nargs = FixedArity((1,))
    at_zero = None

    @classmethod
    def eval(cls, x):
        if x.is_Number and x == 0 and cls.at_zero is not None:
            return sp.Integer(cls.at_zero)
        return None


class tanh(_Elementwise):  # noqa: N801 - printed as written in the language
    at_zero = 0


class sin(_Elementwise):  # noqa: N801
    at_zero = 0


class cos(_Elementwise):  # noqa: N801
    at_zero = 1


class tan(_Elementwise):  # noqa: N801
    at_zero = 0


class atan(_Elementwise):  # noqa: N801
    at_zero = 0


class sinh(_Elementwise):  # noqa: N801
    at_zero = 0


class cosh(_Elementwise):  # noqa: N801
    at_zero = 1


class erf(_Elementwise):  # noqa: N801
    """The error function, ``2/sqrt(pi)`` times the integral of ``exp(-t^2)`` from 0."""

    at_zero = 0


class log1p(_Elementwise):  # noqa: N801
    """``log(1 + x)``, accurate for small ``x``. A number at or below -1 is written as
    ``log(1 + x)``, which the checker refuses as not a finite real."""

    at_zero = 0

    @classmethod
    def eval(cls, x):
        if x.is_Number and x <= -1:
            return sp.log(1 + x)
        return super().eval(x)


class expm1(_Elementwise):  # noqa: N801
    """``exp(x) - 1``, accurate for small ``x``."""

    at_zero = 0


class sign(_Elementwise):  # noqa: N801
    """-1, 0 or 1: the derivative of ``abs``. Of a number, that number."""

    @classmethod
    def eval(cls, x):
        return sp.Integer(bool(x > 0) - bool(x < 0)) if x.is_Number else None


class Abs(sp.Function):
    """``abs(x)``; SymPy's ``Abs`` would rewrite ``abs(exp(x))`` as ``exp(re(x))``."""

    nargs = FixedArity((1,))

    @classmethod
    def eval(cls, x):
        return abs(x) if x.is_Number else None


class Max2(sp.Function):
    """Element-wise ``max(a, b)``; SymPy's ``Max`` would reorder and rewrite it."""

    nargs = FixedArity((2,))


class Min2(sp.Function):
    """Element-wise ``min(a, b)``."""

    nargs = FixedArity((2,))


class Inv(sp.Function):
    """``Inv(A, i, j)``: element ``[i, j]`` of the inverse of the square matrix ``A``."""

    nargs = FixedArity((3,))


class Det(sp.Function):
    """``Det(A)``: the determinant of the square matrix ``A``."""

    nargs = FixedArity((1,))


class LogDet(sp.Function):
    """``LogDet(A)``: the log-determinant of ``A`` (``log |det A|``)."""

    nargs = FixedArity((1,))
