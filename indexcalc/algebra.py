"""The SymPy vocabulary of a program: indices, explicit sums, sizes and functions.

A statement's right-hand side is an ordinary SymPy expression built from

* ``Indexed`` elements ``X[i, k]`` whose indices are :class:`Index` symbols,
* plain ``Symbol`` scalars (``eps``), numbers, ``KroneckerDelta(i, j)``,
* :class:`Len` (``len(i)``), :class:`ISum` (an explicit sum over indices),
* SymPy's ``exp log tanh sin cos Abs sign`` and ``Pow`` (``sqrt`` is ``Pow(x, 1/2)``),
* the functions SymPy lacks or defines differently (``relu step sigmoid softplus``,
  two-argument ``max``/``min``) and the matrix functions ``inv``, ``det``, ``logdet``.

Example::

    >>> i, k = Index("i"), Index("k")
    >>> X = sp.IndexedBase("X")
    >>> ISum(X[i, k] * X[i, k], (k,))
    ISum(X[i, k]**2, (k,))
    >>> sorted(map(str, free_indices(ISum(X[i, k], (k,)))))
    ['i']
"""

from __future__ import annotations

import sympy as sp
from sympy import Indexed


class Index(sp.Symbol):
    """An index symbol: distinct from a scalar ``Symbol`` of the same name."""


class Len(sp.Function):
    """``len(i)``: the size of index ``i``, a positive integer."""

    nargs = 1
    is_positive = True
    is_integer = True


class ISum(sp.Expr):
    """``ISum(body, (i, j))``: the sum of ``body`` over every value of ``i`` and ``j``.

    Unlike SymPy's ``Sum`` it carries no limits: an index always ranges over its axis.
    """

    def __new__(cls, body, indices):
        return sp.Expr.__new__(cls, sp.sympify(body), sp.Tuple(*indices))

    @property
    def body(self):
        return self.args[0]

    @property
    def indices(self):
        return tuple(self.args[1])

    def _eval_is_commutative(self):
        return True


class relu(sp.Function):  # noqa: N801 - printed as written in the language
    nargs = 1

    @classmethod
    def eval(cls, x):
        return sp.Max(x, 0) if x.is_Number else None


class step(sp.Function):  # noqa: N801
    """1 where x > 0, else 0: the derivative of ``relu``."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        return sp.Integer(1 if x > 0 else 0) if x.is_Number else None


class sigmoid(sp.Function):  # noqa: N801
    nargs = 1


class softplus(sp.Function):  # noqa: N801
    """``log(1 + exp(x))``."""

    nargs = 1


class Abs(sp.Function):
    """``abs(x)``; SymPy's ``Abs`` would rewrite ``abs(exp(x))`` as ``exp(re(x))``."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        return abs(x) if x.is_Number else None


class Max2(sp.Function):
    """Element-wise ``max(a, b)``; SymPy's ``Max`` would reorder and rewrite it."""

    nargs = 2


class Min2(sp.Function):
    """Element-wise ``min(a, b)``."""

    nargs = 2


class Inv(sp.Function):
    """``Inv(A, i, j)``: element ``[i, j]`` of the inverse of the square matrix ``A``."""

    nargs = 3


class Det(sp.Function):
    """``Det(A)``: the determinant of the square matrix ``A``."""

    nargs = 1


class LogDet(sp.Function):
    """``LogDet(A)``: the log-determinant of ``A`` (``log |det A|``)."""

    nargs = 1


#: language name -> constructor of the element-wise function
ELEMENTWISE = {
    "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "tanh": sp.tanh, "sin": sp.sin,
    "cos": sp.cos, "abs": Abs, "sign": sp.sign, "relu": relu, "step": step,
    "sigmoid": sigmoid, "softplus": softplus,
}
BINARY = {"max": Max2, "min": Min2}
MATRIX = {"inv": Inv, "det": Det, "logdet": LogDet}


def matrix_name(e) -> str:
    """The tensor name a matrix function reads (its first argument is an IndexedBase)."""
    return str(e.args[0].label)


def free_indices(e) -> set:
    """Indices of ``e`` not bound by an :class:`ISum` (``Len(i)`` mentions ``i``)."""
    if isinstance(e, Index):
        return {e}
    if isinstance(e, Indexed):
        return set(e.indices)
    if isinstance(e, ISum):
        return free_indices(e.body) - set(e.indices)
    if isinstance(e, (Det, LogDet)):
        return set()
    out = set()
    for a in e.args:
        out |= free_indices(a)
    return out


def tensor_names(e) -> set:
    """Names of the tensors and scalars read by ``e``."""
    if isinstance(e, Indexed):
        return {str(e.base.label)}
    if isinstance(e, (Inv, Det, LogDet)):
        return {matrix_name(e)}
    if isinstance(e, Index):
        return set()
    if isinstance(e, sp.Symbol):
        return {e.name}
    out = set()
    for a in e.args:
        out |= tensor_names(a)
    return out
