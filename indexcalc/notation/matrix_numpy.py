"""The NumPy rendering of a matrix expression (:mod:`indexcalc.notation.matrix_nodes`): one
expression using ``@``, ``.T``, ``np.linalg.inv``, ``*``, ``/``, ``.sum(axis=..)``,
``np.outer``, ``np.diag``, ``np.trace``, ``np.kron`` and NumPy's functions, never einsum;
it reads the program's arrays by name (``safe`` maps a name to its identifier) and only
``np``. ``diag(v) A`` is ``v[:, None] * A``; a broadcast ``v 1ᵀ`` in a sum with a full
matrix is ``v[:, None]``, alone ``np.outer(v, np.ones(n))`` with ``n`` an array's
``.shape[k]``.

    >>> from indexcalc.notation.matrix_nodes import leaf, mm, transpose, had, reduce_rows
    >>> X, dY = leaf("X", "m"), leaf("dY", "m")
    >>> numpy_code(mm(transpose(X), dY)), numpy_code(reduce_rows(had(X, dY)))
    ('X.T @ dY', '(X * dY).sum(axis=0)')
"""

from __future__ import annotations

import sympy as sp

from indexcalc.backends.dialect import literal
from indexcalc.notation.matrix_nodes import M, NotMatrix, negated, negative
from indexcalc.backends.spelling import NUMPY


def numpy_code(m: M, safe=str) -> str:
    """``m`` as a NumPy expression; :class:`NotMatrix` where NumPy alone cannot say it
    (``erf``, a size no array states)."""
    return _Numpy(safe).code(m)[0]


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
            minus = negative(t)
            code = self.wrap(negated(t) if minus else t, P_ADD + 1 if minus else P_ADD, full or spread)
            out.append((("-" if minus else "") + code) if k == 0 else (" - " if minus else " + ") + code)
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
