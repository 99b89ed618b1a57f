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

The printer is built on SymPy's ``LatexPrinter``; the names reach it through its
``symbol_names`` setting and a :class:`~indexcalc.notation.latex_names.Naming` (setting
``naming``). :func:`expr_latex` prints one expression (for steps and notebooks).
"""

from __future__ import annotations

import functools
import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

from indexcalc.language.functions import BY_CLASS
from indexcalc.notation.latex_names import Naming, function_latex, index_latex, subscript
from indexcalc.notation.text import _coefficient, chain_order, is_negative, written
from indexcalc.language.algebra import Index, ISum, Len, Reduction, free_indices, tensor_names
from indexcalc.language.axes import coefficients
from indexcalc.language.windows import state_sum_sizes, windowed
from indexcalc.notation.sized import sized, window_size

#: reductions other than sums: max[i](..) prints as \max_{i} ...
_REDUCTION_COMMANDS = {"MaxOver": "\\max", "MinOver": "\\min", "LogSumExp": "\\operatorname{logsumexp}"}
_SCIENTIFIC = re.compile(r"(\d+(?:\.\d+)?)e([+-]?)0*(\d+)")


def number_latex(text: str) -> str:
    """A number as indexcalc writes it (``0.5``, ``1e-05``, ``1.5*0.044715``) in LaTeX
    (``0.5``, ``10^{-5}``, ``1.5 \\cdot 0.044715``)."""
    def power(m):
        mantissa, sign, exponent = m.groups()
        ten = f"10^{{{'-' if sign == '-' else ''}{exponent}}}"
        return ten if mantissa == "1" else f"{mantissa} \\cdot {ten}"
    return " \\cdot ".join(_SCIENTIFIC.sub(power, part) for part in text.split("*"))


def _is_size(f, indices) -> bool:
    """Is ``f`` a power of ``len(i)`` (constant over a sum over ``i``)?"""
    base = f.base if f.is_Pow else f
    return isinstance(base, Len) and (not f.is_Pow or f.exp.is_number)


def _parens(tex: str) -> str:
    """``(tex)``; ``\\left(tex\\right)`` around a tall one (a fraction, a sum, a root)."""
    tall = any(c in tex for c in ("\\frac", "\\sum", "\\sqrt", "\\max_", "\\min_", "\\left"))
    return f"\\left({tex}\\right)" if tall else f"({tex})"


class IndexLatexPrinter(LatexPrinter):
    """SymPy's LaTeX printer for indexcalc expressions.

    Settings besides SymPy's: ``naming`` (a :class:`Naming`; names print by it, the
    plain names also through ``symbol_names``), ``sizes`` (``len(i)`` → the display name
    of its size, see :meth:`size_of`)."""

    printmethod = "_indexcalc_latex"
    _default_settings = {**LatexPrinter._default_settings, "naming": None}

    def __init__(self, naming: Naming | None = None, left=()):
        naming = naming or Naming()
        bars = naming.bars  # (listing the names marks no bar as printed)
        symbols = {sp.Symbol(n): naming.symbol(n) for n in naming.parsed}
        naming.bars = bars
        super().__init__({"mul_symbol": None, "order": "none", "naming": naming, "symbol_names": symbols})
        self.naming = naming
        self.left = list(left)
        self.size_of = None  # len(i) -> (index name, k): set by statements_latex
        self.sized: dict = {}  # (index, k) used

    # --- names --------------------------------------------------------------------------------
    def _print_Symbol(self, e, style="plain"):
        if isinstance(e, Index):
            return index_latex(e.name)
        return self.naming.symbol(e.name)

    def _print_Indexed(self, e):
        return self.naming.indexed(str(e.base.label), [self._slot(i) for i in e.indices])

    def _slot(self, i) -> str:
        """One index slot: an index, or an axis expression written without spaces and
        without ``*``, as subscripts are (``x_{i+k}``, ``x_{2i+k-1}``)."""
        if isinstance(i, Index) or not i.free_symbols or i.has(sp.Indexed):
            return self._print(i)  # an index, a number, a gather (\mathrm{tok}_{n})
        const, coeffs = coefficients(i)
        terms = [(c, index_latex(str(j))) for j, c in coeffs.items()]
        terms.sort(key=lambda t: t[0] < 0)  # positive first, as the language writes it
        out = ""
        for c, name in terms:
            out += ("-" if c < 0 else "+" if out else "") + (name if abs(c) == 1 else f"{abs(c)}{name}")
        return out + (f"{const:+d}" if const else "")

    def _name(self, base) -> str:
        return self.naming.symbol(str(getattr(base, "label", base)))

    def _print_Pow(self, e):
        if isinstance(e.base, (ISum, Reduction)) \
                and not (e.exp.is_negative or e.exp == sp.Rational(1, 2)):
            return f"\\left({self._print(e.base)}\\right)^{{{self._print(e.exp)}}}"  # (Σ_i x_i)^2
        if isinstance(e.base, (sp.Indexed, sp.Symbol)) and not isinstance(e.base, Index):
            base = self._print(e.base)
            if base.startswith("\\frac") and not (e.exp.is_Rational and e.exp.is_negative):
                return f"\\left({base}\\right)^{{{self._print(e.exp)}}}"
        return super()._print_Pow(e)

    # --- numbers ------------------------------------------------------------------------------
    def _print_Rational(self, e):
        text = _coefficient(abs(e))
        if "/" in text:
            p, q = text.split("/")
            out = f"\\frac{{{p}}}{{{q}}}"
        else:
            out = number_latex(text)
        return ("- " if e < 0 else "") + out

    def _print_Pi(self, e):
        return "\\pi"

    def _print_Exp1(self, e):
        return self.naming.euler

    def _print_ExpBase(self, e, exp=None):
        return self._do_exponent(f"{self.naming.euler}^{{{self._print(e.args[0])}}}", exp)

    # --- products and sums --------------------------------------------------------------------
    def _print_Mul(self, e):
        if not isinstance(e, sp.Mul):  # SymPy prints 1/x as a product: x^-1 is not one of factors
            return super()._print_Mul(e)
        jacobians = [f for f in e.args if self._is_fraction(f)]
        if jacobians and any(f.is_Pow and f.exp.is_negative for f in e.args):
            # 2/N_i times ∂μ/∂x: not a fraction inside a fraction's numerator
            rest = sp.Mul(*[f for f in e.args if f not in jacobians])
            front = self._print(rest)
            if isinstance(rest, sp.Add):
                front = f"\\left({front}\\right)"
            back = " ".join(self._print(f) for f in jacobians)
            return back if rest == 1 else f"- {back}" if rest == -1 else f"{front} {back}"
        c, rest = e.as_coeff_Mul()
        if c.is_Rational and not c.is_Integer and rest != 1:
            text = _coefficient(abs(c))
            if "/" not in text:  # a decimal as written (0.5 x), not a fraction (x/2)
                body = self._print(rest)
                if isinstance(rest, sp.Add):
                    body = f"\\left({body}\\right)"
                return f"{'- ' if c < 0 else ''}{number_latex(text)} {body}"
        ordered = chain_order(e.args, self.left)
        ordered = [f for f in ordered if not isinstance(f, ISum)] + [f for f in ordered if isinstance(f, ISum)]
        return super()._print_Mul(sp.Mul._from_args(ordered))

    def _needs_mul_brackets(self, expr, first=False, last=False) -> bool:
        # a sum that is not the last factor is parenthesized: (Σ_i x_i) b, not Σ_i x_i b
        if isinstance(expr, ISum) and not last:
            return True
        return super()._needs_mul_brackets(expr, first, last)

    def _is_fraction(self, f) -> bool:
        """Does ``f`` print as a fraction (a Jacobian ``∂Y/∂X``)?"""
        name = str(f.base.label) if isinstance(f, sp.Indexed) else f.name if isinstance(f, sp.Symbol) else None
        return name in self.naming.jacobians and not isinstance(f, Index)

    def _print_Add(self, e, order=None):
        terms = sorted(e.args, key=lambda t: (is_negative(t), not free_indices(t)))
        out = []
        for k, t in enumerate(terms):
            if k and is_negative(t):  # a - Σ_i x_i, not a + -Σ_i x_i
                out.append(" - " + self._print(ISum(-t.body, t.indices) if isinstance(t, ISum) else -t))
            else:
                out.append((" + " if k else "") + self._print(t))
        return "".join(out)

    def _subscript(self, indices) -> str:
        # a gather's read (delta(v, tok[n])) prints as a read: \mathrm{tok}_{n}
        return "{" + subscript(index_latex(str(i)) if isinstance(i, Index)
                               else self._print(i) if i.has(sp.Indexed) else self._slot(i)
                               for i in indices) + "}"

    def _print_ISum(self, e):
        if is_negative(e.body) and not is_negative(-e.body):
            return "-" + self._print_ISum(ISum(-e.body, e.indices, *e.args[2:]))
        summed = set(e.indices)
        factors = sp.Mul.make_args(e.body)
        outside = [f for f in factors if not free_indices(f) & summed or _is_size(f, summed)]
        if outside and len(outside) < len(factors):
            # what does not change with the summed indices goes in front: 1/N_i Σ_i x_bi
            inside = ISum(sp.Mul(*[f for f in factors if f not in outside]), e.indices, *e.args[2:])
            front = sp.Mul(*outside)
            tex = self._print(front)
            return f"\\left({tex}\\right) {self._print(inside)}" if isinstance(front, sp.Add) else \
                f"{tex} {self._print(inside)}"
        body = self._print(e.body)
        if isinstance(e.body, sp.Add):
            body = f"\\left({body}\\right)"
        if any(n is not None for n in e.sizes):  # a stated size as a bound: \sum_{k<2}
            bounds = [index_latex(str(i)) + (f" < {self._print(n)}" if n is not None else "")
                      for i, n in zip(e.indices, e.sizes)]
            return f"\\sum_{{{', '.join(bounds)}}} {body}"
        return f"\\sum_{self._subscript(e.indices)} {body}"

    def _print_KroneckerDelta(self, e, exp=None):
        return self._do_exponent(f"\\delta_{self._subscript(e.args)}", exp)

    # --- sizes and matrix functions -----------------------------------------------------------
    def _print_Len(self, e, exp=None):
        index = str(e.args[0])
        k = self.size_of(index) if self.size_of else 1
        self.sized[(index, k)] = True
        out = self.naming.size(index, k)
        return f"{{{out}}}^{{{exp}}}" if exp else out

    def _print_Size(self, e, exp=None):
        out = f"\\operatorname{{size}}\\left({self._name(e.tensor)}, {e.axis}\\right)"
        return f"{out}^{{{exp}}}" if exp else out

    def _print_Inv(self, e, exp=None):
        out = f"({self.naming.name(str(e.args[0].label)).tex()}^{{-1}})_{self._subscript(e.args[1:])}"
        return f"{{{out}}}^{{{exp}}}" if exp else out

    def _print_Det(self, e, exp=None):
        out = f"\\det {self._name(e.args[0])}"
        return f"\\left({out}\\right)^{{{exp}}}" if exp else out

    def _print_LogDet(self, e, exp=None):
        out = f"\\log\\left|\\det {self._name(e.args[0])}\\right|"
        return f"\\left({out}\\right)^{{{exp}}}" if exp else out

    def _print_Max2(self, e, exp=None):
        out = "\\max" + _parens(f"{self._print(e.args[0])}, {self._print(e.args[1])}")
        return f"{out}^{{{exp}}}" if exp else out

    def _print_Min2(self, e, exp=None):
        out = "\\min" + _parens(f"{self._print(e.args[0])}, {self._print(e.args[1])}")
        return f"{out}^{{{exp}}}" if exp else out

    def _reduction(self, e, exp=None):
        command = next(_REDUCTION_COMMANDS[c.__name__] for c in type(e).__mro__ if c.__name__ in _REDUCTION_COMMANDS)
        sizes = getattr(e, "sizes", ())  # a window's size (notation.sized): \max_{k < 2}
        if any(n is not None for n in sizes):
            sub = "{" + ", ".join(index_latex(str(i)) + (f" < {self._print(n)}" if n is not None else "")
                                  for i, n in zip(e.indices, sizes)) + "}"
        else:
            sub = self._subscript(e.indices)
        out = f"{command}_{sub} {_parens(self._print(e.body))}"
        return f"\\left({out}\\right)^{{{exp}}}" if exp else out

    _print_MaxOver = _print_MinOver = _print_LogSumExp = _reduction

    def _print_Function(self, e, exp=None):
        row = BY_CLASS.get(type(e))
        if row is not None and row.kind == "elementwise":  # one operator table (latex_names)
            op = function_latex(row.name)
            if op == "\\sigma" and self.naming.sigma_taken:
                op = "\\operatorname{sigmoid}"  # a name of the printout is sigma
            out = op + _parens(self._print(e.args[0]))
            return f"{out}^{{{exp}}}" if exp else out
        return super()._print_Function(e, exp)


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
