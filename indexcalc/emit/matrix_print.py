r"""The three renderings of a matrix expression (:mod:`indexcalc.emit.matrix_nodes`):
Unicode text (``Xᵀ dY``), LaTeX (``X^\top \mathrm{dY}``) and NumPy (``X.T @ dY``: ``@``,
``.T``, ``np.linalg.inv``, ``*``, ``/``, ``.sum(axis=..)``, ``np.outer``, ``np.diag``,
``np.trace`` and NumPy functions, never einsum; it reads the program's arrays by name).

    >>> from indexcalc.emit.matrix_nodes import leaf, mm, transpose, had, ones, reduce_rows
    >>> X, dY = leaf("X", "m"), leaf("dY", "m")
    >>> e = mm(transpose(X), dY)
    >>> render(e, "text"), render(e, "latex"), render(e, "numpy")
    ('Xᵀ dY', 'X^\\top \\mathrm{dY}', 'X.T @ dY')
    >>> render(reduce_rows(had(X, dY)), "numpy")
    '(X * dY).sum(axis=0)'
"""

from __future__ import annotations

import sympy as sp

from indexcalc.emit.dialect import literal
from indexcalc.emit.matrix_nodes import M, NotMatrix, is_num
from indexcalc.emit.spelling import NUMPY
from indexcalc.emit.text import expr_text

ADD, HAD, MUL, POST, ATOM = 1, 2, 3, 4, 5

_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda",
          "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega",
          "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"}
_LATEX_FN = {"exp": "\\exp", "log": "\\log", "tanh": "\\tanh", "sin": "\\sin", "cos": "\\cos", "tan": "\\tan",
             "atan": "\\arctan", "sinh": "\\sinh", "cosh": "\\cosh", "sigmoid": "\\sigma", "max": "\\max",
             "min": "\\min"}


def render(m: M, form: str, safe=str) -> str:
    """``m`` as ``form`` ("text", "latex" or "numpy"; ``safe`` maps a program name to its
    NumPy identifier)."""
    if form == "numpy":
        return _Numpy(safe).code(m)[0]
    return _Math(form == "latex").code(m)[0]


def latex_name(name: str) -> str:
    r"""A program name in LaTeX: Greek as Greek (``\gamma``), trailing digits as a
    subscript (``W_{1}``), several letters upright (``\mathrm{dW}``)."""
    head = name.rstrip("0123456789")
    digits = name[len(head):]
    if head in _GREEK:
        base = "\\" + head
    elif len(head) == 1:
        base = head
    else:
        base = "\\mathrm{" + head.replace("_", "\\_") + "}"
    return f"{base}_{{{digits}}}" if digits and head else base


def _number_text(r) -> str:
    return expr_text(r)


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
            negative = _negative(t)
            code = self.wrap(_negated(t) if negative else t, ("add",), ADD + 1 if negative else ADD)
            if k == 0:
                out.append(self.minus + code if negative else code)
            else:
                out.append((f" {self.minus} " if negative else " + ") + code)
        return "".join(out), ADD

    def _prod(self, m):
        number, scalars, divisors = m.attr
        body = m.args[0] if m.args else None
        p, q = self.number(abs(number))
        front = [p] if p else []
        bad = ("add", "had", "hdiv", "prod", "mm", "kron", "fill")
        front += [self.wrap(s, bad, MUL) for s in scalars]
        if body is not None:
            front.append(self.wrap(body, ("add", "kron", "fill") if (front or divisors or q) else (), HAD))
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
        return f"{sign}{top} / {below}", ADD

    def _fn(self, m):
        name = m.attr[0]
        args = [self.code(a)[0] for a in m.args]
        if name == "sqrt":
            return (f"\\sqrt{{{args[0]}}}" if self.latex else self.call("sqrt", *args)), ATOM
        if name == "abs":
            return (f"\\left|{args[0]}\\right|" if self.latex else f"|{args[0]}|"), ATOM
        if self.latex:
            word = _LATEX_FN.get(name) or self.op(name)
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


def _negative(m) -> bool:
    return (m.op == "prod" and m.attr[0] < 0) or (m.op == "num" and m.attr[0] < 0)


def _negated(m) -> M:
    if m.op == "num":
        return M("num", (), (-m.attr[0],))
    return M("prod", m.args, (-m.attr[0],) + m.attr[1:], m.kind)


# --- NumPy ----------------------------------------------------------------------------------
P_ADD, P_MUL, P_NEG, P_POW, P_ATOM = 1, 2, 3, 4, 5

_NUMPY_FN = {"step": "np.heaviside({}, 0.0)", "sqrt": "np.sqrt({})"}


