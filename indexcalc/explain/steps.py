"""``d.steps()`` and ``indexcalc derive --steps``: the derivation as a person writes it.

The steps are formatted from the trace of the derivation's own run
(:class:`indexcalc.derivation.pipeline.Trace`, read off ``d.trace``): nothing is derived
again. Every line is an equation that holds. For each statement, last first, and each
name it reads:

* the partial derivative, with its Kronecker deltas, on its own line;
* the chain rule, ``dX[a] = Σ_free dY[free] ∂Y[free]/∂X[a]`` (where ``X`` receives
  several parts, its left side is the part this statement sends, ``(dX[a] from line 3)``),
  then the same with the partial derivative written out;
* each contraction of a delta, ``Σ_j δ(i,j) f(j) = f(i)``, and each sum over an index
  its body lacks (``Σ_j c = len(j) c``); the other rewrites (a factor moved out of a sum,
  sums merged or split) are folded into the next line shown;
* a gradient of several parts, once complete, as their sum; then what the printout did:
  the gradients substituted into it, each forward value put back (``1 - tanh(x[i])^2``
  becomes ``1 - y[i]`` for ``y = tanh(x)^2``), factors out. A function whose derivative
  is a function of its value is differentiated with the statement's name already
  (``1 - y^2`` for ``y = tanh(x)``): nothing is put back there.

The backward program as printed (``str(d)``) ends the steps. Indices are named as a
person would: a gradient's own with its final names (those of ``str(d)``), the others
after the letters the program wrote, never a name of the program's tensors; the gradient
names are the ones the run chose.

    >>> import indexcalc as ic
    >>> print(ic.derive("y[i] = tanh(x[i])").steps())
    line 1: y[i] = tanh(x[i])
      dy[i] is the upstream gradient
      ∂y[j]/∂x[i] = δ(i,j)*(1 - y[j]^2)    partial derivative
      dx[i] = Σ_j dy[j]*∂y[j]/∂x[i]        chain rule
        = Σ_j δ(i,j)*dy[j]*(1 - y[j]^2)
        = dy[i]*(1 - y[i]^2)               contract: Σ_j δ(i,j) φ(j) = φ(i)
    <BLANKLINE>
    backward program:
    dx[i] = dy[i]*(1 - y[i]^2)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy import KroneckerDelta

from indexcalc.calculus import rules
from indexcalc.calculus.differentiate import Sent, state_sizes
from indexcalc.calculus.names import stem
from indexcalc.language.algebra import Index, ISum
from indexcalc.language.axes import Compare, axis_text
from indexcalc.language.windows import stated_size
from indexcalc.notation.sized import sized
from indexcalc.simplify.keys import alpha
from indexcalc.simplify.tidy import letters_from
from indexcalc.explain.notes import absent_note as _absent_note, axis_note as _axis_note, delta_note as _delta_note
from indexcalc.explain.show import Line, Part, Partial, Section, Steps, element, one_line, text_of

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


def _block(sent: Sent, prog, grads, whole: bool, avoid, supply=None) -> list:
    """The lines of one contribution: the partial derivative with its deltas, then the
    chain rule and each contraction, one equality after another. Its left side is the
    gradient itself when this is its only part (``whole``), else the part that this
    statement sends (``(dx[i] from line 3)``)."""
    st = prog.statements[sent.statement]
    names = _Names(dict(zip(sent.targets, sent.canon)), avoid)
    names.take(sent.left)
    of = getattr(sent, "of", "") or st.name  # (z of h = tanh(z): README "Recurrences")
    part_sym = Partial(names(element(of, sent.left)), names(element(sent.name, sent.targets)))
    grad = element(grads[sent.name], sent.canon)
    lhs = grad if whole else Part(grad, st.line)
    start = sp.sympify(_isum(sent.dy * sent.partial, sent.left))
    lines = [Line(sent.partial, part_sym, "=", "partial derivative"),
             Line(_isum(sent.dy * part_sym, sent.left), lhs, "=", "chain rule"),
             Line(start, None, "=")]
    steps = _replay(start, sent.rewrites)
    final = steps[-1][3] if steps else start
    if final is None or alpha(final) != alpha(sent.contribution):
        final = sent.contribution
    shown, short, broken = [], [], False
    for rule, before, after, whole_after in steps:
        if rule == "contract_delta":
            note, tex, brief, brief_tex = _delta_note(before, names)
            note, tex = "contract: " + note, "\\text{contract: } " + tex
        elif rule == "absent_index":
            note, tex, brief, brief_tex = _absent_note(before, after, names)
        elif rule == "contract_axis_delta":
            note, tex, brief, brief_tex = _axis_note(before, names)
        else:
            continue
        short.append((brief, brief_tex))
        if whole_after is None:  # the part alone, an equation of its own: Σ_j δ(i,j) x[j] = x[i]
            shown.append(Line(after, before, "=", note, tex))
            broken = True
        else:
            shown.append(Line(whole_after, None, "=", note, tex))
    if len(shown) > 2 and all(line.lhs is None for line in shown):
        # many contractions: one line, naming each contraction once
        short = list(dict.fromkeys(short))
        shown = [Line(final, None, "=", "contract: " + ", ".join(n for n, _ in short),
                      "\\text{contract: } " + ",\\ ".join(t for _, t in short))]
    if shown and shown[-1].lhs is None:
        shown[-1].rhs = final  # the rewrites after the last contraction only move factors
    elif broken:  # the chain again, its left side restated after the parts' equations
        shown.append(Line(final, lhs, "="))
    elif text_of(names(final)) != text_of(names(start)):
        shown.append(Line(final, None, "="))
    lines += shown
    around = tuple(sent.targets) + tuple(sent.left)
    keys = [supply.size_key(i) for i in around] if supply is not None else []
    for line in lines:
        if supply is not None:  # len() of an index no sum binds: of a left index, or size(A, k)
            line.rhs = state_sizes(line.rhs, around, prog, supply, left_keys=keys, guards=False)
            line.rhs = sized(line.rhs, _window(prog, supply))  # max[k:2](..): a window's size
        line.rhs = names(line.rhs)
        if line.lhs is not None and not isinstance(line.lhs, (Part, Partial)) and line.lhs is not grad:
            line.lhs = names(line.lhs)
    return lines


def _window(prog, supply):
    """The size of an index the run invented, as a stated size (None: unknown)."""
    def size(i):
        key = supply.size_key(i)
        return stated_size(prog, key) if key is not None and key in prog.sizes.parent else None
    return size


def _sized(e, g, prog, supply):
    """``e`` (a gradient of ``g.name``) with each ``len()`` of an index no sum binds
    written as the printout writes it (``len`` of a left index, or ``size(A, k)``), and
    each window's size stated."""
    if supply is None or not isinstance(e, sp.Basic):
        return e
    keys = [(g.name, a) for a in range(len(g.indices))]
    return sized(state_sizes(e, g.indices, prog, supply, left_keys=keys, guards=False), _window(prog, supply))


