"""What the steps of a derivation hold (:class:`Line`, :class:`Section`) and how they print:
:class:`Steps` as text, LaTeX and Jupyter Markdown; :mod:`indexcalc.explain.steps` builds them
from a trace of the derivation.

    >>> import indexcalc as ic
    >>> s = ic.derive("y[i] = 2*x[i]").steps()
    >>> isinstance(s, Steps), s.final
    (True, 'dx[i] = 2*dy[i]')
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from indexcalc.notation.latex_printer import IndexLatexPrinter
from indexcalc.notation.sized import sized, stated_sums, window_size
from indexcalc.notation.text import TextPrinter, statement_text, written
from indexcalc.language.algebra import Index, ISum
from indexcalc.language.axes import axis_text, size_text


# -- what the steps hold --------------------------------------------------------------
class Partial(sp.Expr):
    """``∂Y[..]/∂X[..]`` as a factor of a formula (printed, never computed with)."""

    def __new__(cls, of, by):
        return sp.Expr.__new__(cls, of, by)


class Part(sp.Expr):
    """``(dX[i] from line 3)``: the part of a gradient that one statement sends it (the
    gradient is the sum of its parts)."""

    def __new__(cls, of, line):
        return sp.Expr.__new__(cls, of, sp.Integer(line))


@dataclass
class Line:
    """One line of a block: the equation ``lhs = rhs`` (``lhs`` None: ``= rhs``, the
    right side equal to that of the line before), with a note in words or a formula
    (``note_latex``, for the LaTeX). Both sides are SymPy expressions, which a test
    evaluates."""
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
    """The steps of a derivation (:meth:`indexcalc.derivation.results.Derivative.steps`):
    ``str()`` is text, :meth:`latex` LaTeX (one ``aligned`` block that KaTeX renders),
    and Jupyter shows them as Markdown with formulas (``_repr_markdown_``: a line naming
    each statement, its steps as display math; Markdown rather than one LaTeX block,
    which front ends such as nbconvert would prefer if it were offered).

    Attributes: ``sections``, one per statement the sweep visits, last first; ``notes``,
    what the printout does beyond the sweep (a gradient substituted into its reader,
    temporaries); ``final``, the backward program's text (``str(d)``); ``derivation``."""

    def __init__(self, derivation, sections, names, notes=(), guard=None, title="backward program"):
        self.derivation, self.sections, self.names = derivation, sections, names
        self.notes, self.title = list(notes), title  # (a JVP's: "tangent program")
        self.final = str(derivation)
        # the derivation's guard (a user error passes, any other failure is an InternalError)
        self._guard = guard or (lambda method: method)

    # -- text
    def __str__(self) -> str:
        return self._guard(self._text)()

    def _text(self) -> str:
        out = []
        with written(*self._numbers()):
            for sec in self.sections:
                out.append(f"line {sec.statement.line}: {one_line(sec.statement)}")
                if sec.seed:
                    out.append(f"  {sec.seed}")
                for block in self._blocks(sec):
                    out += _text_block(block)
                out.append("")
        out += self.notes + ([""] if self.notes else [])
        return "\n".join(out + [f"{self.title}:", self.final])

    def __repr__(self) -> str:
        return f"<Steps\n{self}\n>"

    # -- LaTeX
    def latex(self) -> str:
        """One ``aligned`` block: for each statement a line naming it, then its steps
        (notes in a third column); the backward program (``d.latex()``) last."""
        return self._guard(self._latex)()

    def _latex(self) -> str:
        naming = self._naming()
        rows = []
        with written(*self._numbers()):
            for sec in self.sections:
                rows.append(f"&\\text{{line {sec.statement.line}:}}\\quad {self._latex_statement(sec, naming)}")
                rows += self._latex_rows(sec, naming)
        rows += [f"&\\text{{{_tex_escape(note)}}}" for note in self.notes]
        rows.append(f"&\\text{{{self.title}:}}")
        rows += self._latex_final()
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def _repr_markdown_(self):
        """A heading line per statement, its steps as display math, the program last."""
        return self._guard(self._markdown)()

    def _markdown(self):
        naming = self._naming()
        parts = []
        with written(*self._numbers()):
            for sec in self.sections:
                parts.append(f"**line {sec.statement.line}** &nbsp; ${self._latex_statement(sec, naming)}$")
                rows = self._latex_rows(sec, naming)
                if rows:
                    parts.append(_display(rows))
        parts += [self._md_note(note) for note in self.notes]
        parts += [f"**{self.title}**", _display(self._latex_final())]
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
            from indexcalc.notation.latex_names import Naming
        except ImportError:
            return None
        d = self.derivation
        upstream = getattr(d, "upstream", {})  # (a JVP has none)
        loss = next((y for y, u in upstream.items() if not isinstance(u, str)), None)
        given = {u: y for y, u in upstream.items() if isinstance(u, str)}
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
        prog = self.derivation.forward
        n = next((k for k, s in enumerate(prog.statements) if s is st), None)
        expr = st.expr if n is None else sized(st.expr, lambda i: window_size(prog, n, i))  # \max_{k < 2}
        expr = expr if n is None else stated_sums(expr, prog, st)  # sum[k:3](x[k]): \sum_{k < 3}
        out = f"{p.doprint(st.lhs)} = {p.doprint(expr)}"
        up = getattr(self.derivation, "upstream", {}).get(st.name)
        if sec.seed and isinstance(up, str):
            out += f"\\qquad \\text{{(given: }} {p.doprint(element(up, st.indices))}\\text{{)}}"
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
                op = "="
                note = line.note_latex or (f"\\text{{{_tex_escape(line.note)}}}" if line.note else "")
                if line.note and not line.note_latex and line.note.startswith("forward value"):
                    note = "\\text{forward value } " + ",\\ ".join(
                        self._latex_statement(Section(st), naming) for st in line.values)
                rows.append(f"{lhs} &{op} {p.doprint(line.rhs)}" + (f" && {note}" if note else ""))
        return rows

    def _latex_final(self) -> list:
        """The backward program's LaTeX (``d.latex()``), its note's placeholder none of
        the indices the steps print."""
        from indexcalc.notation.latex import backward_latex
        from indexcalc.notation.latex_names import index_latex
        taken = set()
        for sec in self.sections:
            for e in [sec.statement.expr, *sec.statement.indices] + [x for block in self._blocks(sec)
                                                                    for line in block for x in (line.lhs, line.rhs)]:
                if isinstance(e, sp.Basic):
                    taken |= {index_latex(str(i)) for i in e.atoms(Index)}
        inner = backward_latex(self.derivation, taken)
        body = inner.split("\\begin{aligned}\n", 1)[-1].rsplit("\n\\end{aligned}", 1)[0]
        return [row.rstrip().removesuffix("\\\\").rstrip() for row in body.split("\n")]


