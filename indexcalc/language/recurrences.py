"""Recurrences (README "Recurrences"): statements that read their own name, or one another,
at earlier (or later) positions, evaluated step by step.

A statement may read its own left-hand name at positions all lexicographically earlier,
or all later, than the one it assigns: in each such read the axes before the first that
differs hold their own left index, that axis holds its left index shifted by a constant,
and the axes after it hold anything. Statements that read one another at earlier (later)
positions of a common first axis form one :class:`Recurrence`, evaluated together, step by
step, in program order within a step; so a name may be read before the statement that
assigns it, at an earlier step. The checker (:mod:`indexcalc.language.check`) calls
:func:`recurrences` once every statement is checked.

    >>> import indexcalc as ic
    >>> prog = ic.parse("c[t] = c[t-1] + x[t]")
    >>> prog.recurrences
    (Recurrence(names=('c',), depth=1, direction=1),)
    >>> ic.parse("c[t] = c[t+1] + c[t-1] + x[t]")
    Traceback (most recent call last):
    ...
    indexcalc.errors.ProgramError: line 1, in 'c[t] = c[t+1] + c[t-1] + x[t]': c[t-1] reads c at an earlier position and c[t+1] at a later one; a recurrence reads its own name at positions all earlier, or all later, than the one it assigns
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from indexcalc.errors import ProgramError
from indexcalc.language.algebra import Index
from indexcalc.language.axes import axis_text


@dataclass(frozen=True)
class Recurrence:
    """Statements evaluated together, step by step: ``names`` (in program order), the
    number of leading axes whose positions order the steps (``depth``: 1 over time,
    2 for a 2-D dynamic program ``R[i,j]`` reading ``R[i,j-1]``), and the order of the
    steps (``direction``: 1 increasing, reads at earlier positions; -1 decreasing)."""

    names: tuple
    depth: int
    direction: int

    def __contains__(self, name) -> bool:
        return name in self.names


def _fail(st, message):
    raise ProgramError(f"line {st.line}, in '{st.text or st.name}': {message}")


def _read_text(r) -> str:
    return f"{r.base.label}[{','.join(axis_text(x) for x in r.indices)}]"


def offset(left, slot):
    """``slot - left`` as an integer, or None where it is not a constant (an Index ``left``)."""
    d = sp.expand(sp.sympify(slot) - left)
    return int(d) if d.is_Integer else None


def _self_shift(st, r):
    """``(axis, shift)`` of a read ``r`` of ``st``'s own name: the first axis that differs
    and its constant shift; an error where the read is at the position it assigns or its
    first differing axis is not the left index shifted by a constant."""
    for axis, (left, slot) in enumerate(zip(st.indices, r.indices)):
        if slot == left:
            continue
        d = offset(left, slot)
        if d is None or not slot.atoms(Index) == {left}:
            _fail(st, f"{_read_text(r)} reads {st.name} at axis {axis} at neither {left} nor {left} shifted "
                      f"by a constant (as in {left}-1), so it is neither an earlier nor a later position; a "
                      f"statement may read its own name only at positions all earlier, or all later, "
                      f"than the one it assigns")
        return axis, d
    _fail(st, f"{_read_text(r)} reads {st.name} on the right of its own assignment at the position it assigns "
              f"(a cycle within one step); a recurrence reads it at an earlier position ({st.name}[{','.join(map(str, st.indices[:1]))}-1{',...' * (len(st.indices) > 1)}])"
              if st.indices else f"{st.name} is read on the right of its own assignment")


def _reads(st, name):
    """The reads of ``name`` in ``st``, in the order of ``sp.preorder_traversal(st.expr)``
    (with a stack: the same order, without a generator per node)."""
    out, stack = [], [st.expr]
    while stack:
        r = stack.pop()
        if isinstance(r, sp.Indexed) and r.base.name == name:  # (IndexedBase.name is str(label))
            out.append(r)
        if isinstance(r, sp.Basic):
            stack.extend(reversed(r._argset if hasattr(r, "_argset") else r.args))
    return out


def recurrences(statements, forward: dict, sizes=None) -> tuple:
    """The program's :class:`Recurrence` groups (in program order), or a ProgramError
    naming the statement, the name and the read. ``forward``: ``{statement number:
    names it reads before they are assigned}`` (legal only at an earlier step). The
    statements of one group step along one axis: their first axes are tied in ``sizes``."""
    where = {st.name: n for n, st in enumerate(statements)}
    spans = []  # (first, last, depth, direction, statement of the first read seen)
    for n, st in enumerate(statements):
        own = _reads(st, st.name) if st.name in st.reads else []  # (a read in the expression is one in the text)
        if st.name in st.reads and (not own or not st.indices):
            _fail(st, f"{st.name} is read on the right of its own assignment")
        shifts = [(_self_shift(st, r), r) for r in own]
        signs = {1 if d < 0 else -1 for (_, d), _ in shifts}
        if len(signs) > 1:
            early = next(r for (_, d), r in shifts if d < 0)
            late = next(r for (_, d), r in shifts if d > 0)
            _fail(st, f"{_read_text(early)} reads {st.name} at an earlier position and {_read_text(late)} "
                      f"at a later one; a recurrence reads its own name at positions all earlier, or all "
                      f"later, than the one it assigns")
        if own:
            spans.append([n, n, max(a for (a, _), _ in shifts) + 1, signs.pop()])
        for name in forward.get(n, ()):
            m = where[name]
            before = f"{name} is read before it is assigned on line {statements[m].line}"
            reads = _reads(st, name)
            if not reads:
                _fail(statements[m], f"{before} (by line {st.line})")
            for r in reads:
                d = offset(st.indices[0], r.indices[0]) if st.indices and r.indices else None
                if d is None or d == 0:  # (said at the assignment, as for any name read too early)
                    _fail(statements[m], f"{before}: {_read_text(r)} on line {st.line}" +
                          (" reads it at the step it assigns (a cycle within one step)" if d == 0 else "") +
                          "; a name may be read before its statement only at an earlier step of a common "
                          f"first axis (README \"Recurrences\": {name}[{st.indices[0] if st.indices else 't'}-1,...])")
                spans.append([n, m, 1, 1 if d < 0 else -1])
    groups = _merge(spans)
    for first, last, depth, direction in groups:
        _check_group(statements[first:last + 1], depth, direction)
        for st in statements[first + 1:last + 1] if sizes is not None else ():
            sizes.join((st.name, 0), (statements[first].name, 0), None)
    return tuple(Recurrence(tuple(st.name for st in statements[first:last + 1]), depth, direction)
                 for first, last, depth, direction in groups)


def _merge(spans) -> list:
    out = []
    for s in sorted(spans):
        if out and s[0] <= out[-1][1]:
            if s[3] != out[-1][3]:
                raise ProgramError("statements that read one another at earlier positions of a common "
                                   "axis cannot also read one another at later positions: one recurrence "
                                   "runs in one direction")
            out[-1][1] = max(out[-1][1], s[1])
            out[-1][2] = 1 if out[-1][2] != s[2] or s[0] != s[1] or out[-1][0] != out[-1][1] else s[2]
        else:
            out.append(list(s))
    return out


def _check_group(group, depth, direction):
    """Every read of a member at its own step reads an earlier-assigned member; every other
    read is in the group's direction."""
    names = [st.name for st in group]
    for k, st in enumerate(group):
        if not st.indices:
            _fail(st, f"{st.name} has no indices, so it cannot be a step of the recurrence of "
                      f"{', '.join(names)} (every statement of a recurrence has its first axis)")
        if len(group) == 1:
            continue
        for name in names:
            for r in _reads(st, name):
                d = offset(st.indices[0], r.indices[0]) if r.indices else None
                later = names.index(name) >= k
                if d is None or (d == 0 and later) or d * direction > 0:
                    _fail(st, f"{_read_text(r)}: statements {', '.join(names)} form one recurrence over "
                              f"their first axis, run {'forwards' if direction > 0 else 'backwards'}, "
                              f"which reads {name} at {st.indices[0]}{'-' if direction > 0 else '+'}1 or "
                              f"{'further back' if direction > 0 else 'further on'}" +
                              ("" if later else f", or at {st.indices[0]}"))


def shifted_reads(prog) -> set:
    """``{(reader, name)}``: reads inside a recurrence at another step, which do not stop
    ``name`` from being an output (the last state of an RNN is one)."""
    out = set()
    for rec in getattr(prog, "recurrences", ()):
        for st in (s for s in prog.statements if s.name in rec):
            out.add((st.name, st.name))  # (every read of its own name is at another position)
            for name in rec.names:
                if any(r.indices and offset(st.indices[0], r.indices[0]) not in (0, None)
                       for r in _reads(st, name)):
                    out.add((st.name, name))
    return out