def _total(g, parts, prog, grads, avoid, supply=None) -> list:
    """The lines of a gradient with several parts (or a seed): their sum."""
    lhs = element(g.gradient, g.indices)
    terms = ([g.seed] if g.seed is not None else []) + \
        [Part(lhs, prog.statements[s.statement].line) for s in parts]
    lines = [Line(sp.Add(*terms, evaluate=False) if len(terms) > 1 else (terms[0] if terms else sp.Integer(0)),
                  lhs, "=", "the sum of its parts" if len(terms) > 1 else "")]
    total = _Names({i: i for i in g.indices}, avoid)(_sized(g.total, g, prog, supply))
    if text_of(total) != text_of(lines[0].rhs):
        lines.append(Line(total, None, "="))
    return lines


def _tidied(g, avoid, grads, values, prog=None, supply=None) -> list:
    """What the printout did to a complete gradient: the gradients substituted into it,
    the forward values put back (each a step), factors out."""
    if getattr(g, "unprinted", False):
        return []  # (a recurrence's whole gradient: printed as another, or inside dz)
    lines = []
    shown = _Names({i: i for i in g.indices}, avoid)
    last = text_of(shown(_sized(g.total, g, prog, supply)))
    if g.inlined:
        before = shown(_sized(g.before, g, prog, supply))
        if text_of(before) != last:
            which = ", ".join(grads[x] for x in g.inlined)
            lines.append(Line(before, None, "=", f"{which} substituted (element-wise and read once)"))
            last = text_of(before)
    if g.tidied is not None and text_of(g.tidied) != last:
        if values:
            note = "forward value" + ("s " if len(values) > 1 else " ") + "; ".join(one_line(s) for s in values)
        else:
            note = "factors out" if g.tidied.has(ISum) or g.total.has(ISum) else "tidied"
        guards = sorted(g.tidied.atoms(Compare) - g.total.atoms(Compare), key=str)
        if guards:  # calculus.solve.guard_deltas: Σ_j δ(i, j+1) φ(j) = (i >= 1) φ(i-1)
            solved = []
            for d in sorted(shown(_sized(g.total, g, prog, supply)).atoms(KroneckerDelta), key=str):
                p, q = d.args if isinstance(d.args[0], Index) else d.args[::-1]
                s_ = sorted(q.atoms(Index), key=str)
                if isinstance(p, Index) and len(s_) == 1 and not isinstance(q, Index):
                    solved.append(f"δ({p}, {axis_text(q)}) for {s_[0]} = {axis_text(sp.expand(s_[0] - q + p))}")
            note = (f"solve {', '.join(solved) or 'a delta'}, in range where " +
                    " and ".join(text_of(c) for c in guards) + "; " + note)
        lines.append(Line(g.tidied, None, "=", note, values=values))
    return lines


