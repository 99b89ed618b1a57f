"""The round-trip proof: printed statements are re-parsed after the program text before
them, and every one that does not come back meaning the same is printed explicitly (or,
for a parsed statement SymPy simplified past re-parsing, as its source text). What leaves
indexcalc as text is proven to say what was derived; the proof parses once when all is
well, and hands the parsed program to its caller.

    >>> import indexcalc as ic
    >>> lines, program = prove(ic.parse("y[i] = x[i,j]*w[j]").statements)
    >>> lines, program.outputs
    (['y[i] = x[i,j]*w[j]'], ['y'])
"""

from __future__ import annotations

from indexcalc.notation.text import statement_text
from indexcalc.errors import IndexCalcError
from indexcalc.language.algebra import unstated
from indexcalc.language.check import check
from indexcalc.language.parser import parse_tree
from indexcalc.language.resume import resume
from indexcalc.calculus.contract import constant_out, merge_sums, rewrite
from indexcalc.simplify.keys import alpha
from indexcalc.simplify.tidy import normal


def prove(statements, before: str = "", skip: int = 0, forward=None):
    """``(lines, program)``: the printed ``statements`` and ``program``, the checked program
    ``before`` (with ``skip`` statements) followed by them; ``program`` is None when no
    printing re-parses to what was derived. ``forward``: the program checked from the
    text ``before``, if there is one; its check goes on from where it stood (see
    :mod:`indexcalc.language.resume`: the printed lines are parsed and checked all the
    same, after the program's own)."""
    lines = [statement_text(st) for st in statements]
    fallbacks = (lambda st: statement_text(st, explicit=True),
                 lambda st: st.text or statement_text(st, explicit=True))
    start = resume(forward, before) if forward is not None else None
    if start is not None and start.count != skip:
        start = None
    for attempt in range(len(fallbacks) + 1):
        program, bad = _reparse(statements, lines, before, skip, start)
        if not bad:
            return lines, program
        if attempt < len(fallbacks):
            for k in bad:
                lines[k] = fallbacks[attempt](statements[k])
    return lines, None


def reparse(text: str, warn: bool = True, derived_from=None, after=None):
    """The checked program of ``text`` (raises the user's error if it is not one); with
    ``warn``, its probable mistakes are warnings (IndexCalcWarning). ``after``: the check
    of the text's first lines, resumed (:mod:`indexcalc.language.resume`): only the rest
    is parsed, on the line numbers it has in ``text``.

    Parsed without positions (faster), and again with them only where a probable mistake
    is to be worded (see :func:`~indexcalc.language.check.check`)."""
    rest = text if after is None else "\n" * (after.text.count("\n") + 1) + text[len(after.text) + 1:]
    program = check(parse_tree(rest, positions=False), text, warn, derived_from, after, positions=False)
    if program is None:
        program = check(parse_tree(rest), text, warn, derived_from, after)
    return program


def _reparse(statements, lines, before, skip, start=None):
    """The re-parsed program and which printed ``lines`` do not mean their statement
    (``start``: the check of ``before``, resumed; the lines parse on the line numbers they
    have after it)."""
    text = before + "\n" + "\n".join(lines)
    try:
        program = reparse(text, False, skip, start)  # ours: no warnings
    except IndexCalcError:
        return None, list(range(len(lines)))
    back = program.statements[skip:]
    noted = {n - skip for n, _ in program.notes}  # a printout that would warn is printed explicitly
    return program, [k for k, st in enumerate(statements) if not _same(back[k].expr, st.expr)
                     or (st.reads and set(back[k].reads) != set(st.reads)) or k in noted]


def _same(a, b) -> bool:
    """Do ``a`` and ``b`` mean the same? Equal up to the names of summed indices, perhaps
    once factors are moved out of sums (cheap, the usual cases), or in :func:`normal` form."""
    if a == b:  # the same tree (most often: the printout names its summed indices as derived)
        return True
    a, b = unstated(a), unstated(b)  # sum[k:2](..) is the sum over k
    if alpha(a) == alpha(b):
        return True
    out = [rewrite(x, [constant_out, merge_sums]) for x in (a, b)]  # factors before sums
    return alpha(out[0]) == alpha(out[1]) or normal(a) == normal(b)


def program_text(prog) -> str:
    """A program as text that re-parses to it."""
    return "\n".join(prove(prog.statements)[0])