def _display(rows) -> str:
    return "$$\n\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}\n$$"


def _tex_escape(text: str) -> str:
    out = text.replace("\\", "\\backslash ").replace("_", "\\_").replace("#", "\\#").replace("&", "\\&")
    return out.replace("{", "\\{").replace("}", "\\}").replace("^", "\\^{}").replace("%", "\\%")


def _md_escape(text: str) -> str:
    return text.replace("*", "\\*").replace("_", "\\_")


def one_line(st) -> str:
    """A forward statement as its program wrote it (spaces normalised)."""
    return " ".join(st.text.split()) if getattr(st, "text", "") else statement_text(st)


# -- printing -------------------------------------------------------------------------
class _TextPrinter(TextPrinter):
    """The language's printer with every sum written ``Σ_{i,j}``, deltas ``δ(i,j)``."""

    def __init__(self, protected=()):
        super().__init__(protected, explicit=True)

    def _print_ISum(self, e):
        # a window's stated size as a bound, as LaTeX writes it: Σ_{k<3} (k is 0, 1 or 2)
        idx = ",".join(str(i) + (f"<{size_text(n)}" if n is not None else "") for i, n in zip(e.indices, e.sizes))
        sub = idx if len(idx) == 1 else "{" + idx + "}"
        top = self.depth == 1
        body = self._print(e.body)
        if isinstance(e.body, sp.Add) or (isinstance(e.body, sp.Mul) and not top):
            body = f"({body})"
        else:
            body = " " + body
        return f"Σ_{sub}{body}"

    def _print_KroneckerDelta(self, e):
        if all(isinstance(a, Index) for a in e.args):
            return f"δ({e.args[0]},{e.args[1]})"
        return f"δ({axis_text(e.args[0])}, {axis_text(e.args[1])})"  # δ(j, i+k)

    def _print_Partial(self, e):
        return f"∂{self._print(e.args[0])}/∂{self._print(e.args[1])}"

    def _print_Part(self, e):
        return f"({self._print(e.args[0])} from line {e.args[1]})"

    def _print_Mul(self, e):
        return _with_partials(self, e, "*", super()._print_Mul)


class _LatexPrinter(IndexLatexPrinter):
    def doprint(self, expr, *args, **kwargs):
        return super().doprint(_shown(expr), *args, **kwargs)

    def _print_Pow(self, e, *args, **kwargs):
        if isinstance(e.base, ISum):  # (Σ_k x_k)^2, not Σ_k x_k^2
            return f"\\left({self._print(e.base)}\\right)^{{{self._print(e.exp)}}}"
        return super()._print_Pow(e, *args, **kwargs)

    def _print_Partial(self, e, exp=None):
        return f"\\frac{{\\partial {self._print(e.args[0])}}}{{\\partial {self._print(e.args[1])}}}"

    def _print_Part(self, e, exp=None):
        return f"\\left.{self._print(e.args[0])}\\right|_{{\\text{{line {e.args[1]}}}}}"

    def _print_Mul(self, e):
        return _with_partials(self, e, " ", super()._print_Mul)


def element(name, indices):
    return sp.IndexedBase(name)[tuple(indices)] if indices else sp.Symbol(name)


def _with_partials(printer, e, times, plain):
    """A product printed with its ``Partial`` factors last, joined by ``times``; ``plain``
    prints one without them."""
    rest, partials = _split_partials(e)
    if not partials:
        return plain(e)
    return times.join(([printer._print(rest)] if rest != 1 else []) + [printer._print(p) for p in partials])


def _split_partials(e):
    """A product as (its other factors, its ``Partial`` factors): ``dY ∂Y/∂X`` in that order."""
    if not isinstance(e, sp.Mul):
        return e, []
    partials = [f for f in e.args if isinstance(f, Partial)]
    return sp.Mul(*[f for f in e.args if not isinstance(f, Partial)]), partials


def text_of(e, left=()) -> str:
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
            head = f"    = {text_of(line.rhs)}"
        else:
            head = f"  {text_of(line.lhs, left)} {line.op} {text_of(line.rhs, left)}"
        rows.append((head, line.note))
    width = max((len(h) for h, n in rows if n and len(h) <= 72), default=0)
    return [f"{h.ljust(width)}    {n}".rstrip() if n else h for h, n in rows]

# keep PRECEDENCE referenced for printers that parenthesize a Partial like an atom
Partial.precedence = Part.precedence = PRECEDENCE["Atom"]
