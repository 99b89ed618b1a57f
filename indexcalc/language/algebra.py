"""The SymPy vocabulary of a program: indices, explicit sums, sizes and functions.

A statement's right-hand side is an ordinary SymPy expression built from

* ``Indexed`` elements ``X[i, k]`` whose indices are :class:`Index` symbols,
* plain ``Symbol`` scalars (``eps``), numbers, ``KroneckerDelta(i, j)``,
* :class:`Len` (``len(i)``), :class:`Size` (``size(A, k)``), :class:`ISum` (an explicit
  sum over indices), the reductions :class:`MaxOver`, :class:`MinOver`,
  :class:`LogSumExp` (``max[i](..)``, ``min[i](..)``, ``logsumexp[i](..)``); all four
  bind their indices (:class:`Binder`),
* SymPy's ``exp`` and ``log``, ``Pow`` (``sqrt`` is ``Pow(x, 1/2)``) and ``pi``,
* every other function as a class of its own (``tanh sin cos sign relu step sigmoid
  softplus log1p expm1 erf tan atan sinh cosh``, ``abs``, two-argument ``max``/``min``) and
  the matrix functions ``inv``, ``det``, ``logdet``: the classes of
  :mod:`indexcalc.language.elementwise`, named here too.

Example::

    >>> i, k = Index("i"), Index("k")
    >>> X = sp.IndexedBase("X")
    >>> ISum(X[i, k] * X[i, k], (k,))
    ISum(X[i, k]**2, (k,))
    >>> sorted(map(str, free_indices(ISum(X[i, k], (k,)))))
    ['i']
    >>> free_indices(MaxOver(X[i, k], (k,))), tanh(X[i, k]), tanh(0)
    ({i}, tanh(X[i, k]), 0)
"""

from __future__ import annotations

from collections import Counter

import sympy as sp
from sympy.core.sorting import default_sort_key
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy import Indexed

from indexcalc.language.elementwise import (  # noqa: F401 - the vocabulary: algebra names it all
    relu, step, sigmoid, softplus, tanh, sin, cos, tan, atan, sinh, cosh, erf, log1p, expm1, sign,
    Abs, Max2, Min2, Inv, Det, LogDet)
from indexcalc.language.arity import FixedArity
from indexcalc.language.memo import Memo, recall, remember


class Index(sp.Symbol):
    """An index symbol: distinct from a scalar ``Symbol`` of the same name."""


class KroneckerDelta(sp.KroneckerDelta):
    """The Kronecker delta of two indices, without SymPy's assumption queries (which cost
    most of a derivation that makes many deltas): equal indices give 1, two different
    numbers 0, else the delta with its indices in SymPy's canonical order. (Named as
    SymPy's, so every printer prints it as a delta.)

    >>> Delta(Index("j"), Index("i")), Delta(Index("i"), Index("i"))
    (KroneckerDelta(i, j), 1)
    """

    nargs = FixedArity((2, 3))  # SymPy's (i, j, delta_range), its FiniteSet built once

    @classmethod
    def eval(cls, i, j, delta_range=None):
        if i == j:
            return sp.S.One
        if i.is_Number and j.is_Number:
            return sp.S.Zero
        if default_sort_key(j) < default_sort_key(i):
            return cls(j, i)
        return None


Delta = KroneckerDelta


class Len(sp.Function):
    """``len(i)``: the size of index ``i``, a positive integer."""

    nargs = FixedArity((1,))
    is_positive = True
    is_integer = True


class Size(sp.Function):
    """``Size(A, k)``: ``size(A, k)``, the size of axis ``k`` (0-based, NumPy's
    ``A.shape[k]``) of tensor ``A``, a positive integer. ``args[0]`` is
    ``IndexedBase("A")`` (as for :class:`Inv`), ``args[1]`` a SymPy ``Integer``; build it
    with :func:`size_of`. A derivative states with it the size of a broadcast axis that
    no tensor in its statement carries (where ``len(k)`` would be unsizable)."""

    nargs = FixedArity((2,))
    is_positive = True
    is_integer = True

    @property
    def tensor(self) -> str:
        return str(self.args[0].label)

    @property
    def axis(self) -> int:
        return int(self.args[1])


def size_of(name: str, axis: int) -> Size:
    """The node of ``size(name, axis)``."""
    return Size(sp.IndexedBase(name), sp.Integer(axis))


