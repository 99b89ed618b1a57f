r"""LaTeX of statements (README "The language" (printouts)): explicit sums, indices as subscripts, deltas as
:math:`\delta`, names by the convention of :mod:`indexcalc.notation.latex_names` (``W1`` →
``W_{1}``, ``gamma`` → ``\gamma``, ``var`` → ``\mathrm{var}``, ``t1[b]`` → ``(t_{1})_{b}``),
gradients as ``\bar{x}`` (``\frac{\partial L}{\partial x}`` on the left of their
statement), Jacobians as ``\frac{\partial Y_{ij}}{\partial W_{kl}}``, ``len(i)`` as ``N_{i}``,
constants as the program wrote them; a last line says what a bar and ``N_{i}`` stand for.

    >>> import indexcalc as ic
    >>> print(ic.derive("Y[i,j] = X[i,k]*W[k,j]", wrt="X").latex())
    \begin{aligned}
    \bar{X}_{ik} &= \sum_{j} \bar{Y}_{ij} W_{kj} \\
    &\text{where } \bar{v} = \partial \ell / \partial v \text{ for a scalar } \ell \text{ of } Y \text{ (}\bar{Y}\text{ given)}
    \end{aligned}

The printer of expressions is :class:`~indexcalc.notation.latex_printer.IndexLatexPrinter`
(SymPy's ``LatexPrinter`` with these conventions); this module prints statements with it,
a line each, and :func:`expr_latex` one expression (for steps and notebooks).
"""

from __future__ import annotations

import functools

from indexcalc.notation.latex_names import Naming, index_latex
from indexcalc.notation.latex_printer import IndexLatexPrinter
from indexcalc.notation.text import written
from indexcalc.language.algebra import Index, tensor_names
from indexcalc.language.windows import state_sum_sizes, windowed
from indexcalc.notation.sized import sized, stated_sums, window_size


# --- printouts ------------------------------------------------------------------------------
def expr_latex(expr, naming: Naming | None = None, left=()) -> str:
    """One expression in LaTeX by ``naming`` (default: the plain convention for its
    names); ``left``: the indices of the left side (products follow their chain)."""
    if naming is None:
        naming = Naming(tensor_names(expr))
    return IndexLatexPrinter(naming, left).doprint(expr)


def statements_latex(statements, naming: Naming | None = None, display=False, program=None,
                     notes=False, taken=()) -> str:
    """An ``aligned`` block, one statement a line.

    Parameters:
        naming: the names (default: the naming in effect, see
            :func:`~indexcalc.notation.latex_names.using`, else the plain one).
        display: left sides in display form (a gradient of the loss as ∂L/∂x).
        program: the checked program whose last statements these are (``len(i)`` of
            different sizes then print apart: ``N_{i}``, ``N'_{i}``).
        notes: end with a line saying what a bar and ``N_{i}`` stand for.
        taken: more indices (their LaTeX) that the note's placeholder must not be (those
            of steps printed above).
    """
    from indexcalc.notation.latex_names import current
    statements = list(statements)
    if naming is None:
        naming = current() or Naming({st.name for st in statements}
                                     | set().union(*[tensor_names(st.expr) for st in statements]))
    printer = IndexLatexPrinter(naming)
    sizes = _SizeNumbers(program, len(program.statements) - len(statements)) if program is not None else None
    lines = []
    for k, st in enumerate(statements):
        printer.left = list(st.indices)
        if sizes is not None:
            printer.size_of = sizes.at(k, st.name)
        indices = [index_latex(str(i)) for i in st.indices]
        lhs = (naming.display if display else naming.indexed)(st.name, indices)
        expr = st.expr
        if program is not None:  # a window's size in its max: \max_{k < 2}
            size = functools.partial(window_size, program, len(program.statements) - len(statements) + k)
            expr = sized(expr, size)
            if not windowed(expr):  # sum[x:size(A,0)](delta(x,c)): only the statement sizes x
                expr = state_sum_sizes(expr, size, unsized=True)
            expr = stated_sums(expr, program, st)  # sum[k:3](x[k]): \sum_{k < 3}
        stated = [(i, n) for i, n in zip(st.indices, getattr(st, "sizes", ()) or ()) if n is not None]
        where = ""
        if stated:  # y[i:size(x,0)] = x[i+k-1]*w[k]: the range of i, which nothing else gives
            where = "\\qquad " + ",\\ ".join(f"{index_latex(str(i))} < {printer.doprint(n)}" for i, n in stated)
        lines.append(f"{lhs} &= {printer.doprint(expr)}{where}")
    if notes:
        taken = set(taken) | {index_latex(str(i)) for st in statements for i in (*st.indices, *st.expr.atoms(Index))}
        lines += _notes(naming, printer.sized, taken)
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def _notes(naming, sized, taken=()) -> list:
    """The "where" lines: what a bar stands for (its placeholder none of ``taken``, the
    indices printed, nor a name), and each ``N_{i}``."""
    out = []
    bar = naming.bar_note(taken)
    if bar:
        out.append(bar)
    if sized and naming.sizes_as_n:
        out.append(", ".join(f"{naming.size(i, k)} = \\operatorname{{len}}({index_latex(i)})"
                             for i, k in sized))
    if not out:
        return []
    return ["&\\text{where } " + out[0]] + [f"&\\phantom{{\\text{{where }}}} {o}" for o in out[1:]]


