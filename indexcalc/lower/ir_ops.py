"""The operations of the lowering IR (:mod:`indexcalc.lower.ir`, whose table says what each
takes): frozen dataclasses, so that equal nodes are one node of the hash-consed graph. The
categories are base classes the passes and printers test for (:class:`Leaf`,
:class:`Elementwise`, :class:`Access`, :class:`Reduction`, :class:`Scatter`,
:class:`Recurrent`); every op is one of them or :class:`MatFunc`.

    >>> Map("exp") == Map("exp"), isinstance(Map("exp"), Elementwise), Contract((0,)).word
    (True, True, 'sum')
    >>> Window(((1, ((0, 1),)),)).bounds([3])
    [(1, 3)]
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Op:
    """An operation of the IR (a frozen dataclass: nodes are hash-consed)."""


# --- categories ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Leaf(Op):
    """Reads no operand."""


@dataclass(frozen=True)
class Elementwise(Op):
    """Each element from the operands' elements at the indices the labels say: operand
    ``(a, pos)`` has its axis ``j`` at output axis ``pos[j]``."""


@dataclass(frozen=True)
class Access(Op):
    """Each element read from one element of the one operand, at positions that are
    affine forms of the output's indices (zero where a position leaves the operand)."""


@dataclass(frozen=True)
class Reduction(Op):
    """The operands, einsum-style labels, reduced over the labels not in ``output`` (the
    labels of the result's axes, in order). ``word``: its name in the dialects' reduction
    tables and the loop schedules (sum, max, min, logsumexp)."""
    output: tuple[int, ...]
    word = ""


@dataclass(frozen=True)
class Scatter(Op):
    """Adds operand values into a result at positions given by integer data (README
    "Gathers"): the accumulation of a gather's gradient, a library call in every backend."""


@dataclass(frozen=True)
class Recurrent(Op):
    """A loop over the steps of a recurrence (README "Recurrences"), or an array it writes."""


# --- the ops ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Input(Leaf):
    """An input array (or scalar) of the program."""
    name: str


@dataclass(frozen=True)
class Const(Leaf):
    """A number (a SymPy number: ``Integer``, ``Rational``, ``Float``, ``E``, ``pi``)."""
    value: sp.Expr


@dataclass(frozen=True)
class Size(Leaf):
    """The length of the axes of a size class."""
    size_class: Hashable


@dataclass(frozen=True)
class Eye(Leaf):
    """The identity over its two axes (of one size class)."""


@dataclass(frozen=True)
class Position(Leaf):
    """The positions ``0, 1, ..., n-1`` along its one axis (``arange`` of its size class):
    an index of the statement outside brackets (``pos[i] = i``, ``(j <= i)``)."""


@dataclass(frozen=True)
class Window(Access):
    """Operand ``x`` (labels: its axes in order) read at affine positions: ``forms[a]`` is
    ``(offset, ((output axis, coefficient), ...))``, axis ``a`` of ``x`` is read at
    ``offset + sum(coefficient * o[output axis])``; the element is 0 where any such
    position is outside its axis. An output axis may occur in several forms (``x[i, i+k]``)
    and a form may hold several output axes (``x[i+k]``) or none (``h[0, i]``)."""
    forms: tuple

    def bounds(self, sizes) -> list:
        """``[(low, high)]`` of each form over output axes of lengths ``sizes``: the least
        and the greatest position it reads (an affine form is extreme at a corner).

            >>> Window(((1, ((0, 2), (1, -1))),)).bounds([4, 3])
            [(-1, 7)]
        """
        out = []
        for offset, terms in self.forms:
            low = offset + sum(min(0, c * (sizes[o] - 1)) for o, c in terms)
            high = offset + sum(max(0, c * (sizes[o] - 1)) for o, c in terms)
            out.append((low, high))
        return out


@dataclass(frozen=True)
class Gather(Access):
    """Operand 0 ``x`` (labels: its axes in order) read at positions that may hold integer
    data (README "Gathers": ``E[tok[n], d]``, ``x[idx[i] + k]``): ``forms[a]`` is
    ``(offset, ((output axis, coefficient), ...), source)``, axis ``a`` of ``x`` is read at
    ``offset + sum(coefficient * o[output axis])`` plus, where ``source`` is not 0, the
    value of operand ``source`` (an integer array whose labels are output axes). The
    element is 0 where a position is outside its axis (the integer data themselves are
    checked before any work, so a plain gather never is)."""
    forms: tuple


@dataclass(frozen=True)
class ScatterAdd(Scatter):
    """The accumulation of a gather's gradient, ``sum[n](delta(v, tok[n]) * g[n, d])``
    (README "Gathers"), never a one-hot: operand 0 the values ``g`` and operand 1 the
    integer positions ``tok``, both with einsum-style labels. The result's axes are
    ``output`` (labels); its label ``target`` (not an operand's) is the axis the positions
    index (of size class ``axes[output.index(target)]``); every operand label not in
    ``output`` is summed. A position outside ``0 .. size-1`` adds nothing."""
    output: tuple
    target: int


