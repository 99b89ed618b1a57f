"""Where a check stood after the statements of a program: the checker's tables (ranks,
sizes, first reads, integer inputs, ...), kept so that a text that *begins* with that
program is checked from there on, not from its first line.

The round-trip proof (:mod:`indexcalc.derivation.proof`) re-parses the forward program's
text followed by the printed derivative. The forward text is the user's program, parsed
and checked moments before; only the printed lines are indexcalc's, and those are always
parsed and checked afresh. The tables are copied when kept and copied again when resumed,
so a check that resumes from them leaves them as they were. They are kept on the checked
program's size table (which its copies share), so they live as long as the program: a
program from ``indexcalc.parse`` derived much later still resumes.

    >>> from indexcalc.language.parser import parse_tree
    >>> from indexcalc.language.check import check
    >>> text = "h[i] = W[i,j]*x[j]"
    >>> prog = check(parse_tree(text), text)
    >>> start = resume(prog, text)
    >>> start.count, sorted(start.ranks.items())
    (1, [('W', 2), ('h', 1), ('x', 1)])
    >>> resume(prog, text + " "), resume(prog, "y = 1")   # another text: nothing to resume
    (None, None)
"""

from __future__ import annotations


class CheckState:
    """The checker's tables after ``count`` statements of ``text`` (see the module's
    docstring). ``own``: whether some statement was checked as indexcalc's own printout
    (then a fresh check of ``text`` as the user's would differ, and nothing resumes)."""

    __slots__ = ("text", "own", "statements", "notes", "ranks", "assigned", "read_order",
                 "parent", "where", "first", "int_names", "int_values", "forward")

    def __init__(self, text, own, statements, notes, ranks, assigned, read_order, sizes, first,
                 integers, forward):
        self.text, self.own = text, own
        self.statements, self.notes = list(statements), list(notes)
        self.ranks, self.assigned, self.read_order = dict(ranks), dict(assigned), list(read_order)
        self.parent, self.where = dict(sizes.parent), dict(sizes.where)
        self.first = dict(first)
        self.int_names, self.int_values = dict(integers.names), dict(integers.values)
        self.forward = {k: list(v) for k, v in forward.items()}

    @property
    def count(self) -> int:
        return len(self.statements)

    def tables(self, sizes, integers) -> tuple:
        """Fresh copies of the tables, ``sizes`` and ``integers`` (new, empty) filled in:
        ``(statements, notes, ranks, assigned, read_order, first, forward)``."""
        sizes.parent.update(self.parent)
        sizes.where.update(self.where)
        integers.names.update(self.int_names)
        integers.values.update(self.int_values)
        return (list(self.statements), list(self.notes), dict(self.ranks), dict(self.assigned),
                list(self.read_order), dict(self.first), {k: list(v) for k, v in self.forward.items()})


def keep(program, state: CheckState) -> None:
    """Remember ``state`` for the checked ``program`` (on its size table, which
    :class:`~indexcalc.language.program.CheckedProgram` copies pass on)."""
    program.sizes.checked = state


def resume(program, text: str) -> CheckState | None:
    """The tables after checking ``text``, if ``program`` was checked from exactly that
    text as a user's program; else None (check from the first line)."""
    state = getattr(getattr(program, "sizes", None), "checked", None)
    if not isinstance(state, CheckState) or state.own or state.text != text:
        return None
    return state
