"""``jvp.steps()`` and ``hvp.steps()``: forward mode as a person writes it (README "Forward
mode and Hessian-vector products").

The steps are formatted from the trace of the run
(:class:`indexcalc.derivation.forward.TangentTrace`, read off ``j.trace``): nothing is
derived again. For each statement ``Y = f(..)`` that depends on the inputs, in program
order: each partial derivative ``∂Y/∂X`` with its deltas, the forward chain rule
``tY = Σ ∂Y/∂X tX`` and its contraction, then what the printout did (the element-wise
tangents read once substituted, the forward values put back). The tangent program as
printed ends the steps; an HVP's steps are those of its gradient, then these over the
gradient program.

    >>> import indexcalc as ic
    >>> print(str(ic.jvp("y[i] = W[i,j]*x[j]", wrt="x").steps()).splitlines()[3])
      ty[i] = Σ_m tx[m]*∂y[i]/∂x[m]      chain rule (forward)
"""

from __future__ import annotations

import sympy as sp

from indexcalc.explain.notes import absent_note, axis_note, delta_note
from indexcalc.explain.show import Line, Partial, Section, Steps, element, one_line, text_of
from indexcalc.explain.steps import _Names, _replay
from indexcalc.language.algebra import Index, ISum, tensor_names

__all__ = ["tangent_steps_of"]

_NOTES = {"contract_delta": delta_note, "contract_axis_delta": axis_note}


def _block(rec, st, trace, avoid) -> list:
    """The lines of one tangent statement: its partial derivatives, the chain rule, the
    contraction, then what the printout did."""
    names = _Names({i: i for i in rec.indices}, avoid)
    lhs = element(rec.name, rec.indices)
    lines, chain, start = [], [], []
    for m, idx, p, tm in rec.reads:
        names.take(idx)
        sym = Partial(element(st.name, st.indices), element(m, idx))
        lines.append(Line(p, sym, "=", "partial derivative"))
        if tm is None:  # a Jacobian's own input: ∂N/∂X itself
            chain.append(sym)
            start.append(p)
        else:  # tM (forward mode) or ∂M/∂X by its Jacobian's name
            chain.append(_isum(sym * tm, idx))
            start.append(_isum(p * tm, idx))
    jacobian = any(tm is None for *_, tm in rec.reads) or trace.jacobian
    lines.append(Line(sp.Add(*chain), lhs, "=", "chain rule" if jacobian else "chain rule (forward)"))
    first = sp.Add(*start)
    lines.append(Line(first, None, "="))
    notes = []  # (long, short) for each contraction: one named at length, several briefly
    for rule, before, after, _ in _replay(first, rec.rewrites):
        if rule in _NOTES:
            note = _NOTES[rule](before, names)
            notes.append((note[0], note[2]))
        elif rule == "absent_index":
            note = absent_note(before, after, names)
            notes.append((note[0], note[2]))
    if text_of(names(rec.total)) != text_of(names(first)):
        notes = list(dict.fromkeys(notes))
        note = "" if not notes else "contract: " + (notes[0][0] if len(notes) == 1 else
                                                     ", ".join(short for _, short in notes))
        lines.append(Line(rec.total, None, "=", note))
    last = rec.total
    inlined = trace.inlined.get(rec.name)
    if inlined is not None and text_of(names(inlined)) != text_of(names(last)):
        which = sorted(set(tensor_names(last)) - set(tensor_names(inlined)))
        lines.append(Line(inlined, None, "=", f"{', '.join(which) or 'tangents'} substituted "
                                              "(element-wise and read once)"))
        last = inlined
    tidied = trace.tidied.get(rec.name)
    if tidied is not None and text_of(tidied) != text_of(names(last)):
        prog = trace.program
        before = set(tensor_names(last))
        values = [s for s in prog.statements if s.name in tensor_names(tidied) and s.name not in before]
        note = ("forward value" + ("s " if len(values) > 1 else " ") + "; ".join(one_line(s) for s in values)
                if values else "tidied")
        lines.append(Line(tidied, None, "=", note, values=values))
    for line in lines:
        line.rhs = names(line.rhs)
        if isinstance(line.lhs, Partial):
            line.lhs = names(line.lhs)
    return lines


def _isum(body, indices):
    return ISum(body, tuple(indices)) if indices else body


def tangent_steps_of(result, guard=None, title="tangent program") -> Steps:
    """The steps of ``result`` (a JVP, or the tangent part of an HVP), read off the trace
    of its run (``result.trace``)."""
    trace = result.trace
    prog = trace.program
    avoid = set(prog.ranks) | set(trace.names.values())
    seeded, sections = set(), []
    inputs = {x for x in trace.names if x not in {s.name for s in prog.statements}}
    swept = [rec for rec in trace.tangents if rec.name not in trace.unread]  # (an HVP's tL: read by none)
    for rec in swept:
        st = prog.statements[rec.statement]
        sec = Section(st)
        fresh = [m for m, *_, tm in rec.reads if m in inputs and m not in seeded and tm is not None]
        seeded |= set(fresh)
        sec.seed = "; ".join(f"{text_of(element(trace.names[m], _axes(prog, m)))} is the tangent of {m}"
                             for m in fresh)
        sec.blocks.append(_block(rec, st, trace, avoid))
        sections.append(sec)
    printed = {st.name for st in result.statements}
    notes = []
    gone = [rec.name for rec in swept if rec.name not in trace.inlined and rec.name not in printed]
    if gone:
        notes.append(f"{', '.join(gone)}: element-wise and read once, substituted into {'its' if len(gone) == 1 else 'their'} "
                     "reader")
    return Steps(result, sections, {}, notes, guard, title=title)


def _axes(prog, m) -> tuple:
    """The indices ``m`` is read at in its first read (a name for each of its axes)."""
    from indexcalc.calculus.differentiate import canonical_indices
    return tuple(Index(str(i)) for i in canonical_indices(prog, m))