@dataclass(frozen=True)
class WindowAdd(Scatter):
    """The adjoint of a :class:`Window` (README "Windows and positions"): a zero array with
    the one operand ``v`` (labels: its axes in order) added at affine positions,
    ``forms[a] = (offset, ((operand axis, coefficient), ...))`` for axis ``a`` of the result:
    ``v[o]`` goes to ``[form_0(o), ..., form_{R-1}(o)]``, nowhere where a position is
    outside its axis. A delta of a result index and summed ones that no index could be
    solved for (stride-2 pooling's ``delta(s, 2*a+k)``) is this write, never a dense delta.

        >>> WindowAdd(((0, ((0, 2), (1, 1))),)).forms
        ((0, ((0, 2), (1, 1))),)
    """
    forms: tuple


@dataclass(frozen=True)
class Map(Elementwise):
    """An element-wise function (``add``, ``mul``, ``pow`` with the exponent as its one
    parameter, ``step``, ``finite``, a comparison of :data:`COMPARISONS` (of positions) or a
    function of :mod:`indexcalc.language.functions`)."""
    function: str
    parameters: tuple = ()


@dataclass(frozen=True)
class Broadcast(Elementwise):
    """One operand repeated along the output axes it lacks."""


@dataclass(frozen=True)
class Diagonal(Elementwise):
    """One operand placed on a diagonal of a zero array: the value at output index ``o`` is
    the operand's (read at the output axes its labels say, repeated along those it lacks)
    where ``o[axis] == o[twin]`` for every pair of ``ties``, else 0. A delta that survives
    in a Jacobian or Hessian (``dx[i]*delta(i,j)``, ``-delta(i,l)*M[i,j]*V[j,m]``) is this
    write, never a product with a materialized identity; a twin axis is never an operand's.

        >>> Diagonal(((0, 1),)) == Diagonal(((0, 1),)), isinstance(Diagonal(()), Elementwise)
        (True, True)
    """
    ties: tuple


@dataclass(frozen=True)
class Contract(Reduction):
    """The product of the operands, summed."""
    word = "sum"


@dataclass(frozen=True)
class Max(Reduction):
    """The maximum of one operand."""
    word = "max"


@dataclass(frozen=True)
class Min(Reduction):
    """The minimum of one operand."""
    word = "min"


@dataclass(frozen=True)
class LogSumExp(Reduction):
    """``log Σ exp`` of one operand (each backend shifts it by the maximum)."""
    word = "logsumexp"


@dataclass(frozen=True)
class MatFunc(Op):
    """A function of a square matrix, ``function``: ``inv`` (a matrix), ``det`` or ``logdet``
    (numbers)."""
    function: str


@dataclass(frozen=True)
class Scan(Recurrent):
    """The loop of one recurrence group (README "Recurrences"): the statements ``names`` (in
    program order), evaluated step by step over their axes ``loops`` (positions among
    their leading axes, outermost first: ``(0,)`` over time, ``(0, 1)`` for ``R[i,j]``
    reading ``R[i-1,j]`` and ``R[i,j-1]``, ``(1,)`` for ``h[b,t,i]`` reading ``h[b,t-1,i]``,
    vectorized over ``b``), in increasing order of those positions (``direction`` 1) or
    decreasing (-1); one step is ``body`` (:class:`indexcalc.lower.scan.Body`). Its operands
    are the arrays the body's :class:`Outer` leaves read, each with labels
    ``(0..rank-1)``. It is printed as a loop that writes one array per statement, each a
    :class:`Scanned` node; zeros before the loop, so a :class:`Prior` read of a position
    not yet written is never made (the language reads earlier positions only, or later
    ones for direction -1)."""
    names: tuple
    loops: tuple
    direction: int
    body: object  # a Body (indexcalc.lower.scan), compared by identity


@dataclass(frozen=True)
class Scanned(Recurrent):
    """The array that the :class:`Scan` operand (labels ``()``) writes for statement ``name``;
    its axes are the statement's, in the order of its left indices."""
    name: str


@dataclass(frozen=True)
class Outer(Leaf):
    """In a Scan's body: operand ``operand`` (a position in the Scan's operands) read at
    the current step: ``steps`` is ``((axis, r), ...)``, the operand's axis ``axis`` read at
    the current position of recurrence axis ``r``; the node's axes are the operand's other
    axes, in order. With no steps, the whole operand (the same at every step)."""
    operand: int
    steps: tuple


@dataclass(frozen=True)
class Prior(Leaf):
    """In a Scan's body: the array of statement ``name`` of the group read at another step:
    ``steps`` is ``((axis, r, shift), ...)``, its axis ``axis`` read at the current position
    of recurrence axis ``r`` plus ``shift``; 0 where that is outside the axis. The node's
    axes are the array's other axes, in order.

        >>> Prior("h", ((0, 0, -1),)), isinstance(Prior("h", ()), Leaf)
        (Prior(name='h', steps=((0, 0, -1),)), True)
    """
    name: str
    steps: tuple
