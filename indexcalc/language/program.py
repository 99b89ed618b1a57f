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

    def find(self, key):
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def join(self, axis, other, where):
        if where is not None and isinstance(other[0], int):
            self.where.setdefault(axis, (other[1], *where))
        self.parent[self.find(axis)] = self.find(other)

    def has_axis(self, key, besides=None) -> bool:
        """Is ``key`` as large as an axis of a tensor (other than ``besides``: a recurrence's
        own name, read at its own axes, sizes nothing)?"""
        root = self.find(key)
        return any(isinstance(k[0], str) and k[0] != besides and self.find(k) == root for k in self.parent)


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
