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

from dataclasses import dataclass, field

import sympy as sp
from sympy import KroneckerDelta
from sympy.printing.precedence import PRECEDENCE

from indexcalc.calculus.differentiate import SWEEP, Sent
from indexcalc.calculus.names import NameSupply, stem
from indexcalc.emit.latex import IndexLatexPrinter
from indexcalc.emit.text import TextPrinter, statement_text, written
from indexcalc.language.algebra import Index, ISum, free_indices, tensor_names
from indexcalc.simplify.tidy import alpha, letters_from, reuse_forward

__all__ = ["Steps", "steps_of"]


# -- what the steps hold --------------------------------------------------------------
class Partial(sp.Expr):
    """``∂Y[..]/∂X[..]`` as a factor of a formula (printed, never computed with)."""

    def __new__(cls, of, by):
        return sp.Expr.__new__(cls, of, by)


@dataclass
class Line:
    """One line of a block: ``lhs op rhs`` (``lhs`` None: ``= rhs``, continuing the
    block), with a note in words or a formula (``note_expr``, for the LaTeX)."""
    rhs: sp.Expr
    lhs: sp.Expr | None = None
    op: str = "="
    note: str = ""
    note_latex: str = ""
    values: list = field(default_factory=list)  # the forward statements a reuse put back


@dataclass
class Section:
    """The steps of one forward statement: its text, what it sends each name it reads."""
    statement: object
    seed: str = ""                      # "dy[i] is the upstream gradient", "L is the loss"
    total: list = field(default_factory=list)   # [Line]: its gradient, complete
    blocks: list = field(default_factory=list)  # [[Line]]: one per name it reads


