"""The notes of the steps' contractions (:mod:`indexcalc.explain.steps`): what each
rewrite of a delta did, in words and in LaTeX, long (``contract: Σ_j δ(i,j) φ(j) = φ(i)``)
and short (``Σ_j δ(i,j)``, where one line names several).

    >>> from indexcalc.language.algebra import Index, ISum
    >>> import sympy as sp
    >>> i, j = Index("i"), Index("j")
    >>> delta_note(ISum(sp.KroneckerDelta(i, j) * sp.IndexedBase("x")[j], (j,)), lambda e: e)[0]
    'Σ_j δ(i,j) φ(j) = φ(i)'
"""

from __future__ import annotations

from sympy import KroneckerDelta
import sympy as sp

from indexcalc.calculus.solve import axis_solution
from indexcalc.language.algebra import Index, free_indices
from indexcalc.language.axes import axis_text
from indexcalc.notation.latex import expr_latex
from indexcalc.notation.latex_names import index_latex, subscript

__all__ = ["delta_note", "axis_note", "absent_note"]


def delta_note(before, names):
    """``(note, LaTeX, short note, short LaTeX)`` for the delta that ``contract_delta``
    removed: ``Σ_j δ(i,j) φ(j) = φ(i)``, short ``Σ_j δ(i,j)``."""
    for f in sp.Mul.make_args(before.body):
        if isinstance(f, sp.Pow) and isinstance(f.base, KroneckerDelta):
            f = f.base
        if isinstance(f, KroneckerDelta):
            a, b = f.args
            gone, keep = (a, b) if a in before.indices else (b, a) if b in before.indices else (None, None)
            if gone is not None:
                g, k = names(gone), names(keep)
                tg, tk = _tex(g), _tex(k)
                pair = subscript([tk, tg])
                return (f"Σ_{g} δ({k},{g}) φ({g}) = φ({k})",
                        f"\\textstyle\\sum_{{{tg}}} \\delta_{{{pair}}}\\, \\varphi({tg}) = \\varphi({tk})",
                        f"Σ_{g} δ({k},{g})", f"\\textstyle\\sum_{{{tg}}} \\delta_{{{pair}}}")
    return "a delta", "\\text{a delta}", "a delta", "\\text{a delta}"


def axis_note(before, names):
    """The notes for a delta of an axis expression that ``contract_axis_delta`` solved:
    ``solve δ(j, i+k) for i = j-k; dy is 0 outside its axis`` (README "Windows and
    positions": the zero padding of the tensor read at ``i`` keeps the solution in range)."""
    delta, s, value, reader = axis_solution(before)
    p, q = (axis_text(names(a)) for a in delta.args)
    v, s = axis_text(names(value)), names(s)
    note = f"solve δ({p}, {q}) for {s} = {v}; {reader} is 0 outside its axis"
    td = expr_latex(KroneckerDelta(*[names(a) for a in delta.args], evaluate=False))  # \\delta_{j,i+k}
    tv, ts = _tex(names(value)), _tex(s)
    tex = (f"\\text{{solve }} {td} \\text{{ for }} {ts} = {tv}"
           f"\\text{{; {reader.replace('_', chr(92) + '_')} is 0 outside its axis}}")  # d\\_c
    return note, tex, f"solve δ({p}, {q}) for {s}", f"\\text{{solve }} {td}"


def absent_note(before, after, names):
    gone = [i for i in before.indices if i not in free_indices(before.body)]
    shown = [names(i) for i in gone]
    gone = [str(i) for i in shown] or ["the index"]
    g = ",".join(gone)
    text = f"Σ_{g} c = len({g}) c" if len(gone) == 1 else f"Σ_{{{g}}} c = len {g} c"
    if not shown:
        return text, "\\text{a sum of a constant}", text, "\\text{a sum of a constant}"
    tg = subscript(_tex(i) for i in shown)
    tex = f"\\textstyle\\sum_{{{tg}}} c = " + "".join(f"N_{{{_tex(x)}}}" for x in shown) + " c"
    return text, tex, text, tex


def _tex(e) -> str:
    """An index or an axis expression (``j - k``) in LaTeX (``_s0`` → ``\\mathrm{\\_s0}``)."""
    if isinstance(e, Index):
        return index_latex(str(e))
    return expr_latex(e)