class _SizeNumbers:
    """``len(i)`` of the statement ``k`` → ``k``-th distinct size named after ``i``."""

    def __init__(self, program, n0):
        self.program, self.n0, self.roots = program, n0, {}

    def at(self, k, lhs):
        def size_of(index):
            root = self.program.sizes.find((self.n0 + k, Index(index)))
            same = self.roots.setdefault(index, [])
            if root not in same:
                same.append(root)
            return same.index(root) + 1
        return size_of


def naming_of(backward) -> Naming:
    """The naming of a derivation's printout (a Derivative, a Jacobian or a Hessian)."""
    forward = backward.forward
    scalar = len(forward.outputs) == 1 and forward.rank(forward.outputs[0]) == 0
    loss = forward.outputs[0] if scalar else None  # (derivation.loss_of: emit reads no later stage)
    names = set(backward.program.ranks)
    # {dX: X} as the derivation named them (a Hessian's: those of the gradient program
    # whose statements it prints first), never read off the names
    gradients = dict(getattr(backward, "gradients", {}))
    given = {u: y for y, u in getattr(backward, "upstream", {}).items() if isinstance(u, str)}
    jacobians = dict(getattr(backward, "jacobians", {}))
    ranks = {**backward.program.ranks, **{g: forward.ranks.get(x, 0) for g, x in gradients.items()}}
    return Naming(names, gradients, jacobians, ranks, loss, forward.inputs, given)


def backward_latex(backward, taken=()) -> str:
    """``d.latex()``: the backward statements, gradients of the loss in display form on
    the left, and what the bars and sizes stand for (``taken``: as for
    :func:`statements_latex`)."""
    with written(*[st.expr for st in backward.forward.statements]):
        return statements_latex(backward.statements, naming_of(backward), display=True,
                                program=backward.program, notes=True, taken=taken)


def program_latex(prog) -> str:
    """``prog.latex()``: its statements, and what ``N_{i}`` stands for."""
    return statements_latex(prog.statements, Naming(prog.ranks), program=prog, notes=True)


def document_latex(block: str, comment: str = "") -> str:
    r"""An ``aligned`` block (what ``latex()`` returns, for KaTeX and Jupyter) as an
    ``align*`` environment that pastes into a LaTeX document as printed (README "Command
    line": it needs ``\usepackage{amsmath}``; long derivations break across pages with
    ``\allowdisplaybreaks``); ``comment`` becomes a ``%`` line above it.

        >>> print(document_latex("\\begin{aligned}\ny &= x\n\\end{aligned}", "forward program"))
        % forward program
        \begin{align*}
        y &= x
        \end{align*}
    """
    head, tail = "\\begin{aligned}", "\\end{aligned}"
    body = block.strip()
    if body.startswith(head) and body.endswith(tail):
        body = body[len(head):-len(tail)].strip("\n")
    return (f"% {comment}\n" if comment else "") + "\\begin{align*}\n" + body + "\n\\end{align*}"