@dataclass
class _Whole:
    """The record of a recurrence's whole gradient that the printout computes under
    another name, or only inside the gradient ``dz`` of a pre-activation (the fields of :class:`indexcalc.derivation.pipeline.Gradient` that the
    steps read): ``d_c`` of ``c[t] = c[t-1] + x[t]``, printed as ``dx``."""
    name: str
    gradient: str
    indices: tuple
    seed: object = None
    total: object = sp.Integer(0)
    before: object = None
    tidied: object = None
    reused: list = field(default_factory=list)
    inlined: list = field(default_factory=list)
    unprinted: bool = True  # (the printout computes it as another gradient, or inside dz)


def _renamed_records(trace, prog, upstream, statement_of, records, every) -> dict:
    """A record for each gradient of a statement that the sweep formed but the run has
    none of (README "Recurrences": the whole gradient ``d_c`` of a recurrence, which the
    printout computes as ``dx`` where ``dx[t] = d_c[t]``): its seed plus its parts."""
    out = {}
    for name, sents in every.items():
        if name in records or name not in statement_of:
            continue
        canon = tuple(sents[0].canon)
        up = upstream.get(name)
        seed = element(up, canon) if isinstance(up, str) else None
        parts = [s.contribution.xreplace(dict(zip(s.targets, s.canon))) for s in sents]
        total = sp.Add(*([seed] if seed is not None else []), *parts)
        if seed is None and len(sents) == 1:
            continue  # one part and no seed: the chain rule's line is the whole gradient
        out[name] = _Whole(name, trace.names[name], canon, seed, total, total, total)
    return out


def _copied(last, g, records, avoid, prog, supply) -> list:
    """Where the printout computes a recurrence's whole gradient ``d_c`` as the gradient
    ``dx`` that equals it (``dx[t] = d_c[t]``): the line that says so, ``= dc[t] + dx[t+1]``
    (README "Recurrences")."""
    copies = [r for r in records.values() if getattr(r, "unprinted", False)]
    if not copies or not isinstance(last, sp.Indexed):
        return []
    source = next((r for r in copies if r.gradient == str(last.base.label)), None)
    if source is None:
        return []
    shown = _Names({i: i for i in g.indices}, avoid)(_sized(g.total, g, prog, supply))
    note = (f"{source.gradient} is {g.gradient} at every position, so "
            f"{source.gradient}'s parts read {g.gradient}")
    return [Line(shown, None, "=", note)]


def _preactivation(st, z, dz, g, grads, avoid, values, prog, supply) -> list:
    """The lines of ``dz``, the gradient of the argument ``z`` of ``h = f(z)`` in a
    recurrence (README "Recurrences"): the whole gradient of ``h`` times ``f'(z)``, the
    gradient of ``h`` written out, then what the printout did to it."""
    idx = tuple(g.indices)
    arg = st.expr.args[0]
    factor = rules.ELEMENTWISE[type(st.expr)](arg, st.expr)
    name = type(st.expr).__name__
    lines = [Line(element(grads[st.name], idx) * factor, element(dz, idx), "=",
                  f"chain rule through {st.name} = {name}({z}): the whole gradient of {st.name} times {name}'({z})")]
    shown = _Names({i: i for i in idx}, avoid)(_sized(g.total, g, prog, supply))
    if text_of(shown) != text_of(lines[0].rhs):
        lines.append(Line(shown, None, "=", f"{grads[st.name]} written out"))
    return lines + _tidied(g, avoid, grads, values, prog, supply)


