"""Gathers (README "Gathers"): an axis of a read may hold a read of an integer tensor,
``E[tok[n], d]`` (an embedding), ``logp[n, y[n]]``, ``x[perm[i]]``, ``x[idx[i] + k]``.

A tensor read in an index position is an *integer input*: integer arrays in, never
differentiated, never assigned by a statement and never read as a value. Its indices
follow the usual rules: ``n`` in ``tok[n]`` takes its size from ``tok``'s axis and counts
as an occurrence (``E[tok[n],d]*dy[n,d]`` sums ``n``). In SymPy a gather is an
``Indexed`` standing inside another's index (``E[tok[n], d]``) or inside a delta
(``delta(v, tok[n])``: the derivative of a gather, an accumulation over the data axis).

This module holds the checker's part (:class:`GatherChecks`, a mixin of the statement
checker), the program-level rules (:class:`Integers`), the questions later stages ask
(:func:`gathered`, :func:`integer_names`, :func:`value_names`, :func:`targets`) and the
check of integer data against the axes it indexes (:func:`check_values`), which every
backend calls before any work.

    >>> import indexcalc as ic
    >>> prog = ic.parse("y[n,d] = E[tok[n],d]")
    >>> prog.inputs, prog.integers
    (['E', 'tok'], ('tok',))
    >>> str(prog.statements[0].expr), gathered(prog.statements[0].expr)
    ('E[tok[n], d]', True)
    >>> targets(prog)
    {'tok': [('E', 0)]}
"""

from __future__ import annotations

from collections import Counter

import sympy as sp

from indexcalc.errors import ArgumentError, ShapeError
from indexcalc.language.algebra import Binder, Det, Index, Inv, LogDet, Size, size_node
from indexcalc.language.axes import affine, subtrees


def _preorder(e):
    """The nodes of ``e`` in the order of ``sp.preorder_traversal(e)`` (with a stack: no
    generator per node)."""
    stack = [e]
    while stack:
        r = stack.pop()
        yield r
        if isinstance(r, sp.Basic):
            stack.extend(reversed(r._argset if hasattr(r, "_argset") else r.args))


def _inner(x) -> list:
    """The reads of integer tensors inside one index slot or delta side ``x``, outermost first."""
    if isinstance(x, Index):  # (the usual slot: nothing inside)
        return []
    return [g for g in _preorder(x) if isinstance(g, sp.Indexed)] \
        if isinstance(x, sp.Basic) and x.has(sp.Indexed) else []


def gathers(e) -> list:
    """``[(read, axis, slot)]``: every read of ``e`` one of whose slots holds a gather, and
    the deltas one of whose sides does (``read`` the delta, ``axis`` None)."""
    out = []
    for r in _preorder(e):
        if isinstance(r, sp.Indexed):
            out += [(r, a, x) for a, x in enumerate(r.indices) if _inner(x)]
        elif isinstance(r, sp.KroneckerDelta):
            out += [(r, None, x) for x in r.args if _inner(x)]
    return out


def gathered(e) -> bool:
    """Does ``e`` read an integer tensor in an index position (or a delta over one)?"""
    return bool(gathers(e))


def integer_names(e) -> set:
    """The names ``e`` reads in index positions."""
    return {str(g.base.label) for _, _, x in gathers(e) for g in _inner(x)}


def value_names(e) -> set:
    """The names ``e`` reads as values: tensors and scalars, not those in index positions
    and not a tensor of which only a size is read."""
    out = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, sp.Indexed):
            out.add(x.base.name)  # (str(label))
        elif isinstance(x, (Inv, Det, LogDet)):
            out.add(str(x.args[0].label))
        elif isinstance(x, Size) or isinstance(x, (Index, sp.KroneckerDelta)):
            continue
        elif isinstance(x, sp.Symbol):
            out.add(x.name)
        elif isinstance(x, Binder):
            stack.append(x.body)
        else:
            stack.extend(x.args)
    return out


def targets(prog) -> dict:
    """Integer name -> the ``(tensor, axis)`` its values index, in order of first reading.
    (A delta over the data axis, ``delta(v, tok[n])``, indexes no tensor.)"""
    out: dict = {}
    for st in prog.statements:
        for read, axis, x in gathers(st.expr):
            if axis is None:
                continue
            key = (str(read.base.label), axis)
            for g in _inner(x):
                if _outermost(x, g) and key not in out.setdefault(str(g.base.label), []):
                    out[str(g.base.label)].append(key)
    return out


def _outermost(x, g) -> bool:
    """Is the gather ``g`` a term of the slot ``x`` itself (not inside another gather's slot)?"""
    return not any(h != g and h.has(g) for h in _inner(x))


def axis_size(prog, key, arrays):
    """The size of axis ``key`` = ``(tensor, axis)`` from the shapes of ``arrays`` (the
    tensor's own, or an input's axis of the same size), None where none is at hand."""
    import numpy as np  # only where data is checked: deriving never loads NumPy
    name, axis = key
    if name in arrays and np.ndim(arrays[name]) > axis:
        return np.shape(arrays[name])[axis]
    node = size_node(prog, key)
    if node is not None and node.tensor in arrays and np.ndim(arrays[node.tensor]) > node.axis:
        return np.shape(arrays[node.tensor])[node.axis]
    return None