def size_node(prog, key):
    """A :class:`Size` node that equals the size of ``key`` in ``prog``, or None if no
    tensor axis of the program has that size. ``key`` is anything ``prog.sizes`` knows:
    a size-class root, ``(statement number, Index)`` or ``(name, axis)``. An axis of an
    input is preferred (it is always at hand), then the first assigned tensor.

        >>> import indexcalc as ic
        >>> prog = ic.parse("T[i,j,k] = A[i,j] + B[j,k]")
        >>> size_node(prog, (0, Index("k")))
        Size(B, 1)
    """
    sizes = prog.sizes
    if key not in sizes.parent:
        return None
    root = sizes.find(key)
    axes = [k for k in list(sizes.parent) if isinstance(k[0], str) and sizes.find(k) == root]
    order = {name: n for n, name in enumerate([*prog.inputs, *(st.name for st in prog.statements)])}
    axes = [k for k in axes if k[0] in order]
    if not axes:
        return None
    name, axis = min(axes, key=lambda k: (order[k[0]], k[1]))
    return size_of(name, axis)


def unbound_lens(e, left=()) -> list:
    """The ``Len(k)`` nodes of a statement's right-hand side ``e`` whose index ``k`` is
    neither a left index (``left``) nor summed by an enclosing :class:`ISum`: their size
    is not stated by the statement, so its text would not re-parse. Replace each with
    :func:`size_node` of the index it came from.

        >>> k = Index("k")
        >>> unbound_lens(Len(k) * ISum(Len(Index("j")), (Index("j"),)), ())
        [Len(k)]
    """
    out = []

    def walk(x, bound):
        if isinstance(x, Len):
            if x.args[0] not in bound and x not in out:
                out.append(x)
        elif isinstance(x, Binder):
            walk(x.body, bound | set(x.indices))
        else:
            for a in x.args:
                walk(a, bound)

    walk(sp.sympify(e), set(left))
    return out


class Binder(sp.Expr):
    """An expression that binds indices: ``args`` are ``(body, Tuple(indices))``. An index
    it lists is a name local to it (renaming it throughout, body and list, changes
    nothing), so the stages that rename indices apart or compare up to renaming treat
    every binder alike; only what it computes from its body differs."""

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


class ISum(Binder):
    """``ISum(body, (i, j))``: the sum of ``body`` over every value of ``i`` and ``j``.

    Unlike SymPy's ``Sum`` it carries no limits: an index always ranges over its axis.
    A derivative whose summed index stands only inside axis expressions (the gradient
    of pooling reads ``x[2*a+k]``) states its size, which the text prints as
    ``sum[k:2](..)``: ``ISum(body, (k,), (2,))``, one size per index (0: not stated).
    The sizes are what the printer writes; they do not change what the sum is, and
    :func:`unstated` drops them.

        >>> k = Index("k")
        >>> ISum(sp.IndexedBase("x")[k], (k,), (2,)).sizes
        (2,)
    """

    def __new__(cls, body, indices, sizes=None):
        if sizes is None or not any(sp.sympify(n) != 0 for n in sizes):
            return Binder.__new__(cls, body, indices)
        out = sp.Expr.__new__(cls, sp.sympify(body), sp.Tuple(*indices), sp.Tuple(*sizes))
        return out

    @property
    def sizes(self) -> tuple:
        """The stated size of each index (None where none is stated)."""
        if len(self.args) < 3:
            return (None,) * len(self.args[1])
        return tuple(None if n == 0 else n for n in self.args[2])

    @property
    def precedence(self):
        """Binds as its body does (SymPy's printers ask for this)."""
        return precedence(self.body)


def unstated(e):
    """``e`` with the stated sizes of its sums dropped (what the sums are)."""
    if not isinstance(e, sp.Basic) or not e.has(ISum):
        return e
    return e.replace(lambda x: isinstance(x, ISum) and len(x.args) > 2, lambda x: ISum(x.body, x.indices))


class Reduction(Binder):
    """A reduction other than a sum, written ``word[i,j](body)``: its listed indices are
    protected inside the body (as for ``sum[..]``) and reduced over. Printed always in
    that form, in the language (``_indexcalc_text``) and in LaTeX."""

    word = ""
    precedence = PRECEDENCE["Atom"]  # printed as a call: never needs parentheses

    def _indexcalc_text(self, printer):
        """The language's text: the body printed with the listed indices protected, so a
        product inside sums only what it sums (the printer's ``protected`` set)."""
        saved = getattr(printer, "protected", None)
        if saved is not None:
            printer.protected = saved | set(self.indices)
            printer.allowed = None
        try:
            body = printer._print(self.body)
        finally:
            if saved is not None:
                printer.protected = saved
        return f"{self.word}[{','.join(map(str, self.indices))}]({body})"


class MaxOver(Reduction):
    """``max[i](body)``: the maximum of ``body`` over every value of ``i``. Its gradient
    is split equally among the places that attain the maximum."""

    word = "max"