class Steps:
    """The steps of a derivation (:meth:`indexcalc.derivation.Derivative.steps`):
    ``str()`` is text, :meth:`latex` LaTeX (one ``aligned`` block that KaTeX renders),
    and Jupyter shows them as Markdown with formulas (``_repr_markdown_``: a line naming
    each statement, its steps as display math; Markdown rather than one LaTeX block,
    which front ends such as nbconvert would prefer if it were offered).

    Attributes: ``sections``, one per statement the sweep visits, last first; ``notes``,
    what the printout does beyond the sweep (a gradient substituted into its reader,
    temporaries); ``final``, the backward program's text (``str(d)``); ``derivation``."""

    def __init__(self, derivation, sections, names, notes=()):
        self.derivation, self.sections, self.names = derivation, sections, names
        self.notes = list(notes)
        self.final = str(derivation)

    # -- text
    def __str__(self) -> str:
        out = []
        with written(*self._numbers()):
            for sec in self.sections:
                out.append(f"line {sec.statement.line}: {_statement(sec.statement)}")
                if sec.seed:
                    out.append(f"  {sec.seed}")
                for block in self._blocks(sec):
                    out += _text_block(block)
                out.append("")
        out += self.notes + ([""] if self.notes else [])
        return "\n".join(out + ["backward program:", self.final])

    def __repr__(self) -> str:
        return f"<Steps\n{self}\n>"

    # -- LaTeX
    def latex(self) -> str:
        """One ``aligned`` block: for each statement a line naming it, then its steps
        (notes in a third column); the backward program (``d.latex()``) last."""
        naming = self._naming()
        rows = []
        with written(*self._numbers()):
            for sec in self.sections:
                rows.append(f"&\\text{{line {sec.statement.line}:}}\\quad {self._latex_statement(sec, naming)}")
                rows += self._latex_rows(sec, naming)
        rows += [f"&\\text{{{_tex_escape(note)}}}" for note in self.notes]
        rows.append("&\\text{backward program:}")
        rows += self._latex_final()
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def _repr_markdown_(self):
        """A heading line per statement, its steps as display math, the program last."""
        naming = self._naming()
        parts = []
        with written(*self._numbers()):
            for sec in self.sections:
                parts.append(f"**line {sec.statement.line}** &nbsp; ${self._latex_statement(sec, naming)}$")
                rows = self._latex_rows(sec, naming)
                if rows:
                    parts.append(_display(rows))
        parts += [self._md_note(note) for note in self.notes]
        parts += ["**backward program**", _display(self._latex_final())]
        return "\n\n".join(parts)

    # -- helpers
    def _md_note(self, note: str) -> str:
        """A note in Markdown: the names it mentions as code."""
        names = set(self.names.values()) | {st.name for st in self.derivation.statements}

        def word(w):
            bare = w.rstrip(",:;.")
            return f"`{bare}`{w[len(bare):]}" if bare in names else _md_escape(w)
        return " ".join(word(w) for w in note.split(" "))

    def _numbers(self):
        return [st.expr for st in self.derivation.forward.statements]

    def _blocks(self, sec):
        return ([sec.total] if sec.total else []) + sec.blocks

    def _naming(self):
        """The LaTeX names of the derivation's printout, every gradient of the steps a
        bar (None where the LaTeX printer names plainly)."""
        try:
            from indexcalc.emit.latex_names import Naming
        except ImportError:
            return None
        d = self.derivation
        loss = next((y for y, u in d.upstream.items() if not isinstance(u, str)), None)
        given = {u: y for y, u in d.upstream.items() if isinstance(u, str)}
        gradients = {g: x for x, g in self.names.items()}
        names = set(d.program.ranks) | set(d.forward.ranks)
        ranks = {**d.program.ranks, **{g: d.forward.ranks.get(x, 0) for g, x in gradients.items()}}
        try:
            return Naming(names, gradients, None, ranks, loss, d.forward.inputs, given)
        except TypeError:
            return None

    def _printer(self, naming, left=()):
        printer = _LatexPrinter(naming) if naming is not None else _LatexPrinter()
        printer.left = list(left)
        return printer

    def _latex_statement(self, sec, naming) -> str:
        st = sec.statement
        p = self._printer(naming, st.indices)
        out = f"{p.doprint(st.lhs)} = {p.doprint(st.expr)}"
        up = self.derivation.upstream.get(st.name)
        if sec.seed and isinstance(up, str):
            out += f"\\qquad \\text{{(given: }} {p.doprint(_el(up, st.indices))}\\text{{)}}"
        elif sec.seed:
            out += f"\\qquad \\text{{(the loss: }} \\partial {p.doprint(st.lhs)} / \\partial {p.doprint(st.lhs)} = 1\\text{{)}}"
        return out

    def _latex_rows(self, sec, naming) -> list:
        rows = []
        for block in self._blocks(sec):
            for line in block:
                left = list(getattr(line.lhs, "indices", ()) or ())
                p = self._printer(naming, left)
                lhs = p.doprint(line.lhs) if line.lhs is not None else ""
                op = {"+=": "\\mathrel{+}=", "→": "\\to"}.get(line.op, "=")
                note = line.note_latex or (f"\\text{{{_tex_escape(line.note)}}}" if line.note else "")
                if line.note and not line.note_latex and line.note.startswith("forward value"):
                    note = "\\text{forward value } " + ",\\ ".join(
                        self._latex_statement(Section(st), naming) for st in line.values)
                rows.append(f"{lhs} &{op} {p.doprint(line.rhs)}" + (f" && {note}" if note else ""))
        return rows

    def _latex_final(self) -> list:
        inner = self.derivation.latex()
        body = inner.split("\\begin{aligned}\n", 1)[-1].rsplit("\n\\end{aligned}", 1)[0]
        return [row.rstrip().removesuffix("\\\\").rstrip() for row in body.split("\n")]


def _display(rows) -> str:
    return "$$\n\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}\n$$"


def _tex_escape(text: str) -> str:
    out = text.replace("\\", "\\backslash ").replace("_", "\\_").replace("#", "\\#").replace("&", "\\&")
    return out.replace("{", "\\{").replace("}", "\\}").replace("^", "\\^{}").replace("%", "\\%")


def _md_escape(text: str) -> str:
    return text.replace("*", "\\*").replace("_", "\\_")


def _statement(st) -> str:
    """A forward statement as its program wrote it (spaces normalised)."""
    return " ".join(st.text.split()) if getattr(st, "text", "") else statement_text(st)


