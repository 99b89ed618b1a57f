"""The lowering IR: a hash-consed graph of labelled array operations.

Every node is an array whose axes each carry a *size class* (the root of the program's
size analysis), so two identities over axes of different sizes are two different nodes
by construction. A node is ``Node(op, args, axes)``: its operation ``op`` (one of the
classes below, with named attributes), its operands ``args``, ``(node_id, labels)``
pairs whose labels mean what the kind says, and the size classes of its ``axes``.

============= ============================================ ==========================
op            operands                                     attributes
============= ============================================ ==========================
``Input``     none                                         ``name``
``Const``     none                                         ``value`` (a SymPy number)
``Size``      none                                         ``size_class``
``Eye``       none (axes: the same class twice)
``Map``       labels = output axis of each operand axis    ``function``, ``parameters``
``Broadcast`` one operand; labels = output axis positions
``Contract``  labels = einsum labels (ints); the product   ``output`` (labels)
              of the operands, summed over the labels
              not in the output
``Max``,      one operand; einsum-style labels             ``output`` (labels)
``Min``,
``LogSumExp``
``MatFunc``   one square operand, labels ``(0, 1)``        ``function`` (inv, det,
                                                           logdet)
============= ============================================ ==========================

The categories are base classes: a :class:`Leaf` reads no operand, an
:class:`Elementwise` op computes each element from its operands' elements at the indices
its labels say, a :class:`Reduction` reduces its operands over the labels not in its
``output``, and :class:`MatFunc` is a library call on a whole matrix. The tuples
:data:`NUMBERS`, :data:`FOLDS`, :data:`EXTREMA` and :data:`ACCUMULATED` name the finer
groups the passes need. A new kind of node is one class here (listed in :data:`OPS`)
plus its case in each printer's table (``tests/test_lowering.py`` checks that every
printer handles every op of :data:`OPS`).

Labels are canonical (first appearance), so a subexpression that appears twice, in one
statement or across statements and up to the names of its indices, is one node:

    >>> g = Graph()
    >>> x = g.add(Node(Input("x"), axes=("n",)))
    >>> a = g.add(Node(Map("exp"), ((x, (0,)),), ("n",)))
    >>> a == g.add(Node(Map("exp"), ((x, (0,)),), ("n",)))
    True
    >>> len(g.nodes), g[a].op
    (2, Map(function='exp', parameters=()))
    >>> isinstance(g[a].op, Elementwise), Max((0,)) == Min((0,)), Max.word
    (True, False, 'max')
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
class Reduction(Op):
    """The operands, einsum-style labels, reduced over the labels not in ``output`` (the
    labels of the result's axes, in order). ``word``: its name in the dialects' reduction
    tables and the loop schedules (sum, max, min, logsumexp)."""
    output: tuple[int, ...]
    word = ""


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
class Map(Elementwise):
    """An element-wise function (``add``, ``mul``, ``pow`` with the exponent as its one
    parameter, ``step``, ``finite`` or a function of :mod:`indexcalc.language.functions`)."""
    function: str
    parameters: tuple = ()


@dataclass(frozen=True)
class Broadcast(Elementwise):
    """One operand repeated along the output axes it lacks."""


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


#: every op a graph may hold (each printer handles each of them)
OPS = (Input, Const, Size, Eye, Map, Broadcast, Contract, Max, Min, LogSumExp, MatFunc)
#: leaves that are numbers: they read no input (with maps of them, :meth:`Graph.static`)
NUMBERS = (Const, Size)
#: reductions of one operand other than a sum
FOLDS = (Max, Min, LogSumExp)
#: reductions whose result an element of the body attains (compared with it by the gradient)
EXTREMA = (Max, Min)
#: reductions a loop accumulates (``logsumexp`` is rewritten into a max and a sum first)
ACCUMULATED = (Contract, Max, Min)


@dataclass(frozen=True)
class Node:
    op: Op
    args: tuple = ()
    axes: tuple = ()

    @property
    def rank(self) -> int:
        return len(self.axes)


class Graph:
    """Nodes in creation order (operands always come first: a topological order)."""

    def __init__(self):
        self.nodes: list[Node] = []
        self.ids: dict[Node, int] = {}

    def add(self, node: Node) -> int:
        k = self.ids.get(node)
        if k is None:
            k = self.ids[node] = len(self.nodes)
            self.nodes.append(node)
        return k

    def __getitem__(self, k: int) -> Node:
        return self.nodes[k]

    def reachable(self, roots, stop=()) -> list:
        """Ids of the nodes the ``roots`` depend on (themselves included), in order, not
        looking past the nodes in ``stop``."""
        seen, stack = set(), list(roots)
        while stack:
            k = stack.pop()
            if k not in seen:
                seen.add(k)
                if k not in stop:
                    stack.extend(a for a, _ in self.nodes[k].args)
        return sorted(seen)

    def static(self) -> set:
        """Ids of the nodes that read no input: numbers computed from constants and sizes."""
        out = set()
        for k, node in enumerate(self.nodes):
            if isinstance(node.op, NUMBERS) or (isinstance(node.op, Map) and all(a in out for a, _ in node.args)):
                out.add(k)
        return out