class MinOver(Reduction):
    """``min[i](body)``: the minimum over ``i``; at a tie, as :class:`MaxOver`."""

    word = "min"


class LogSumExp(Reduction):
    """``logsumexp[i](body)``: ``log(sum[i](exp(body)))``, computed shifted by the maximum."""

    word = "logsumexp"


def matrix_name(e) -> str:
    """The tensor name a matrix function reads (its first argument is an IndexedBase)."""
    return str(e.args[0].label)


def free_indices(e) -> set:
    """Indices of ``e`` not bound by an :class:`ISum` (``Len(i)`` mentions ``i``)."""
    if isinstance(e, Index):
        return {e}
    if isinstance(e, Indexed):
        return set().union(*[slot_indices(x) for x in e.indices])
    if isinstance(e, Binder):
        return free_indices(e.body) - set(e.indices)
    if isinstance(e, (Det, LogDet, Size)):
        return set()
    out = set()
    for a in e.args:
        out |= free_indices(a)
    return out


def slot_indices(x) -> tuple:
    """The indices at one axis slot: ``(i,)`` for ``i``, ``(i, k)`` for ``i + k``, ``()`` for
    a literal position (README "Windows and positions")."""
    if isinstance(x, sp.Symbol):  # (an Index; a plain Symbol where a caller built one)
        return (x,)
    names = {b.label for b in x.atoms(sp.IndexedBase)}  # a gather's tensor (tok in E[tok[n],d])
    return tuple(sorted(x.atoms(sp.Symbol) - names, key=str))


def tensor_names(e) -> frozenset:
    """Names of the tensors and scalars read by ``e`` (cached by the identity of ``e``)."""
    out = recall(_NAMES, e)
    if out is not None:
        return out
    if isinstance(e, Indexed):
        out = frozenset((e.base.label.name,))
    elif isinstance(e, (Inv, Det, LogDet, Size)):
        out = frozenset((e.args[0].label.name,))
    elif isinstance(e, Index) or not e.args and not isinstance(e, sp.Symbol):
        out = frozenset()
    elif isinstance(e, sp.Symbol):
        out = frozenset((e.name,))
    else:
        out = frozenset().union(*[tensor_names(a) for a in e.args])
    remember(_NAMES, e, out)
    return out


_NAMES = Memo()  # by identity (indexcalc.language.memo)


# -- the summation rule (README "The language"), in one place --------------------------------
# The checker (reading text) and the text printer (deciding where an implicit sum reads
# the same as an explicit one) both call these two functions, so they cannot disagree.


def occurrences(e) -> Counter:
    """How often each index occurs in ``e`` as one factor of a product, as the language
    counts it: every index slot of a tensor element, of ``inv(A)[i,j]`` and of
    ``delta(i,j)`` counts (``A[i,i]`` twice); a unary minus, a numeric coefficient and a
    division by such a factor (``/A[i,i]``: the printed form of ``A[i,i]^-1``) change
    nothing; any other factor (a power, a function, a sum) passes each of its free
    indices once.

    The checker computes the same counts from the syntax (``-A[i,i]`` and ``(A[i,i])``
    keep ``A``'s counts); this function reads them off a SymPy factor the way its
    printed text will be parsed."""
    if isinstance(e, Indexed):
        return Counter(i for x in e.indices for i in slot_indices(x))
    if isinstance(e, sp.KroneckerDelta):
        return Counter(i for x in e.args for i in slot_indices(x))
    if isinstance(e, Inv):
        return Counter(a for a in e.args if isinstance(a, Index))
    if isinstance(e, sp.Pow) and e.exp == -1 and isinstance(e.base, (Indexed, sp.KroneckerDelta, Inv)):
        return occurrences(e.base)
    if isinstance(e, sp.Mul):
        coeff, rest = e.as_coeff_Mul()
        if coeff.is_Number and not isinstance(rest, sp.Mul) and rest != e:
            return occurrences(rest)
    return Counter({i: 1 for i in sorted(free_indices(e), key=str)})


def product_sums(factors, protected=()) -> tuple:
    """Rule 1 of README "The language". ``factors`` are the occurrence Counters of the factors
    of one product (see :func:`occurrences`); an index not in ``protected`` (the left
    indices and those of enclosing ``sum[..]``) that occurs two or more times in all is
    summed over the product. Returns ``(summed, passing)``: the summed indices in order of
    first occurrence, and a Counter of the indices that pass upward, each once."""
    total = Counter()
    for p in factors:
        total.update(p)
    protected = set(protected)
    summed = [i for i, c in total.items() if c >= 2 and i not in protected]
    return summed, Counter({i: 1 for i in total if i not in summed})