# -- printing -------------------------------------------------------------------------
class _TextPrinter(TextPrinter):
    """The language's printer with every sum written ``Σ_{i,j}``, deltas ``δ(i,j)``."""

    def __init__(self, protected=()):
        super().__init__(protected, explicit=True)

    def _print_ISum(self, e):
        idx = ",".join(map(str, e.indices))
        sub = idx if len(e.indices) == 1 else "{" + idx + "}"
        top = self.depth == 1
        body = self._print(e.body)
        if isinstance(e.body, sp.Add) or (isinstance(e.body, sp.Mul) and not top):
            body = f"({body})"
        else:
            body = " " + body
        return f"Σ_{sub}{body}"

    def _print_KroneckerDelta(self, e):
        return f"δ({e.args[0]},{e.args[1]})"

    def _print_Partial(self, e):
        return f"∂{self._print(e.args[0])}/∂{self._print(e.args[1])}"

    def _print_Mul(self, e):
        rest, partials = _split_partials(e)
        if not partials:
            return super()._print_Mul(e)
        return "*".join(([self._print(rest)] if rest != 1 else []) + [self._print(p) for p in partials])


class _LatexPrinter(IndexLatexPrinter):
    def doprint(self, expr, *args, **kwargs):
        return super().doprint(_shown(expr), *args, **kwargs)

    def _print_Pow(self, e, *args, **kwargs):
        if isinstance(e.base, ISum):  # (Σ_k x_k)^2, not Σ_k x_k^2
            return f"\\left({self._print(e.base)}\\right)^{{{self._print(e.exp)}}}"
        return super()._print_Pow(e, *args, **kwargs)

    def _print_Partial(self, e, exp=None):
        return f"\\frac{{\\partial {self._print(e.args[0])}}}{{\\partial {self._print(e.args[1])}}}"

    def _print_Mul(self, e):
        rest, partials = _split_partials(e)
        if not partials:
            return super()._print_Mul(e)
        return " ".join(([self._print(rest)] if rest != 1 else []) + [self._print(p) for p in partials])


def _split_partials(e):
    """A product as (its other factors, its ``Partial`` factors): ``dY ∂Y/∂X`` in that order."""
    if not isinstance(e, sp.Mul):
        return e, []
    partials = [f for f in e.args if isinstance(f, Partial)]
    return sp.Mul(*[f for f in e.args if not isinstance(f, Partial)]), partials


def _text(e, left=()) -> str:
    return _TextPrinter(left).doprint(_shown(e))


def _shown(e):
    """``e`` as the steps show it: a sum of a negative body as minus the sum."""
    if not isinstance(e, sp.Basic):
        return e
    return e.replace(lambda x: isinstance(x, ISum) and x.body.could_extract_minus_sign(),
                     lambda x: -ISum(-x.body, x.indices))


def _text_block(block) -> list:
    rows = []
    for line in block:
        left = list(getattr(line.lhs, "indices", ()) or ())
        if line.lhs is None:
            head = f"    = {_text(line.rhs)}"
        else:
            head = f"  {_text(line.lhs, left)} {line.op} {_text(line.rhs, left)}"
        rows.append((head, line.note))
    width = max((len(h) for h, n in rows if n and len(h) <= 72), default=0)
    return [f"{h.ljust(width)}    {n}".rstrip() if n else h for h, n in rows]


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
    name_el = _el(sent.name, sent.targets)
    y_el = _el(st.name, sent.left)
    grad = names(_el(gradient, sent.targets))
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
    elif _text(names(final)) != _text(names(start)):
        shown.append(Line(final, None, "="))
    for line in shown:
        line.rhs = names(line.rhs)
    lines += shown
    reused = reuse_forward(final, prog)
    values = [s for s in prog.statements if s.name in tensor_names(reused) - tensor_names(final)]
    if values:
        note = "forward value" + ("s " if len(values) > 1 else " ") + "; ".join(_statement(s) for s in values)
        lines.append(Line(_Names(dict(zip(sent.targets, sent.canon)), avoid)(reused), None, "=", note,
                          values=values))
    return lines


def _el(name, indices):
    return sp.IndexedBase(name)[tuple(indices)] if indices else sp.Symbol(name)


def _isum(body, indices):
    return ISum(body, tuple(indices)) if indices else body


def steps_of(derivation) -> Steps:
    """Run ``derivation`` again with the sweep traced, and read its steps off the trace."""
    from indexcalc.derivation import Derivative, tidy  # (the public surface: no cycle)
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
                        f"{_text(_el(up, st.indices))} is the upstream gradient")
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
            sec.total = [Line(tidied, _el(grads[st.name], idx), "=",
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


# keep PRECEDENCE referenced for printers that parenthesize a Partial like an atom
Partial.precedence = PRECEDENCE["Atom"]