class _Numpy:
    def __init__(self, safe):
        self.safe = safe

    def code(self, m: M, spread=False) -> tuple:
        """``(code, precedence)``; ``spread``: a broadcast ``v 1ᵀ`` may be written
        ``v[:, None]`` (a term of a sum that has a full matrix term)."""
        return getattr(self, "_" + m.op)(m, spread)

    def wrap(self, m, below, spread=False) -> str:
        code, prec = self.code(m, spread)
        return f"({code})" if prec < below else code

    def _leaf(self, m, spread):
        return self.safe(m.attr[0]), P_ATOM

    def _num(self, m, spread):
        r = m.attr[0]
        if r is sp.pi:
            return "np.pi", P_ATOM
        if r is sp.E:
            return "np.e", P_ATOM
        text = literal(r)
        return text, (P_NEG if text.startswith("-") else P_ATOM)

    def _size(self, m, spread):
        if m.attr[1] is None:
            raise NotMatrix("a size no array states")
        return m.attr[1], P_ATOM

    def _ones(self, m, spread):
        if m.attr[0] is None:
            raise NotMatrix("a vector of ones of unknown length")
        return f"np.ones({m.attr[0]})", P_ATOM

    def _eye(self, m, spread):
        if m.attr[0] is None:
            raise NotMatrix("an identity of unknown size")
        return f"np.eye({m.attr[0]})", P_ATOM

    def _fill(self, m, spread):
        value, shape = m.attr
        if shape is None:
            raise NotMatrix("a constant of unknown shape")
        return (f"np.zeros({shape})" if value == 0 else f"np.full({shape}, {literal(value)})"), P_ATOM

    def _T(self, m, spread):
        inner = m.args[0]
        if inner.kind in "cr" or inner.kind == "s":
            return self.code(inner, spread)
        return self.wrap(inner, P_ATOM) + ".T", P_ATOM

    def _inv(self, m, spread):
        return f"np.linalg.inv({self.safe(m.attr[0])})", P_ATOM

    def _mm(self, m, spread):
        a, b = m.args
        if a.op == "T" and a.args[0].op == "ones":
            return self.wrap(b, P_ATOM) + (".sum(axis=0)" if b.kind == "m" else ".sum()"), P_ATOM
        if b.op == "ones":
            return self.wrap(a, P_ATOM) + (".sum(axis=1)" if a.kind == "m" else ".sum()"), P_ATOM
        if a.kind == "c" and b.kind == "r":
            if b.op == "T" and b.args[0].op == "ones":
                if spread:
                    return self.wrap(a, P_ATOM) + "[:, None]", P_ATOM
                return f"np.outer({self.code(a)[0]}, {self.code(b)[0]})", P_ATOM
            if a.op == "ones" and spread:
                return self.wrap(b, P_ATOM) + "[None, :]", P_ATOM
            return f"np.outer({self.code(a)[0]}, {self.code(b)[0]})", P_ATOM
        if a.op == "diag":
            v = self.wrap(a.args[0], P_ATOM)
            if b.kind == "m":
                return f"{v}[:, None] * {self.wrap(b, P_MUL + 1)}", P_MUL
            return f"{v} * {self.wrap(b, P_MUL + 1)}", P_MUL
        if b.op == "diag":
            return f"{self.wrap(a, P_MUL)} * {self.wrap(b.args[0], P_MUL + 1)}", P_MUL
        return f"{self.wrap(a, P_MUL)} @ {self.wrap(b, P_MUL + 1)}", P_MUL

    def _had(self, m, spread):
        return " * ".join([self.wrap(m.args[0], P_MUL)] + [self.wrap(a, P_MUL + 1) for a in m.args[1:]]), P_MUL

    def _hdiv(self, m, spread):
        a, b = m.args
        return f"{self.wrap(a, P_MUL)} / {self.wrap(b, P_MUL + 1)}", P_MUL

    def _kron(self, m, spread):
        a, b = m.args
        return f"np.kron({self.code(a)[0]}, {self.code(b)[0]})", P_ATOM

    def _add(self, m, spread):
        full = any(t.kind == "m" and not _is_spread(t) for t in m.args)
        out = []
        for k, t in enumerate(m.args):
            negative = _negative(t)
            code = self.wrap(_negated(t) if negative else t, P_ADD + 1 if negative else P_ADD, full or spread)
            out.append((("-" if negative else "") + code) if k == 0 else (" - " if negative else " + ") + code)
        return "".join(out), P_ADD

    def _prod(self, m, spread):
        number, scalars, divisors = m.attr
        body = m.args[0] if m.args else None
        factors = [] if abs(number) == 1 else [literal(abs(number))]
        factors += [self.wrap(s, P_MUL + 1) for s in scalars]
        if body is not None:
            factors.append(self.wrap(body, P_MUL + 1, spread))
        code = " * ".join(factors) or "1"
        if divisors:
            den = [self.wrap(d, P_MUL + 1) for d in divisors]
            code += " / " + (den[0] if len(den) == 1 else f"({' * '.join(den)})")
        several = " " in code
        if number < 0:
            return "-" + code, P_MUL if several else P_NEG
        return code, P_MUL if several else P_ATOM

    def _fn(self, m, spread):
        name = m.attr[0]
        spelling = _NUMPY_FN.get(name) or NUMPY.get(name)
        if spelling is None or not spelling.startswith(("np.", "(")):
            raise NotMatrix(f"{name} has no NumPy spelling without helpers")
        return spelling.format(*[self.code(a)[0] for a in m.args]), P_ATOM

    def _pow(self, m, spread):
        (a,), (exponent,) = m.args, m.attr
        return f"{self.wrap(a, P_ATOM)}**{literal(exponent) if exponent.is_Integer else '(' + literal(exponent) + ')'}", P_POW

    def _diag(self, m, spread):
        return f"np.diag({self.code(m.args[0])[0]})", P_ATOM

    def _diagof(self, m, spread):
        return f"np.diag({self.code(m.args[0])[0]})", P_ATOM

    def _tr(self, m, spread):
        return f"np.trace({self.code(m.args[0])[0]})", P_ATOM

    def _det(self, m, spread):
        return f"np.linalg.det({self.safe(m.attr[0])})", P_ATOM

    def _logdet(self, m, spread):
        return f"np.linalg.slogdet({self.safe(m.attr[0])})[1]", P_ATOM


def _is_spread(m) -> bool:
    while m.op == "prod" and m.args:
        m = m.args[0]
    if m.op != "mm":
        return False
    a, b = m.args
    return (b.op == "T" and b.args[0].op == "ones") or a.op == "ones"
