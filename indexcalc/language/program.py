"""A checked program: statements as SymPy expressions, inputs, outputs and sizes.

The public :class:`indexcalc.derivation.program.Program` adds printing and compiling to it.

    >>> from indexcalc.language.check import check
    >>> from indexcalc.language.parser import parse_tree
    >>> text = "h[i] = W[i,j]*x[j]; y = h[i]*h[i]"
    >>> prog = check(parse_tree(text), text)
    >>> prog.ranks, sorted(needed_names(prog.statements, ["h"]))
    ({'W': 2, 'x': 1, 'h': 1, 'y': 0}, ['W', 'h', 'x'])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


@dataclass(frozen=True)
class Statement:
    """``name[indices] = expr``; ``expr`` has every sum explicit (:class:`ISum`)."""

    name: str
    indices: tuple
    expr: sp.Expr
    line: int = 0
    text: str = ""
    reads: tuple = ()  # names its text reads (SymPy may fold some away: h[i] - h[i])
    #: the stated size of each left index (``y[i:size(x,0)]``), None where it is not stated
    sizes: tuple = ()
    #: ``((index, size), ...)``: a size stated for a summed or reduced index that the
    #: expression does not carry and that no tensor read in its sum gives
    #: (``sum[k:3](x[k])``: ``((k, 3),)``); its printouts state it again, so that they
    #: re-parse to the same sizes (:func:`indexcalc.notation.sized.restate`)
    stated: tuple = ()

    @property
    def lhs(self):
        return sp.IndexedBase(self.name)[self.indices] if self.indices else sp.Symbol(self.name)


def needed_names(statements, wanted) -> set:
    """``wanted`` and every name the statements computing them read, directly or not."""
    from indexcalc.language.algebra import tensor_names
    needed = set(wanted)
    for st in reversed(statements):
        if st.name in needed:
            needed |= tensor_names(st.expr)
    return needed


class Sizes:
    """Which axes must have one size: a union-find over ``(name, axis)`` and
    ``(statement number, index)`` keys. ``where`` remembers, for messages, the first
    statement that linked an axis to an index."""

    def __init__(self):
        self.parent: dict = {}
        self.where: dict = {}
        # root -> the names of the tensors (first parts that are strings) of its class's keys,
        # kept up to date by find() and join() while ``_count`` is ``len(parent)`` (the table
        # may be filled from outside: then rebuilt once, by has_axis)
        self._names: dict = {}
        self._count = 0
        #: the checker's tables after the program this table sizes (a
        #: :class:`~indexcalc.language.resume.CheckState`, kept by the checker), or None
        self.checked = None

    def find(self, key):
        parent = self.parent
        if key not in parent:
            parent[key] = key
            if self._count == len(parent) - 1:
                self._count += 1
                if isinstance(key[0], str):
                    self._names[key] = {key[0]}
            return key
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def join(self, axis, other, where):
        if where is not None and isinstance(other[0], int):
            self.where.setdefault(axis, (other[1], *where))
        root = self.find(other)  # (in this order: the table's keys in order of first sight)
        below = self.find(axis)
        self.parent[below] = root
        if below != root and self._count == len(self.parent):
            names = self._names.pop(below, None)
            if names:
                into = self._names.get(root)
                if into is None:
                    self._names[root] = names
                elif len(into) < len(names):
                    self._names[root] = names | into
                else:
                    into |= names

    def has_axis(self, key, besides=None) -> bool:
        """Is ``key`` as large as an axis of a tensor (other than ``besides``: a recurrence's
        own name, read at its own axes, sizes nothing)?

            >>> s = Sizes()
            >>> s.join((0, "i"), ("x", 0), None); s.join((1, "j"), (0, "i"), None)
            >>> s.has_axis((1, "j")), s.has_axis((1, "j"), besides="x"), s.has_axis((1, "k"))
            (True, False, False)
        """
        root = self.find(key)
        if self._count != len(self.parent):  # (filled from outside: index it once)
            self._names = {}
            for k in list(self.parent):
                if isinstance(k[0], str):
                    self._names.setdefault(self.find(k), set()).add(k[0])
            self._count = len(self.parent)
        return any(name != besides for name in self._names.get(root, ()))


@dataclass
class CheckedProgram:
    """A checked program. ``statements`` in order; ``inputs``/``outputs`` by first appearance."""

    statements: list
    inputs: list
    outputs: list
    ranks: dict
    sizes: Sizes = field(repr=False)
    source: str = field(default="", repr=False)
    first_indices: dict = field(default_factory=dict, repr=False)
    #: ``(statement number, message)`` of every probable mistake the checker noted
    #: (issued as IndexCalcWarnings unless the text was indexcalc's own)
    notes: list = field(default_factory=list, repr=False)
    #: the inputs read in index positions (README "Gathers"): integer data, never differentiated
    integers: tuple = ()
    #: README "Recurrences": the :class:`~indexcalc.language.recurrences.Recurrence` groups
    recurrences: tuple = ()

    def statement(self, name: str) -> Statement:
        return next(st for st in self.statements if st.name == name)

    def rank(self, name: str) -> int:
        return self.ranks[name]
