"""``d.steps()`` and ``indexcalc derive --steps``: the derivation as a person writes it.

The steps are read off a trace of the real derivation, not derived a second time: the
derivation runs again with :data:`~indexcalc.calculus.differentiate.SWEEP` set, so the
reverse sweep records what each statement sends each name it reads (the partial
derivative, and every rewrite that :func:`~indexcalc.calculus.contract.contract` applied,
through :data:`~indexcalc.calculus.contract.TRACE`). For each statement, last first:

* the chain rule, ``dX[a] += Σ_free dY[free] ∂Y[free]/∂X[a]``;
* the partial derivative, with its Kronecker deltas;
* each contraction of a delta, ``Σ_j δ(i,j) f(j) = f(i)``, and each sum over an index
  its body lacks (``Σ_j c = len(j) c``); the other rewrites (a factor moved out of a sum,
  sums merged or split) are folded into the next line shown;
* each forward value put back (``1 - tanh(x[i])^2`` becomes ``1 - y[i]^2``);
* when a gradient has received every contribution, its total.

The backward program as printed (``str(d)``) ends the steps. Indices are named as a
person would: a gradient's own with its final names (those of ``str(d)``), the others
after the letters the program wrote, never a name of the program's tensors.

    >>> import indexcalc as ic
    >>> print(ic.derive("y[i] = tanh(x[i])").steps())
    line 1: y[i] = tanh(x[i])
      dy[i] is the upstream gradient
      dx[i] += Σ_j dy[j]*∂y[j]/∂x[i]             chain rule
      ∂y[j]/∂x[i] = δ(i,j)*(1 - tanh(x[j])^2)    partial derivative
        = dy[i]*(1 - tanh(x[i])^2)               contract: Σ_j δ(i,j) φ(j) = φ(i)
        = dy[i]*(1 - y[i]^2)                     forward value y[i] = tanh(x[i])
    <BLANKLINE>
    backward program:
    dx[i] = dy[i]*(1 - y[i]^2)
"""

from __future__ import annotations

import sympy as sp
from sympy import KroneckerDelta

from indexcalc.calculus.differentiate import SWEEP, Sent
from indexcalc.calculus.names import NameSupply, stem
from indexcalc.language.algebra import Index, ISum, free_indices, tensor_names
from indexcalc.simplify.tidy import alpha, letters_from, reuse_forward
from indexcalc.explain.show import Line, Partial, Section, Steps, element, one_line, text_of

__all__ = ["Steps", "steps_of"]


# -- the trace, read --------------------------------------------------------------------
class _Names:
    """Readable index names for one block: some fixed (a gradient's own indices), the
    others after the letter they were named from (``b_3`` -> ``b``, or the next free
    letter), none equal to another, to a fixed one or to a name in ``avoid``."""

    def __init__(self, fixed: dict, avoid):
        self.map = dict(fixed)
        self.used = set(avoid) | {str(v) for v in fixed.values()}
        self.named = set(fixed.values())  # indices already readable (a name handed out)

    def __call__(self, e):
        for i in self._new(e):
            name = next(n for n in letters_from(stem(i)) if n not in self.used)
            self.used.add(name)
            self.map[i] = Index(name)
            self.named.add(self.map[i])
        return e.xreplace(self.map) if isinstance(e, sp.Basic) else e

    def _new(self, e):
        atoms = e.atoms(Index) if isinstance(e, sp.Basic) else set(e)
        return sorted((i for i in atoms if i not in self.map and i not in self.named), key=lambda i: (stem(i), str(i)))

    def take(self, indices):
        """Name ``indices`` first, in order (the statement's own)."""
        for i in indices:
            if i not in self.map:
                self(sp.Tuple(i))


def _delta_note(before, names):
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
                return (f"Σ_{g} δ({k},{g}) φ({g}) = φ({k})",
                        f"\\textstyle\\sum_{{{g}}} \\delta_{{{k}{g}}}\\, \\varphi({g}) = \\varphi({k})",
                        f"Σ_{g} δ({k},{g})", f"\\textstyle\\sum_{{{g}}} \\delta_{{{k}{g}}}")
    return "a delta", "\\text{a delta}", "a delta", "\\text{a delta}"


def _absent_note(before, after, names):
    gone = [i for i in before.indices if i not in free_indices(before.body)]
    gone = [str(names(i)) for i in gone] or ["the index"]
    g = ",".join(gone)
    text = f"Σ_{g} c = len({g}) c" if len(gone) == 1 else f"Σ_{{{g}}} c = len {g} c"
    tex = f"\\textstyle\\sum_{{{g}}} c = " + "".join(f"N_{{{x}}}" for x in gone) + " c"
    return text, tex, text, tex


def _replay(start, rewrites):
    """The whole expression after each rewrite (which ``rewrite`` records for the part
    it rewrote), or None where a part cannot be found again in the whole."""
    whole, out = start, []
    for rule, before, after in rewrites:
        if whole is not None and (whole == before or whole.has(before)):
            whole = after if whole == before else whole.xreplace({before: after})
        else:
            whole = None
        out.append((rule, before, after, whole))
    return out


