"""The lowering IR: a hash-consed graph of labelled array operations.

Every node is an array whose axes each carry a *size class* (the root of the program's
size analysis), so two identities over axes of different sizes are two different nodes
by construction. A node is ``Node(op, args, axes)``: its operation ``op`` (one of the
classes of :mod:`indexcalc.lower.ir_ops`, importable from here too, with named
attributes), its operands ``args``, ``(node_id, labels)`` pairs whose labels mean what the
kind says, and the size classes of its ``axes``.

============= ============================================ ==========================
op            operands                                     attributes
============= ============================================ ==========================
``Input``     none                                         ``name``
``Const``     none                                         ``value`` (a SymPy number)
``Size``      none                                         ``size_class``
``Eye``       none (axes: the same class twice)
``Map``       labels = output axis of each operand axis    ``function``, ``parameters``
``Broadcast`` one operand; labels = output axis positions
``Diagonal``  one operand; labels = output axis positions    ``ties``: ``(axis, twin)``
                                                           pairs of output axes
``Contract``  labels = einsum labels (ints); the product   ``output`` (labels)
              of the operands, summed over the labels
              not in the output
``Max``,      one operand; einsum-style labels             ``output`` (labels)
``Min``,
``LogSumExp``
``MatFunc``   one square operand, labels ``(0, 1)``        ``function`` (inv, det,
                                                           logdet)
``Position``  none (axes: one)                             (its value at ``i`` is ``i``)
``Window``    one operand of rank r; labels ``(0..r-1)``   ``forms``: one affine form
              (its own axes, in order)                     per operand axis
``Scan``      the arrays its steps read (labels: their     ``names``, ``loops``,
              own axes); its value is no array             ``direction``, ``body``
``Scanned``   the ``Scan`` (labels ``()``)                 ``name``: the array of one
                                                           statement it writes
``Outer``     none (in a ``Scan``'s body only)             ``operand``, ``steps``
``Prior``     none (in a ``Scan``'s body only)             ``name``, ``steps``
============= ============================================ ==========================

Recurrences (README "Recurrences"; lowered by :mod:`indexcalc.lower.scan`): the statements
of one recurrence group are one :class:`Scan`, a loop over the recurrence axes of
its statements in the ``direction`` of the group, and one :class:`Scanned` node per
statement, the array the loop writes. The ``body`` (a ``Body``) is a graph of its own:
one step, the recurrence positions fixed, vectorized over the other axes. Its leaves
other than numbers are an :class:`Outer`, an operand of the Scan (a value computed before
the loop, with the recurrence axes as axes of its own: every part of a step that reads no
statement of the group is computed for all steps at once) read at the current step, and a
:class:`Prior`, the array of a statement of the group read at another step (0 outside
its axes).

Windows and positions (README "Windows and positions"): a read ``x[i+k]``, ``x[2*a+l]``,
``h[0,i]`` is a :class:`Window` of ``x`` whose axes are the indices the read holds (in
order of first appearance) and whose ``forms`` give, for each axis of ``x``, the affine
form ``(offset, ((output axis, coefficient), ...))`` that says where it is read: the
value at output position ``o`` is ``x[form_0(o), ..., form_{r-1}(o)]`` where every form is
inside its axis (``0 <= form < size``), else 0 (zero padding). A literal position is a
form with no terms; a plain read ``x[i,j]`` stays the operand itself, never a Window. An
index outside brackets is a :class:`Position` (``arange`` over its size class); index
arithmetic (``i - j``, ``2*i + 1``) is ordinary ``Map`` ``add``/``mul`` of positions and
integer constants, and a comparison is a ``Map`` of two such operands with one of
:data:`COMPARISONS` (``lt le gt ge eq ne``), a boolean the printers cast to the data's
dtype where it is a value (as ``step``).

The categories are base classes: a :class:`Leaf` reads no operand, an
:class:`Elementwise` op computes each element from its operands' elements at the indices
its labels say, an :class:`Access` op reads each element from one element of its
operand at positions computed from its own indices (a window: zero outside the operand),
a :class:`Reduction` reduces its operands over the labels not in its ``output``, a
:class:`Scatter` adds values at positions given by integer data (README "Gathers") or
affine forms (:class:`WindowAdd`),
:class:`MatFunc` is a library call on a whole matrix, and a :class:`Recurrent` op is a loop
over the steps of a recurrence or an array it writes. The tuples
:data:`NUMBERS`, :data:`FOLDS`, :data:`EXTREMA` and :data:`ACCUMULATED` name the finer
groups the passes need. A new kind of node is one class in
:mod:`~indexcalc.lower.ir_ops` (listed in :data:`OPS` here) plus its case in each
printer's table (``tests/test_lowering.py`` checks that every printer handles every op
of :data:`OPS`).

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

``y[i] = x[i+k]*w[k]`` reads ``x`` through a window with axes ``(i, k)``:

    >>> w = g.add(Node(Window(((0, ((0, 1), (1, 1))),)), ((x, (0,)),), ("m", "k")))
    >>> g[w].op.forms, isinstance(g[w].op, Access)
    (((0, ((0, 1), (1, 1))),), True)
"""

from __future__ import annotations

from dataclasses import dataclass

from indexcalc.lower.ir_ops import (  # the ops of the table above, importable from here
    Op, Leaf, Elementwise, Access, Reduction, Scatter, Recurrent, Input, Const, Size, Eye, Position,
    Window, Gather, ScatterAdd, WindowAdd, Map, Broadcast, Diagonal, Contract, Max, Min, LogSumExp,
    MatFunc, Scan, Scanned, Outer, Prior)

__all__ = ["Op", "Leaf", "Elementwise", "Access", "Reduction", "Scatter", "Recurrent", "Input",
           "Const", "Size", "Eye", "Position", "Window", "Gather", "ScatterAdd", "WindowAdd",
           "Map", "Broadcast", "Diagonal", "Contract", "Max", "Min", "LogSumExp", "MatFunc",
           "Scan", "Scanned", "Outer", "Prior", "OPS", "COMPARISONS", "NUMBERS", "FOLDS",
           "EXTREMA", "ACCUMULATED", "Node", "Graph"]

#: every op a graph may hold (each printer handles each of them)
OPS = (Input, Const, Size, Eye, Position, Map, Broadcast, Diagonal, Window, Gather, Contract, Max, Min, LogSumExp,
       MatFunc, ScatterAdd, WindowAdd, Scan, Scanned, Outer, Prior)
#: the ``Map`` functions comparing two operands (positions and index arithmetic): 1 or 0
COMPARISONS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
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
