"""Meaning checks: a lark syntax tree becomes a :class:`~indexcalc.language.program.CheckedProgram`.

The summation rule of README "The language", read bottom-up:

1. in a product, an index not on the left that occurs in two or more factors is summed
   over that product (``A[i,i]`` counts twice);
2. elsewhere an index passes upward unchanged;
3. at the top, an index still unsummed and not on the left is summed over the top-level
   additive term in which it appears.

Indices listed by a reduction (``sum[..]``, ``mean[..]``, ``max[..]``, ``min[..]``,
``logsumexp[..]``) are protected inside its argument like left indices, so
``sum[i](x[i]*y[i])`` is the dot product.

An implicit contraction inside a non-linear function that is probably not what was meant
is a warning (:mod:`~indexcalc.language.contractions`); ``check(..., warn=False)`` (the
round-trip proof re-parsing indexcalc's own printout) issues none.

This module checks the program (names assigned once, reads in order, inputs and outputs,
recurrences); each statement is checked by
:class:`~indexcalc.language.statement.StatementChecker`, its leaves (tensor elements,
constants) by :mod:`~indexcalc.language.leaves`.

    >>> from indexcalc.language.parser import parse_tree
    >>> text = "L = (X[i,k]*W[k,j] - Y[i,j])^2"
    >>> check(parse_tree(text), text).statements[0].expr
    ISum((ISum(W[k, j]*X[i, k], (k,)) - Y[i, j])**2, (i, j))
"""

from __future__ import annotations

from indexcalc.language.contractions import issue
from indexcalc.language.gathers import Integers
from indexcalc.language.program import CheckedProgram, Sizes
from indexcalc.language.recurrences import recurrences, shifted_reads
from indexcalc.language.resume import CheckState, keep
from indexcalc.language.statement import StatementChecker


def check(tree, text: str, warn: bool = True, derived_from=None, after=None,
          positions: bool = True) -> CheckedProgram | None:
    """Check every statement of ``tree`` (parsed from ``text``) and build the Program.
    With ``warn``, a probable mistake in a valid program is an
    :class:`~indexcalc.errors.IndexCalcWarning` (issued once the whole program checks).
    Statements from number ``derived_from`` on are indexcalc's own printout (see
    :meth:`~indexcalc.language.windows.WindowChecks.resolve_sizes`). ``after``: a
    :class:`~indexcalc.language.resume.CheckState` of the first statements of ``text``,
    already checked; ``tree`` then holds only the statements after them. Without
    ``positions`` (a tree parsed without them: ``parse_tree(.., positions=False)``),
    None where the program has a probable mistake to word (its words quote the places
    of its parts: check the tree parsed with positions); errors are the same."""
    lines = text.splitlines()
    sizes = Sizes()
    integers = Integers()  # README "Gathers"
    if after is None:
        ranks: dict[str, int] = {}
        assigned: dict[str, int] = {}
        read_order: list[str] = []
        first: dict[str, tuple] = {}
        statements, notes = [], []
        forward: dict = {}  # README "Recurrences": names read before they are assigned, by statement
    else:
        statements, notes, ranks, assigned, read_order, first, forward = after.tables(sizes, integers)
    own = after is not None and after.own
    for n, node in enumerate(tree.children, start=len(statements)):
        stmt_text = lines[node.meta.line - 1][node.meta.column - 1:].split(";")[0].split("#")[0]
        builder = StatementChecker(n, node, stmt_text.strip(), ranks, sizes, first, text)
        builder.own_text = derived_from is not None and n >= derived_from
        builder.places = positions  # (its tree's nodes have places: notes can be worded)
        own = own or builder.own_text
        st = builder.statement()
        found = builder.contractions.messages() if positions else [None] * len(builder.contractions.found)
        notes += [(n, message) for message in found + builder.notes]
        integers.statement(st, builder.fail, assigned, builder.gathered)
        for name in builder.reads:
            if name not in read_order and name != st.name:  # (its own name: README "Recurrences")
                read_order.append(name)
        if st.name in assigned:
            builder.fail(f"{st.name} is assigned twice (lines {assigned[st.name]} and {st.line})")
        if st.name in read_order:  # legal only at an earlier step of a recurrence
            for k, other in enumerate(statements):
                if st.name in other.reads:
                    forward.setdefault(k, []).append(st.name)
        assigned[st.name] = st.line
        statements.append(st)
    state = CheckState(text, own, statements, notes, ranks, assigned, read_order, sizes, first,
                       integers, forward)  # (copies, before the checks of the whole program)
    groups = recurrences(statements, forward, sizes)
    inputs = [name for name in read_order if name not in assigned]
    shifted = shifted_reads(CheckedProgram(statements, [], [], ranks, sizes, recurrences=groups))
    later_reads = {name for st in statements for name in st.reads if (st.name, name) not in shifted}
    outputs = [st.name for st in statements if st.name not in later_reads]
    if not positions and any(note is None for _, note in notes):
        return None  # (not kept: nothing is)
    if warn:
        for _, note in notes:
            issue(note)
    program = CheckedProgram(statements, inputs, outputs, ranks, sizes, text, first, notes,
                             tuple(name for name in inputs if name in integers.names), groups)
    keep(program, state)
    return program