def _block(sent: Sent, prog, gradient: str, up_name, avoid) -> list:
    """The lines of one contribution: chain rule, partial, contractions, reuse."""
    st = prog.statements[sent.statement]
    names = _Names(dict(zip(sent.targets, sent.canon)), avoid)
    names.take(sent.left)
    name_el = element(sent.name, sent.targets)
    y_el = element(st.name, sent.left)
    grad = names(element(gradient, sent.targets))
    dy = sent.dy
    part_sym = Partial(names(y_el), names(name_el))
    lines = [Line(names(_isum(dy * part_sym, sent.left)), grad, "+=", "chain rule"),
             Line(names(sent.partial), part_sym, "=", "partial derivative")]
    start = sp.sympify(_isum(dy * sent.partial, sent.left))
    steps = _replay(start, sent.rewrites)
    final = steps[-1][3] if steps else start
    if final is None or alpha(final) != alpha(sent.contribution):
        final = sent.contribution
    shown, short = [], []
    for rule, before, after, whole in steps:
        if rule == "contract_delta":
            note, tex, brief, brief_tex = _delta_note(before, names)
            note, tex = "contract: " + note, "\\text{contract: } " + tex
        elif rule == "absent_index":
            note, tex, brief, brief_tex = _absent_note(before, after, names)
        else:
            continue
        short.append((brief, brief_tex))
        if whole is None:  # the part alone: Σ_j δ(i,j) x[j] -> x[i]
            shown.append(Line(names(after), names(before), "→", note, tex))
        else:
            shown.append(Line(whole, None, "=", note, tex))
    if len(shown) > 2 and all(line.lhs is None for line in shown):
        # many contractions: one line, naming each contraction once
        short = list(dict.fromkeys(short))
        shown = [Line(final, None, "=", "contract: " + ", ".join(n for n, _ in short),
                      "\\text{contract: } " + ",\\ ".join(t for _, t in short))]
    if shown and shown[-1].lhs is None:
        shown[-1].rhs = final  # the rewrites after the last contraction only move factors
    elif text_of(names(final)) != text_of(names(start)):
        shown.append(Line(final, None, "="))
    for line in shown:
        line.rhs = names(line.rhs)
    lines += shown
    reused = reuse_forward(final, prog)
    values = [s for s in prog.statements if s.name in tensor_names(reused) - tensor_names(final)]
    if values:
        note = "forward value" + ("s " if len(values) > 1 else " ") + "; ".join(one_line(s) for s in values)
        lines.append(Line(_Names(dict(zip(sent.targets, sent.canon)), avoid)(reused), None, "=", note,
                          values=values))
    return lines


def _isum(body, indices):
    return ISum(body, tuple(indices)) if indices else body


def steps_of(derivation) -> Steps:
    """Run ``derivation`` again with the sweep traced, and read its steps off the trace."""
    from indexcalc.derivation.assemble import tidy
    from indexcalc.derivation.results import Derivative  # (the public surface: no cycle)
    log: list = []
    token = SWEEP.set(log)
    try:
        again = Derivative(derivation.forward, derivation.wrt)
    finally:
        SWEEP.reset(token)
    prog = derivation.forward
    # gradient names as the derivation gave them (the re-run gives the same)
    grads = _gradient_names(again, log, prog)
    avoid = set(prog.ranks) | set(grads.values()) | {u for u in again.upstream.values() if isinstance(u, str)}
    supply = NameSupply.of_program(prog)
    supply.add(*avoid)
    by_statement: dict = {}
    for sent in log:
        by_statement.setdefault(sent.statement, []).append(sent)
    totals: dict = {}
    sections = []
    for n in reversed(range(len(prog.statements))):
        st = prog.statements[n]
        sec = Section(st)
        if st.name in again.upstream:
            up = again.upstream[st.name]
            sec.seed = (f"{st.name} is the loss: ∂{st.name}/∂{st.name} = 1" if up == 1 else
                        f"{text_of(element(up, st.indices))} is the upstream gradient")
        elif st.name in totals:
            total = totals.pop(st.name)
            idx = _canon(prog, st.name)
            with supply.active():
                try:
                    tidied = tidy(total, prog, idx, avoid, [(st.name, a) for a in range(len(idx))])
                except Exception:  # (a total the printer would refuse: shown contracted)
                    tidied = total
            lines = sorted({prog.statements[s.statement].line for s in log if s.name == st.name
                            and s.contribution != 0}, reverse=True)
            sec.total = [Line(tidied, element(grads[st.name], idx), "=",
                              "from line" + ("s " if len(lines) > 1 else " ") + ", ".join(map(str, lines)))]
        elif n not in by_statement:
            continue
        for sent in by_statement.get(n, []):
            lines = _block(sent, prog, grads[sent.name], None, avoid)
            sec.blocks.append(lines)
            if sent.contribution != 0:
                totals[sent.name] = totals.get(sent.name, 0) + \
                    sent.contribution.xreplace(dict(zip(sent.targets, sent.canon)))
        sections.append(sec)
    printed = [st.name for st in derivation.statements]
    notes = []
    for sec in sections:
        name = _name(sec.total[0].lhs) if sec.total else None
        if name is not None and name not in printed:
            readers = sorted({_name(block[0].lhs) for block in sec.blocks})
            notes.append(f"{name} is element-wise and read once: the backward program substitutes it "
                         f"into {' and '.join(readers) or 'its reader'} and simplifies")
    temporaries = [n for n in printed if n not in set(grads.values())]
    if temporaries:
        notes.append(f"{', '.join(temporaries)}: subexpressions the backward program computes once")
    return Steps(derivation, sections, grads, notes)


def _name(e) -> str:
    return str(e.base.label) if isinstance(e, sp.Indexed) else str(e)


def _canon(prog, name):
    from indexcalc.calculus.differentiate import canonical_indices
    return canonical_indices(prog, name)


def _gradient_names(d, log, prog) -> dict:
    """``{name: gradient name}`` as the derivation named them (``dX``, ``dL_dX``, ...):
    the inputs' from ``d.names``, an intermediate's from the upstream gradient its
    statement was swept with."""
    names = {}
    for sent in log:
        if isinstance(sent.dy, (sp.Indexed, sp.Symbol)):
            label = sent.dy.base.label if isinstance(sent.dy, sp.Indexed) else sent.dy
            names[prog.statements[sent.statement].name] = str(label)
    return names | dict(d.names)
