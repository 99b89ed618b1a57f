r"""LaTeX of statements: explicit sums, indices as subscripts, deltas as :math:`\delta`.

    >>> import indexcalc as ic
    >>> print(ic.derive("Y[i,j] = X[i,k]*W[k,j]", wrt="X").latex())
    \begin{aligned}
    {dX}_{ik} &= \sum_{j} {dY}_{ij} {W}_{kj}
    \end{aligned}
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter

from indexcalc.language.algebra import ISum, free_indices
from indexcalc.emit.text import chain_order, is_negative

_OPERATORS = {"relu": "relu", "step": "step", "sigmoid": "\\sigma", "softplus": "softplus",
              "tanh": "\\tanh", "sin": "\\sin", "cos": "\\cos", "tan": "\\tan", "atan": "\\arctan",
              "sinh": "\\sinh", "cosh": "\\cosh", "erf": "erf", "log1p": "log1p", "expm1": "expm1",
              "sign": "sign"}
#: reductions other than sums: max[i](..) prints as \max_{i} ...
_REDUCTIONS = {"MaxOver": "\\max", "MinOver": "\\min", "LogSumExp": "\\operatorname{logsumexp}"}


def _subscript(indices) -> str:
    names = [str(i) for i in indices]
    return "{" + ("".join(names) if all(len(n) == 1 for n in names) else ",".join(names)) + "}"


class IndexLatexPrinter(LatexPrinter):
    """SymPy's LaTeX printer for indexcalc expressions."""

    printmethod = "_indexcalc_latex"

    def __init__(self):
        super().__init__({"mul_symbol": None, "order": "none"})
        self.left = []

    def _print_Mul(self, e):
        if not isinstance(e, sp.Mul):  # SymPy prints 1/x as a product: x^-1 is not one of factors
            return super()._print_Mul(e)
        return super()._print_Mul(sp.Mul._from_args(chain_order(e.args, self.left)))

    def _print_Pi(self, e):
        return "\\pi"

    def _print_Exp1(self, e):
        return "e"

    def _print_Add(self, e, order=None):
        terms = sorted(e.args, key=lambda t: (is_negative(t), not free_indices(t)))
        return super()._print_Add(sp.Add._from_args(terms), order)

    def _print_Indexed(self, e):
        return f"{{{self._print(sp.Symbol(str(e.base.label)))}}}_{_subscript(e.indices)}"

    def _print_ISum(self, e):
        if is_negative(e.body) and not is_negative(-e.body):
            return "-" + self._print_ISum(ISum(-e.body, e.indices))
        body = self._print(e.body)
        if isinstance(e.body, sp.Add):
            body = f"\\left({body}\\right)"
        return f"\\sum_{_subscript(e.indices)} {body}"

    def _print_KroneckerDelta(self, e, exp=None):
        return f"\\delta_{_subscript(e.args)}"

    def _print_Len(self, e, exp=None):
        return f"N_{{{e.args[0]}}}" + (f"^{{{exp}}}" if exp else "")

    def _print_Size(self, e, exp=None):
        name = self._print(sp.Symbol(e.tensor))
        out = f"\\operatorname{{size}}\\left({name}, {e.axis}\\right)"
        return f"{out}^{{{exp}}}" if exp else out

    def _print_Inv(self, e, exp=None):
        out = f"\\left({self._print(sp.Symbol(str(e.args[0].label)))}^{{-1}}\\right)_{_subscript(e.args[1:])}"
        return f"{{{out}}}^{{{exp}}}" if exp else out

    def _print_Det(self, e, exp=None):
        return f"\\det {self._print(sp.Symbol(str(e.args[0].label)))}"

    def _print_LogDet(self, e, exp=None):
        return f"\\log\\left|\\det {self._print(sp.Symbol(str(e.args[0].label)))}\\right|"

    def _print_Max2(self, e, exp=None):
        return f"\\max\\left({self._print(e.args[0])}, {self._print(e.args[1])}\\right)"

    def _print_Min2(self, e, exp=None):
        return f"\\min\\left({self._print(e.args[0])}, {self._print(e.args[1])}\\right)"

    def _reduction(self, e, exp=None):
        out = f"{_REDUCTIONS[type(e).__name__]}_{_subscript(e.indices)} \\left({self._print(e.body)}\\right)"
        return f"{{{out}}}^{{{exp}}}" if exp else out

    _print_MaxOver = _print_MinOver = _print_LogSumExp = _reduction

    def _print_Function(self, e, exp=None):
        name = type(e).__name__
        if name in _OPERATORS:
            op = _OPERATORS[name]
            op = op if op.startswith("\\") else f"\\operatorname{{{op}}}"
            out = f"{op}\\left({self._print(e.args[0])}\\right)"
            return f"{out}^{{{exp}}}" if exp else out
        return super()._print_Function(e, exp)


def statements_latex(statements) -> str:
    """An ``aligned`` block, one statement a line."""
    printer = IndexLatexPrinter()
    lines = []
    for st in statements:
        printer.left = list(st.indices)
        lhs = printer._print(st.lhs)
        lines.append(f"{lhs} &= {printer.doprint(st.expr)}")
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def program_latex(prog) -> str:
    return statements_latex(prog.statements)


