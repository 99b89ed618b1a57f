r"""The three renderings of a matrix expression (:mod:`indexcalc.notation.matrix_nodes`):
Unicode text (``Xᵀ dY``) and LaTeX (``X^\top \mathrm{dY}``) here, NumPy (``X.T @ dY``)
in :mod:`indexcalc.notation.matrix_numpy`.

Text conventions: juxtaposition is the matrix product, ``⊙``/``⊘`` the element-wise
product and quotient (a matrix product inside one, and one inside a matrix product, is
parenthesized), ``ᵀ``, ``⁻¹``, ``⁻ᵀ``, ``A^∘2`` an element-wise power, ``1`` the all-ones
vector, ``I`` the identity, ``diag(v)`` the diagonal matrix of a vector and ``diag(A)`` the
diagonal of a matrix, ``tr``, ``det``, ``log|det(A)|``, ``⊗``; scalar factors go in front,
scalar divisors last (``2 (o − t) / (N_n N_k)``; in LaTeX a fraction in front).

    >>> from indexcalc.notation.matrix_nodes import leaf, mm, transpose
    >>> X, dY = leaf("X", "m"), leaf("dY", "m")
    >>> e = mm(transpose(X), dY)
    >>> render(e, "text"), render(e, "latex"), render(e, "numpy")
    ('Xᵀ dY', 'X^\\top \\mathrm{dY}', 'X.T @ dY')
"""

from __future__ import annotations

import re

import sympy as sp

from indexcalc.notation.latex_names import function_latex, latex_name
from indexcalc.notation.matrix_nodes import M, is_num, is_ones, negated, negative
from indexcalc.notation.text import expr_text

ADD, HAD, MUL, POST, ATOM = 1, 2, 3, 4, 5


def render(m: M, form: str, safe=str) -> str:
    """``m`` as ``form`` ("text", "latex" or "numpy"; ``safe`` maps a program name to its
    NumPy identifier)."""
    if form == "numpy":
        from indexcalc.notation.matrix_numpy import numpy_code
        return numpy_code(m, safe)
    return _Math(form == "latex").code(m)[0]


def _number_text(r) -> str:
    return expr_text(r)


_SCIENTIFIC = re.compile(r"(\d+(?:\.\d+)?)e([+-]?)0*(\d+)")


def _power_of_ten(match) -> str:
    """``1e-5`` as ``10^{-5}``, ``2.5e-9`` as ``2.5 \\cdot 10^{-9}``."""
    mantissa, sign, exponent = match.groups()
    power = f"10^{{{'-' if sign == '-' else ''}{exponent}}}"
    return power if mantissa == "1" else f"{mantissa} \\cdot {power}"


