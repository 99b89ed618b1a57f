"""The matrix expressions that :mod:`indexcalc.notation.matrix` recognises in a statement and
:mod:`indexcalc.notation.matrix_print` prints: a small immutable tree whose every node knows
its *kind*, ``"s"`` (scalar), ``"c"`` (column vector), ``"r"`` (row vector) or ``"m"``
(matrix). The constructors keep the tree in a normal form a person would write: scalar
coefficients in front (``2 Xᵀ (X W − Y)``, never ``Xᵀ (2 (X W − Y))``), transposes
pushed to where they cost least (``(X⁻¹ b)ᵀ`` is ``bᵀ X⁻ᵀ``, ``(X W − Y)ᵀ`` stays),
``A ⊙ (1 ⊘ B)`` as ``A ⊘ B``, ``diag(v) I`` as ``diag(v)``.

    >>> X, W = leaf("X", "m"), leaf("W", "m")
    >>> transpose(mm(X, W)) == mm(transpose(W), transpose(X))
    True
    >>> scale(num(2), mm(X, scale(num(-1), W))).attr[0]
    -2
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp


class NotMatrix(Exception):
    """The statement has no matrix expression (rank above 2, a batched contraction, ...)."""


@dataclass(frozen=True)
class M:
    """``op`` with operands ``args`` (nodes) and ``attr`` (anything hashable).

    ====== ===================================== ==========================================
    op     args                                  attr
    ====== ===================================== ==========================================
    leaf   none                                  ``(name,)``: a tensor or scalar of the program
    num    none                                  ``(sympy number,)``
    size   none                                  ``(text name, numpy code)``: ``N_i``
    ones   none                                  ``(numpy code of its length or None,)``
    eye    none                                  ``(numpy code of its size or None,)``
    fill   none                                  ``(value, numpy code of the shape)``: c 1 1ᵀ
    T      a                                     transpose
    mm     a, b                                  matrix product (juxtaposition)
    had    a, b, ...                             element-wise product ⊙
    hdiv   a, b                                  element-wise quotient ⊘ (a may be a scalar)
    add    a, b, ...                             sum
    prod   body or nothing                       ``(number, scalars, divisors)``: scalar factors
    fn     a, ...                                ``(name,)``: an element-wise function
    pow    a                                     ``(exponent,)``: element-wise power
    diag   v (a vector)                          the diagonal matrix diag(v)
    diagof A                                     the diagonal of A, a vector
    tr     A                                     trace
    inv    none                                  ``(name,)``: the inverse of a matrix input
    det    none                                  ``(name,)``
    logdet none                                  ``(name,)``: log |det|
    kron   a, b                                  Kronecker product a ⊗ b
    ====== ===================================== ==========================================
    """

    op: str
    args: tuple = ()
    attr: tuple = ()
    kind: str = "s"


# --- leaves -----------------------------------------------------------------------
def leaf(name, kind) -> M:
    return M("leaf", (), (name,), kind)


def num(value) -> M:
    return M("num", (), (value if isinstance(value, sp.Basic) else sp.Integer(value),), "s")


def ones(size=None) -> M:
    return M("ones", (), (size,), "c")


def eye(size=None) -> M:
    return M("eye", (), (size,), "m")


def is_num(m, value=None) -> bool:
    return m.op == "num" and (value is None or m.attr[0] == value)


def is_ones(m) -> bool:
    return m.op == "ones" or (m.op == "T" and m.args[0].op == "ones")


# --- transposes ---------------------------------------------------------------------
_FLIP = {"c": "r", "r": "c", "m": "m", "s": "s"}
_SYMMETRIC = ("eye", "diag", "fill")


def cost(m) -> float:
    """How many transposes a reader sees: ``Xᵀ`` costs 1, ``xᵀ`` of a vector name
    nothing (a row vector in a product is how one writes it), ``(…)ᵀ`` of a compound
    2.5 (it needs parentheses too), 1.5 for a vector."""
    return _cost(m)


@lru_cache(maxsize=1 << 12)  # bounded: least recently used leaves first
def _cost(m) -> float:
    if m.op == "T":
        inner = m.args[0]
        if inner.kind in "cr":  # a row vector: how one writes it in a product
            own = 0 if inner.op in ("leaf", "ones") else 1.5
        else:
            own = 1 if inner.op in ("leaf", "inv") else 2.5
        return own + _cost(inner)
    if m.op == "prod":
        return sum(map(_cost, m.args)) + sum(map(_cost, m.attr[1] + m.attr[2]))
    return sum(map(_cost, m.args))


@lru_cache(maxsize=1 << 12)  # bounded: least recently used leaves first
def transpose(m) -> M:
    """``mᵀ`` at the least :func:`cost`: pushed into products and sums where that reads
    better, else written ``(m)ᵀ``."""
    if m.kind == "s" or m.op in _SYMMETRIC:
        return m
    kind = _FLIP[m.kind]
    if m.op == "T":
        return m.args[0]
    if m.op in ("leaf", "ones", "inv"):
        return M("T", (m,), (), kind)
    wrapped = M("T", (m,), (), kind)
    if m.kind in "cr" and m.op not in ("mm", "prod"):
        return wrapped  # (1 ⊘ r)ᵀ, not 1 ⊘ rᵀ: vectors are columns but in products
    if m.op == "mm" and m.kind in "cr" and any(is_ones(a) for a in m.args):
        return mm(transpose(m.args[1]), transpose(m.args[0]))  # (1ᵀ A)ᵀ is Aᵀ 1
    if m.op == "mm":
        pushed = mm(transpose(m.args[1]), transpose(m.args[0]))
    elif m.op == "prod":
        return M("prod", (transpose(m.args[0]),), m.attr, kind)
    elif m.op in ("had", "add", "fn", "kron"):
        pushed = M(m.op, tuple(transpose(a) for a in m.args), m.attr, kind)
    elif m.op in ("hdiv", "pow"):
        pushed = M(m.op, tuple(transpose(a) for a in m.args), m.attr, kind)
    else:
        return wrapped
    return pushed if _cost(pushed) <= _cost(wrapped) else wrapped


def orient(m, kind) -> M:
    """A vector as a column (``"c"``) or a row (``"r"``)."""
    return m if m.kind == kind else transpose(m)


# --- scalar coefficients ---------------------------------------------------------------
def split(m):
    """``(number, scalars, divisors, body)`` of ``m``: body None for a scalar."""
    if m.op == "prod":
        return m.attr[0], m.attr[1], m.attr[2], (m.args[0] if m.args else None)
    if m.kind == "s":
        return (m.attr[0], (), (), None) if m.op == "num" else (sp.Integer(1), (m,), (), None)
    return sp.Integer(1), (), (), m


def make_prod(number, scalars, divisors, body) -> M:
    if number == 0:
        return num(0)
    if not scalars and not divisors:
        if body is None:
            return num(number)
        if number == 1:
            return body
    if body is None and number == 1 and len(scalars) == 1 and not divisors:
        return scalars[0]
    return M("prod", (body,) if body is not None else (), (number, tuple(scalars), tuple(divisors)),
             body.kind if body is not None else "s")


def scale(c, m) -> M:
    """The scalar ``c`` times ``m`` (a number, a scalar node or a prod)."""
    n1, s1, d1, b1 = split(c)
    n2, s2, d2, b2 = split(m)
    if b1 is not None:
        raise NotMatrix("scale by a non-scalar")
    return make_prod(n1 * n2, s1 + s2, d1 + d2, b2)


def divide(m, c) -> M:
    """``m`` divided by the scalar ``c``."""
    n1, s1, d1, b1 = split(c)
    n2, s2, d2, b2 = split(m)
    if b1 is not None:
        raise NotMatrix("division by a non-scalar")
    return make_prod(n2 / n1, s2 + d1, d2 + s1, b2)


def _hoist(args):
    """The coefficients of ``args`` (as one prod with no body) and their bodies."""
    number, scalars, divisors, bodies = sp.Integer(1), (), (), []
    for a in args:
        n, s, d, b = split(a)
        number, scalars, divisors = number * n, scalars + s, divisors + d
        bodies.append(b)
    return make_prod(number, scalars, divisors, None), bodies


def negative(m) -> bool:
    """Does ``m`` print with a leading minus (a negative coefficient)?"""
    return (m.op == "prod" and m.attr[0] < 0) or (m.op == "num" and m.attr[0] < 0)


def negated(m) -> M:
    """``-m`` for a :func:`negative` ``m``."""
    if m.op == "num":
        return M("num", (), (-m.attr[0],))
    return make_prod(-m.attr[0], m.attr[1], m.attr[2], m.args[0] if m.args else None)


# --- products ------------------------------------------------------------------------
_MM_KIND = {("m", "m"): "m", ("m", "c"): "c", ("r", "m"): "r", ("r", "c"): "s", ("c", "r"): "m"}


def mm(a, b) -> M:
    """The matrix product ``a b`` (coefficients hoisted in front; ``I`` dropped)."""
    coeff, (a, b) = _hoist([a, b])
    kind = _MM_KIND.get((a.kind, b.kind))
    if kind is None:
        raise NotMatrix(f"no product of a {a.kind} and a {b.kind}")
    if a.op == "eye":
        out = b
    elif b.op == "eye":
        out = a
    else:
        out = M("mm", (a, b), (), kind)
    return scale(coeff, out)


def had(*args) -> M:
    """The element-wise product; a factor ``1 ⊘ b`` becomes a quotient ``… ⊘ b``."""
    coeff, bodies = _hoist(args)
    flat, divisors = [], []

    def take(b):
        if b.op == "had":
            flat.extend(b.args)
        elif b.op == "hdiv":
            if not is_num(b.args[0], 1):
                take(b.args[0])
            divisors.append(b.args[1])
        else:
            flat.append(b)

    for b in bodies:
        take(b)
    kinds = {b.kind for b in flat + divisors}
    if len(kinds) != 1:
        raise NotMatrix("an element-wise product of different shapes")
    out = flat[0] if len(flat) == 1 else M("had", tuple(flat), (), flat[0].kind) if flat else num(1)
    if divisors:
        below = divisors[0] if len(divisors) == 1 else M("had", tuple(divisors), (), divisors[0].kind)
        out = M("hdiv", (out, below), (), below.kind)
    return scale(coeff, out)


def hdiv(a, b) -> M:
    """``a ⊘ b``; ``a`` may be a scalar (``1 ⊘ v``); coefficients go in front."""
    na, sa, da, ba = split(a)
    nb, sb, db, bb = split(b)
    if bb is None:
        raise NotMatrix("an element-wise quotient by a scalar")
    ba = ba if ba is not None else num(1)
    if ba.kind not in ("s", bb.kind):
        raise NotMatrix("an element-wise quotient of different shapes")
    return make_prod(na / nb, sa + db, da + sb, M("hdiv", (ba, bb), (), bb.kind))


def add(*terms) -> M:
    """The sum of ``terms`` (nested sums flattened; a common left or right factor of
    every term taken out: ``Aᵀ x + A x = (A + Aᵀ) x``)."""
    flat = []
    for t in terms:
        if t.op == "add":
            flat.extend(t.args)
        elif not is_num(t, 0):
            flat.append(t)
    if not flat:
        return num(0)
    if len(flat) == 1:
        return flat[0]
    kinds = {t.kind for t in flat} - {"s"}
    if len(kinds) > 1:
        raise NotMatrix("a sum of different shapes")
    kind = kinds.pop() if kinds else "s"
    return _factored(flat) or M("add", tuple(flat), (), kind)


def _chain(m):
    """The factors of a product chain, flattened."""
    if m.op == "mm":
        return _chain(m.args[0]) + _chain(m.args[1])
    return [m]


def _product(factors):
    out = factors[0]
    for f in factors[1:]:
        out = mm(out, f)
    return out


def _factored(terms):
    """``(A + B) x`` for ``A x + B x`` (and ``x (A + B)``), the same coefficient on every
    term; None where the terms share no factor."""
    parts = [split(t) for t in terms]
    if any(p[3] is None for p in parts) or len({(p[0], p[1], p[2]) for p in parts}) != 1:
        return None
    chains = [_chain(p[3]) for p in parts]
    if any(len(c) < 2 for c in chains):
        return None
    number, scalars, divisors, _ = parts[0]
    for side in (-1, 0):
        if len({c[side] for c in chains}) == 1:
            rest = [_product(c[:-1] if side == -1 else c[1:]) for c in chains]
            rest.sort(key=cost)
            inner = M("add", tuple(rest), (), rest[0].kind)
            body = mm(inner, chains[0][-1]) if side == -1 else mm(chains[0][0], inner)
            return make_prod(number, scalars, divisors, body)
    return None


def fn(name, *args) -> M:
    kinds = {a.kind for a in args} - {"s"}
    if len(kinds) > 1:
        raise NotMatrix("a function of arguments of different shapes")
    return M("fn", tuple(args), (name,), kinds.pop() if kinds else "s")


def power(a, exponent) -> M:
    """``a`` to a number ``exponent``: for a vector or matrix, element-wise (``1 ⊘ a`` for
    ``-1``, ``sqrt`` for ``1/2``)."""
    if exponent == 1:
        return a
    if exponent < 0:
        inner = power(a, -exponent)
        if a.kind == "s":
            return divide(num(1), inner)
        return hdiv(num(1), inner)
    if exponent == sp.Rational(1, 2):
        return fn("sqrt", a)
    n, s, d, b = split(a)
    if exponent.is_Integer and a.op == "prod":  # (2 x)^2 = 4 x^2
        parts = [power(x, exponent) for x in s]
        dparts = [power(x, exponent) for x in d]
        return make_prod(n ** exponent, tuple(parts), tuple(dparts), power(b, exponent) if b is not None else None)
    return M("pow", (a,), (exponent,), a.kind)


def diag(v) -> M:
    return M("diag", (orient(v, "c"),), (), "m")


def reduce_rows(m) -> M:
    """``1ᵀ m``: the sum over the rows of a matrix (a row vector), of a vector (a scalar)."""
    if m.op == "diagof":
        return M("tr", m.args, (), "s")
    one = M("T", (ones(),), (), "r")
    return mm(one, orient(m, "c") if m.kind in "cr" else m)


def reduce_cols(m) -> M:
    """``m 1``: the sum over the columns of a matrix (a column vector)."""
    return mm(m, ones())
