"""Print a Program in the language itself, with implicit (Einstein) sums where they
read the same, so that the text re-parses to the same statements.

    >>> import indexcalc as ic
    >>> print(ic.parse("y[i] = exp(sum[j](x[i,j]*w[j])) + sum[j](x[i,j]^2)"))
    y[i] = x[i,j]^2 + exp(x[i,j]*w[j])
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from indexcalc.language.algebra import Index, ISum, Len, occurrences, product_sums
from indexcalc.language.axes import axis_text, size_text
from indexcalc.language.functions import BY_CLASS
from indexcalc.notation.sized import restate
from indexcalc.notation.numbers import _coefficient, written  # noqa: F401 (latex's and results' names)
from indexcalc.notation.order import (  # noqa: F401 (latex's and matrix_recognise's names)
    _by_sign_and_size, _name, _sum_outside, chain_order, index_uses, is_negative, written_order)

_NAMES = {f.cls.__name__: f.name for f in BY_CLASS.values()}


class TextPrinter(StrPrinter):
    """SymPy's StrPrinter speaking indexcalc: ``^``, ``X[i,k]``, ``delta``, ``sum[..](..)``.

    ``protected`` are the left indices; ``explicit=True`` prints every sum as ``sum[..]``.
    """

    printmethod = "_indexcalc_text"  # not "_sympystr": Indexed would print itself

    def __init__(self, protected=(), explicit=False):
        super().__init__({"order": "none"})
        self.protected = set(protected)
        self.left = list(protected)
        self.explicit = explicit
        self.top_terms: set = set()
        self.allowed = None  # the product that may sum (the body of an implicit sum)
        self.misread = False  # a printed product would sum an index it does not sum
        self.depth, self.top_depth = 0, None  # top-level terms are printed at top_depth
        self.written_order = None  # (the top-level sum, its terms as written) of a parsed statement
        self.reads = ()

    def _print(self, expr, **kwargs):
        self.depth += 1
        try:
            return super()._print(expr, **kwargs)
        finally:
            self.depth -= 1

    def statement(self, st) -> str:
        self.protected = set(st.indices)
        self.left = list(st.indices)
        e = restate(st.expr, st.stated) if getattr(st, "stated", ()) else st.expr  # sum[k:3](x[k])
        terms = [_sum_outside(t) for t in sp.Add.make_args(e)]
        self.top_terms = {t for t in terms if isinstance(t, ISum)}
        self.uses = index_uses(e)
        self.reads = st.reads  # (a parsed statement: the names its text reads)
        lhs = f"{st.name}[{','.join(_left_slots(st))}]" if st.indices else st.name
        expr = sp.Add(*terms)
        self.top_depth = 2 if isinstance(expr, sp.Add) else 1
        self.written_order = (expr, written_order(expr.args, st.reads)) if isinstance(expr, sp.Add) else None
        try:
            return f"{lhs} = {self.doprint(expr)}"
        finally:
            self.top_depth, self.written_order = None, None

    def _print_Add(self, e):
        if self.written_order is not None and e is self.written_order[0] and self.written_order[1]:
            terms = self.written_order[1]  # a parsed statement: its terms in the order written
        else:  # positive terms first, terms without indices (constants) last: x[i] - mu + eps
            terms = _by_sign_and_size(e.args)
        return super()._print_Add(sp.Add._from_args(terms))

    def _print_Mul(self, e):
        # one rule with the checker: a product printed here must sum nothing, unless it
        # is the body of a sum printed implicitly (then _print_ISum checked what it sums)
        if e is not self.allowed and product_sums(map(occurrences, e.args), self.protected)[0]:
            self.misread = True
        # several divisors print as one parenthesized product: x[i]/(A[i]*B[i])
        divisors = [sp.Pow(f.base, -f.exp) for f in e.args
                    if f.is_Pow and f.exp.is_Rational and f.exp.is_negative]
        if len(divisors) > 1 and product_sums(map(occurrences, divisors), self.protected)[0]:
            self.misread = True
        self.allowed = None
        c, rest = e.as_coeff_Mul()
        text = _coefficient(abs(c)) if c.is_Rational and not c.is_Integer and rest != 1 else "/"
        if "/" not in text or "*" in text:  # (a plain fraction prints as SymPy does: x/5)
            self.allowed = rest  # (e was checked above; the number sums nothing)
            body = self.parenthesize(rest, PRECEDENCE["Mul"], strict=True)
            return f"{'-' if c < 0 else ''}{text}*{body}"
        return super()._print_Mul(sp.Mul._from_args(chain_order(e.args, self.left)))

    def _print_Indexed(self, e):
        return f"{e.base.label.name}[{','.join(i.name if isinstance(i, Index) else axis_text(i) for i in e.indices)}]"

    def _print_Pow(self, e, rational=False):
        if e.exp == -1 and product_sums([occurrences(e)], self.protected)[0]:
            self.misread = True  # 1/A[i,i] is a product, which would sum i
        if isinstance(e.base, ISum) and e.exp not in (-1, sp.Rational(1, 2), sp.Rational(-1, 2)):
            return f"({self._print(e.base)})^{self.parenthesize(e.exp, PRECEDENCE['Pow'])}"
        if e.exp == sp.Rational(1, 2):
            return f"sqrt({self._print(e.base)})"
        return super()._print_Pow(e, rational).replace("**", "^")

    def _print_Rational(self, e):
        return ("-" if e < 0 else "") + _coefficient(abs(e))

    def _print_Exp1(self, e):
        return "exp(1)"

    def _print_KroneckerDelta(self, e):
        return f"delta({axis_text(e.args[0])},{axis_text(e.args[1])})"

    def _print_Len(self, e):
        return f"len({e.args[0]})"

    def _print_Size(self, e):
        return f"size({e.tensor},{e.axis})"  # (the spelling of a stated size, language/axes.py)

    def _print_Inv(self, e):
        return f"inv({e.args[0].label})[{e.args[1]},{e.args[2]}]"

    def _print_Det(self, e):
        return f"det({e.args[0].label})"

    def _print_LogDet(self, e):
        return f"logdet({e.args[0].label})"

    def _print_Function(self, e):
        name = _NAMES.get(type(e).__name__, type(e).__name__)
        return f"{name}({', '.join(self._print(a) for a in e.args)})"

    _print_Abs = _print_Max2 = _print_Min2 = _print_Function

    def _print_ISum(self, e):
        product = self._implicit_product(e)
        top = e in self.top_terms and self.depth == self.top_depth  # not an equal one inside
        if self.left and not self.reads and any(index_uses(e.body)[i] == 1 for i in e.indices):
            # derived, with left indices: an index written once in its sum is summed with
            # sum[..] written out (mean[s](x[n,c,s]), not x[n,c,s]/len(s), which sums s
            # as a product with len(s), or by rule 3 beside another term summed over s)
            product = top = False
        if top and not product and self.left and any(self.uses[i] == 1 for i in e.indices):
            top = False  # an index written once and summed by rule 3 warns as a likely typo
        if any(n is not None for n in e.sizes):
            product = top = False  # a stated size is written in sum[k:2](..)
        if not self.explicit and (product or top):
            out = self._implicit(e, product, top)
            if out is not None:
                return out
        return self._explicit(e)

    def _implicit(self, e, product, top):
        """``e`` without ``sum[..]``, or None where the text would read differently: a
        product inside it would sum an index that ``e`` sums elsewhere (``exp(x[i]*z[i])``
        summed outside ``exp``), or a top-level sum of terms would come apart."""
        saved, misread = self.protected, self.misread
        self.protected, self.misread = saved - set(e.indices), False
        self.allowed = e.body if product else None
        out = self._print(e.body)
        bad = self.misread
        self.protected, self.misread, self.allowed = saved, misread, None
        if top and isinstance(e.body, sp.Add):
            out = f"({out})"  # a parenthesized sum is one top-level term
        return None if bad else out

    def _explicit(self, e):
        saved = self.protected
        self.protected = saved | set(e.indices)
        lens = sp.Mul(*[Len(i) for i in e.indices])
        mean = isinstance(e.body, sp.Mul) and not (e.body * lens).has(*[Len(i) for i in e.indices])
        kind, body = ("mean", e.body * lens) if mean else ("sum", e.body)
        self.allowed = None
        slots = [_name(i) if n is None else f"{i}:{size_text(n)}" for i, n in zip(e.indices, e.sizes)]
        out = f"{kind}[{','.join(slots)}]({self._print(body)})"
        self.protected = saved
        return out

    def _implicit_product(self, e) -> bool:
        """Does rule 1 sum exactly ``e.indices`` in the product ``e.body``?"""
        if not isinstance(e.body, sp.Mul):
            return False
        summed, _ = product_sums(map(occurrences, e.body.args), self.protected)
        return set(summed) == set(e.indices)


def _left_slots(st) -> list:
    """The left indices, each with its stated size where it has one (``i:size(x,0)``)."""
    sizes = getattr(st, "sizes", ()) or ()
    return [f"{i}:{size_text(n)}" if k < len(sizes) and sizes[k] is not None else str(i)
            for k, i in enumerate(st.indices) for n in [sizes[k] if k < len(sizes) else None]]


def expr_text(e, protected=(), explicit=False) -> str:
    """One expression in the language."""
    return TextPrinter(protected, explicit).doprint(e)


def statement_text(st, explicit=False) -> str:
    return TextPrinter(explicit=explicit).statement(st)