# --- text and LaTeX --------------------------------------------------------------------------
class _Math:
    def __init__(self, latex: bool):
        self.latex = latex
        tex = latex
        self.times = " "
        self.minus = "-" if tex else "−"
        self.odot = " \\odot " if tex else " ⊙ "
        self.oslash = " \\oslash " if tex else " ⊘ "
        self.otimes = " \\otimes " if tex else " ⊗ "
        self.T = "^\\top" if tex else "ᵀ"
        self.inv = "^{-1}" if tex else "⁻¹"
        self.invT = "^{-\\top}" if tex else "⁻ᵀ"
        self.one = "\\mathbf{1}" if tex else "1"

    def paren(self, code) -> str:
        return f"\\left({code}\\right)" if self.latex else f"({code})"

    def name(self, name) -> str:
        return latex_name(name) if self.latex else name

    def op(self, word) -> str:
        return f"\\operatorname{{{word}}}" if self.latex else word

    def call(self, word, *args) -> str:
        return f"{word}{self.paren(', '.join(args))}"

    def wrap(self, m, bad_ops=(), below=0) -> str:
        code, prec = self.code(m)
        return self.paren(code) if m.op in bad_ops or prec < below else code

    def number(self, r) -> tuple:
        """``(numerator, denominator)`` texts of a positive number."""
        text = _number_text(r)
        if "/" in text and "*" not in text:
            p, q = text.split("/")
            return (p if p != "1" else ""), q
        if "*" in text:
            text = text.replace("*", " \\cdot " if self.latex else "·")
        if self.latex:
            text = _SCIENTIFIC.sub(_power_of_ten, text)
        return ("" if text == "1" else text), ""

    def code(self, m: M) -> tuple:
        f = getattr(self, "_" + m.op)
        return f(m)

    def _leaf(self, m):
        return self.name(m.attr[0]), ATOM

    def _num(self, m):
        r = m.attr[0]
        if r is sp.pi:
            return ("\\pi" if self.latex else "π"), ATOM
        if r is sp.E:
            return "e", ATOM
        p, q = self.number(abs(r))
        p = p or "1"
        text = (f"\\frac{{{p}}}{{{q}}}" if self.latex else f"{p}/{q}") if q else p
        return (self.minus + text, ADD) if r < 0 else (text, ATOM if not q or self.latex else MUL)

    def _size(self, m):
        name = m.attr[0]
        if self.latex and name.startswith("N_"):
            return f"N_{{{name[2:]}}}", ATOM
        if self.latex:
            return name.replace("size", "\\operatorname{size}"), ATOM
        return name, ATOM

    def _ones(self, m):
        return self.one, ATOM

    def _eye(self, m):
        return "I", ATOM

    def _fill(self, m):
        if m.attr[0] == 0:
            return "0", ATOM
        return f"{self.code(M('num', (), (m.attr[0],)))[0]} {self.one} {self.one}{self.T}", MUL

    def _T(self, m):
        inner = m.args[0]
        if inner.op == "inv":
            return self.name(inner.attr[0]) + self.invT, POST
        if inner.op in ("leaf", "ones"):
            return self.code(inner)[0] + self.T, POST
        return self.paren(self.code(inner)[0]) + self.T, POST

    def _inv(self, m):
        return self.name(m.attr[0]) + self.inv, POST

    def _mm(self, m):
        chain = _chain(m)
        bad = ("add", "had", "hdiv", "prod", "kron", "fill")
        return " ".join(self.wrap(f, bad, MUL) for f in chain), MUL

    def _had(self, m):
        bad = ("add", "mm", "prod", "hdiv", "kron")
        return self.odot.join(self.wrap(a, bad, HAD) for a in m.args), HAD

    def _hdiv(self, m):
        a, b = m.args
        left = self.wrap(a, ("add", "mm", "prod", "kron"), HAD)
        right = self.wrap(b, ("add", "mm", "prod", "had", "hdiv", "kron"), HAD)
        return left + self.oslash + right, HAD

    def _kron(self, m):
        bad = ("add", "mm", "prod", "had", "hdiv", "kron")
        return self.otimes.join(self.wrap(a, bad, HAD) for a in m.args), HAD

    def _add(self, m):
        out = []
        for k, t in enumerate(m.args):
            minus = negative(t)
            code = self.wrap(negated(t) if minus else t, ("add",), ADD + 1 if minus else ADD)
            if k == 0:
                out.append(self.minus + code if minus else code)
            else:
                out.append((f" {self.minus} " if minus else " + ") + code)
        return "".join(out), ADD

    def _prod(self, m):
        number, scalars, divisors = m.attr
        body = m.args[0] if m.args else None
        p, q = self.number(abs(number))
        front = [p] if p else []
        bad = ("add", "had", "hdiv", "prod", "mm", "kron", "fill")
        alone = not front and body is None and len(scalars) == 1  # 1ᵀ v / beta
        front += [self.wrap(s, ("add",) if alone else bad, MUL) for s in scalars]
        if body is not None:
            code = self.wrap(body, ("add", "kron", "fill") if (front or divisors or q) else (), HAD)
            if front and not self.latex and is_ones(_chain(body)[0]):
                code = front.pop() + "·" + code  # 2·1ᵀ A, not 2 1ᵀ A
            front.append(code)
        den = ([q] if q else []) + [self.wrap(d, bad, MUL) for d in divisors]
        sign = self.minus if number < 0 else ""
        top = " ".join(front) or "1"
        if not den:
            return sign + top, (ADD if sign else MUL)
        if self.latex:
            if body is not None:
                lead = " ".join(front[:-1]) or "1"
                return f"{sign}\\frac{{{lead}}}{{{' '.join(den)}}} {front[-1]}", ADD if sign else MUL
            return f"{sign}\\frac{{{top}}}{{{' '.join(den)}}}", ADD if sign else MUL
        below = " ".join(den)
        below = self.paren(below) if len(den) > 1 else below
        return f"{sign}{top} / {below}", ADD if sign else MUL

    def _fn(self, m):
        name = m.attr[0]
        args = [self.code(a)[0] for a in m.args]
        if name == "sqrt":
            return (f"\\sqrt{{{args[0]}}}" if self.latex else self.call("sqrt", *args)), ATOM
        if name == "abs":
            return (f"\\left|{args[0]}\\right|" if self.latex else f"|{args[0]}|"), ATOM
        if self.latex:
            word = function_latex(name)
            return self.call(word, *args), ATOM
        return self.call(name, *args), ATOM

    def _pow(self, m):
        (a,), (exponent,) = m.args, m.attr
        base = self.wrap(a, (), ATOM)
        if a.op in ("T", "inv"):
            base = self.paren(self.code(a)[0])
        e = _number_text(exponent)
        if self.latex:
            return f"{base}^{{{'' if a.kind == 's' else chr(92) + 'circ '}{e}}}", POST
        if exponent.is_Integer and exponent >= 0 or "/" not in e and "." not in e:
            return f"{base}^{'' if a.kind == 's' else '∘'}{e}", POST
        return f"{base}^{'' if a.kind == 's' else '∘'}({e})", POST

    def _diag(self, m):
        (v,) = m.args
        if v.op == "hdiv" and is_num(v.args[0], 1):
            return self.call(self.op("diag"), self.code(v.args[1])[0]) + self.inv, POST
        return self.call(self.op("diag"), self.code(v)[0]), ATOM

    def _diagof(self, m):
        return self.call(self.op("diag"), self.code(m.args[0])[0]), ATOM

    def _tr(self, m):
        return self.call(self.op("tr"), self.code(m.args[0])[0]), ATOM

    def _det(self, m):
        name = self.name(m.attr[0])
        return (f"\\det\\left({name}\\right)" if self.latex else f"det({name})"), ATOM

    def _logdet(self, m):
        name = self.name(m.attr[0])
        return (f"\\log\\left|\\det {name}\\right|" if self.latex else f"log|det({name})|"), ATOM


def _chain(m):
    if m.op == "mm":
        return _chain(m.args[0]) + _chain(m.args[1])
    return [m]