def _isum(body, indices):
    return ISum(body, tuple(indices)) if indices else body


def steps_of(derivation, guard=None) -> Steps:
    """The steps of ``derivation`` (a Derivative), read off the trace of its run
    (``derivation.trace``, :class:`indexcalc.derivation.pipeline.Trace`): nothing is
    derived again. ``guard`` wraps the methods of the result (see :class:`Steps`)."""
    trace, prog = derivation.trace, derivation.forward
    grads = trace.names
    avoid = set(prog.ranks) | set(grads.values()) | {u for u in derivation.upstream.values() if isinstance(u, str)}
    statement_of = {st.name: n for n, st in enumerate(prog.statements)}
    every: dict = {}
    for sent in trace.sent:
        every.setdefault(sent.name, []).append(sent)
    records = dict(trace.gradients)
    records.update(_renamed_records(trace, prog, derivation.upstream, statement_of, records, every))
    values = {name: [prog.statements[statement_of[v]] for v in g.reused]  # what each printout
              for name, g in records.items()}                             # reads again

    def whole(name):
        return len(every.get(name, [])) == 1 and (name not in records or records[name].seed is None)

    def total_lines(name):
        g = records[name]
        lines = [] if whole(name) else _total(g, [s for s in every.get(name, []) if s.contribution != 0],
                                               prog, grads, avoid, trace.supply)
        return lines + _tidied(g, avoid, grads, values[name], prog, trace.supply)

    pre = {}  # README "Recurrences": dz, the gradient of z in h = tanh(z)
    for sent in trace.sent:
        if getattr(sent, "of", ""):
            pre.setdefault(str(sent.dy.base.label), (sent.of, prog.statements[sent.statement]))
    sections = []
    for n in reversed(range(len(prog.statements))):
        st = prog.statements[n]
        sec = Section(st)
        if st.name in derivation.upstream:
            up = derivation.upstream[st.name]
            sec.seed = (f"{st.name} is the loss: ∂{st.name}/∂{st.name} = 1" if up == 1 else
                        f"{text_of(element(up, st.indices))} is the upstream gradient")
        if st.name in records and not whole(st.name):
            sec.total = total_lines(st.name)
        for dz, (z, at) in pre.items():  # dz = (the whole gradient of h)*f'(z), then tidied
            if at is st and dz in records:
                sec.blocks.append(_preactivation(st, z, dz, records[dz], grads, avoid, values.get(dz, []),
                                                 prog, trace.supply))
        sents = [s for s in trace.sent if s.statement == n]
        if not sents and not sec.seed and not sec.total and not sec.blocks:
            continue
        for sent in sents:
            lines = _block(sent, prog, grads, whole(sent.name), avoid, trace.supply)
            if sent.name in records and whole(sent.name):
                lines += _copied(lines[-1].rhs, records[sent.name], records, avoid, prog, trace.supply)
                lines += _tidied(records[sent.name], avoid, grads, values[sent.name], prog, trace.supply)
            if sent.name not in statement_of and sent is every[sent.name][-1] and not whole(sent.name):
                lines += total_lines(sent.name)  # an input: its gradient is complete
            sec.blocks.append(lines)
        sections.append(sec)
    printed = [st.name for st in derivation.statements]
    notes = []
    for name, g in records.items():
        if g.tidied is None:
            readers = sorted({grads[x] for x, r in records.items() if name in r.inlined})
            notes.append(f"{g.gradient} is element-wise and read once: the backward program substitutes it "
                         f"into {' and '.join(readers) or 'its reader'} and simplifies")
    for dz, (z, st) in pre.items():
        notes.append(f"{dz} is the gradient of {z}, the argument of the function on line {st.line} "
                     f"({st.name} = f({z})): the whole gradient of {st.name} times f'({z})")
    temporaries = [n for n in printed if n not in set(grads.values()) and n not in pre]
    if temporaries:
        notes.append(f"{', '.join(temporaries)}: subexpressions the backward program computes once")
    return Steps(derivation, sections, grads, notes, guard)
