r"""The LaTeX printer of expressions (README "The language" (printouts)): SymPy's
``LatexPrinter`` with indexcalc's conventions, explicit sums with their summed indices
(``\sum_{j}``, a stated size as a bound ``\sum_{k < 2}``), indices as subscripts (an axis
expression without spaces: ``x_{i+k}``), deltas as :math:`\delta`, reductions as
``\max_{i}``, ``len(i)`` as the display name of its size, element-wise functions by the
operator table of :mod:`indexcalc.notation.latex_names`, and numbers as the program wrote
them. :mod:`indexcalc.notation.latex` prints statements and derivations with it.

    >>> import sympy as sp
    >>> from indexcalc.language.algebra import Index, ISum
    >>> from indexcalc.notation.latex_names import Naming
    >>> i, j = Index("i"), Index("j")
    >>> x = sp.IndexedBase("x")
    >>> IndexLatexPrinter(Naming({"x"}), left=[i]).doprint(ISum(x[i, j]**2, (j,)) / 2)
    '\\frac{\\sum_{j} x_{ij}^{2}}{2}'
    >>> number_latex("1e-05"), number_latex("1.5*0.044715")
    ('10^{-5}', '1.5 \\cdot 0.044715')

Names reach the printer through SymPy's ``symbol_names`` setting and a
:class:`~indexcalc.notation.latex_names.Naming` (setting ``naming``).
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

from indexcalc.language.functions import BY_CLASS
from indexcalc.notation.latex_names import Naming, function_latex, index_latex, subscript
from indexcalc.notation.text import _coefficient, chain_order, is_negative
from indexcalc.language.algebra import Index, ISum, Len, Reduction, free_indices
from indexcalc.language.axes import coefficients

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