def check_values(prog, arrays) -> None:
    """Check every integer input of ``arrays`` (name -> array) before any work: integer
    dtype (else an :class:`~indexcalc.errors.ArgumentError`), every value inside each
    axis it indexes (else a :class:`~indexcalc.errors.ShapeError` naming the tensor, the
    bad value and the axis size).

        >>> import numpy as np, indexcalc as ic
        >>> prog = ic.parse("y[n,d] = E[tok[n],d]")
        >>> check_values(prog, {"E": np.zeros((4, 2)), "tok": np.array([0, 3, 1])})
        >>> check_values(prog, {"E": np.zeros((4, 2)), "tok": np.array([0, 4, 1])})
        Traceback (most recent call last):
        ...
        indexcalc.errors.ShapeError: tok holds the value 4 (at [1]), outside axis 0 of E, of size 4: the values of an integer input index that axis, from 0 to 3
    """
    import numpy as np
    for name in getattr(prog, "integers", ()):
        if name not in arrays:
            continue
        a = np.asarray(arrays[name])
        if not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool and a.size == 0):
            raise ArgumentError(f"{name} is an integer input (it is read in an index position), but the "
                                f"array given has dtype {a.dtype}; pass integers, e.g. {name}.astype(int)")
        for key in targets(prog).get(name, ()):
            size = axis_size(prog, key, arrays)
            if size is None or a.size == 0:
                continue
            bad = np.argwhere((a < 0) | (a >= size))
            if len(bad):
                at = tuple(int(k) for k in bad[0])
                raise ShapeError(
                    f"{name} holds the value {int(a[at])} (at {list(at)}), outside axis {key[1]} of "
                    f"{key[0]}, of size {size}: the values of an integer input index that axis, "
                    f"from 0 to {size - 1}")


class Integers:
    """The program-level rules for integer inputs, statement by statement (used by
    :func:`indexcalc.language.check.check`)."""

    def __init__(self):
        self.names: dict = {}  # integer name -> line first read in an index position
        self.values: dict = {}  # name -> line first read as a value

    def statement(self, st, fail, assigned, gathered=True) -> None:
        """Note ``st``'s integer and value reads; ``gathered`` False where its checker read no
        tensor in an index position (then ``st`` reads no integer name: no walk for them)."""
        ints, vals = integer_names(st.expr) if gathered else set(), value_names(st.expr)
        for name in sorted(ints):
            self.names.setdefault(name, st.line)
        for name in sorted(vals):
            self.values.setdefault(name, st.line)
        if st.name in self.names:
            fail(f"{st.name} is read in an index position on line {self.names[st.name]}, so it is an "
                 "integer input: a statement cannot assign it")
        for name in sorted(ints):
            if name in assigned:
                fail(f"{name} is read in an index position, so it must be an integer input, but it is "
                     f"assigned on line {assigned[name]}")
            if name in self.values:
                fail(f"{name} is read in an index position (an integer input) and as a value on line "
                     f"{self.values[name]}; an integer input is only read in index positions")
        for name in sorted(vals):
            if name in self.names:
                fail(f"{name} is an integer input (read in an index position on line {self.names[name]}) "
                     "and cannot be read as a value")


class GatherChecks:
    """Methods of the statement checker for reads in index positions."""

    gathered = False  # (set by gather(): the statement reads a tensor in an index position)

    def slot(self, node):
        """One slot of a read (or a side of ``delta``): as the windows checker reads it,
        with a read of a tensor allowed (a gather)."""
        if node.data != "name" and any(sub.data == "tensor" for sub in subtrees(node)):
            return affine(node, self.index, lambda m: self.fail(m, node), gather=self.gather)
        return super().slot(node)

    def read_slots(self, name, slots) -> Counter:
        """As the windows checker counts them; a slot holding a gather is no window (its
        indices are sized by the integer tensor's axes, not by the "valid" rule)."""
        count = super().read_slots(name, slots)
        self.windows[:] = [w for w in self.windows if not _inner(w[2])]
        inner = [g for e in slots for g in _inner(e)]
        if inner:  # the tensor is read before its gathers (inputs E, tok for E[tok[n],d])
            self.reads.insert(len(self.reads) - len(inner), name)
            plain = [e for e in slots if isinstance(e, Index)]
            if not any(not isinstance(e, Index) and not _inner(e) for e in slots) and len(set(plain)) == len(plain):
                # the indices its gradient is printed with: a fresh letter at a gathered axis (dE[v,d])
                free = (c for c in "vuwzpqrsgh" + "abcdefijklmnot" if c not in self.indices_here
                        and Index(c) not in plain)
                self.first.setdefault(name, tuple(e if isinstance(e, Index) else Index(next(free)) for e in slots))
        return count

    def gather(self, node):
        """A read of an integer tensor at an axis (``tok[n]`` in ``E[tok[n], d]``)."""
        self.gathered = True
        name = str(node.children[0])
        idx = [self.slot(c) for c in node.children[1].children]
        for sub in node.children[1].children:
            if sub.data == "sized":
                self.fail("a size is stated on the left or in a reduction's list, not at a read", sub)
        self.use(name, idx, node)
        self.reads.append(name)
        return sp.IndexedBase(name)[tuple(idx)]

