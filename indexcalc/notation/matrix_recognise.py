"""Recognise the matrix expression of one printed statement (SymPy, every sum an
explicit :class:`~indexcalc.language.algebra.ISum`): the conventions are those of
:mod:`indexcalc.notation.matrix`. A statement that has none raises :class:`NotMatrix`.

A product summed over some indices is built a pair of factors at a time, in the order
the index form prints them: element-wise products of equal shapes first (``P ⊙ dP``),
then a contraction over an index that only the two factors carry (a matrix product with
each factor transposed as needed, or a trace), then a vector scaling the rows or columns
of a matrix (``diag(v) A``), then an outer product (``x yᵀ``); an index that one factor
alone carries is summed there (``1ᵀ A``, ``A 1``). What none of these combines (a rank
above 2, an index three factors share while a fourth is summed, ...) has no matrix form.

    >>> import indexcalc as ic
    >>> from indexcalc.notation.matrix import SizeNames
    >>> from indexcalc.notation.matrix_print import render
    >>> d = ic.derive("L = A[i,j]*X[j,k]*B[k,i]", wrt="X")
    >>> rec = Recognizer(d.program, SizeNames(d.program))
    >>> render(rec.statement(d.statements[0], len(d.program.statements) - 1), "text")
    'Aᵀ Bᵀ'
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from indexcalc.backends.dialect import Dialect
from indexcalc.notation.matrix_nodes import (M, NotMatrix, add, cost, diag, eye, fn, had, is_num, leaf, mm, num,
                                         ones, orient, power, reduce_cols, reduce_rows, scale, transpose)
from indexcalc.backends.numpy import NUMPY_DIALECT
from indexcalc.notation.text import chain_order, is_negative
from indexcalc.language.algebra import Det, Index, Inv, ISum, Len, LogDet, Size, free_indices
from indexcalc.language.functions import BY_CLASS
from indexcalc.language.walk import preorder


@dataclass(frozen=True)
class L:
    """A matrix expression ``m`` and the index each of its axes stands for: ``()`` for a
    scalar, ``(i,)`` for a vector, ``(rows, columns)`` for a matrix."""

    m: M
    labels: tuple


class Recognizer:
    """The matrix expression of one statement, or :class:`NotMatrix`."""

    def __init__(self, program, sizes, dialect: Dialect = NUMPY_DIALECT):
        self.program, self.sizes, self.safe = program, sizes, dialect.safe

    def statement(self, st, n) -> M:
        self.n, self.left = n, tuple(st.indices)
        self.lhs = f"{st.name}[{','.join(map(str, st.indices))}]" if st.indices else st.name
        if len(self.left) > 2:
            raise NotMatrix("rank above 2")
        value = self.expr(st.expr)
        return self.shaped(value, self.left, top=True)

    # --- shapes ---------------------------------------------------------------------
    def size(self, index) -> M:
        return M("size", (), (self.sizes.name(self.n, index, self.lhs), self.sizes.code(self.n, index, self.safe)))

    def ones(self, index) -> M:
        return ones(self.sizes.code(self.n, index, self.safe))

    def shaped(self, v: L, labels, top=False) -> M:
        """``v`` with the axes ``labels`` (broadcast along those it lacks; transposed to
        their order). A vector at the top prints as the cheaper of column and row."""
        if set(v.labels) - set(labels):
            raise NotMatrix("an index that is not on the left")
        if not labels:
            return v.m
        if is_num(v.m, 0):
            return M("fill", (), (sp.Integer(0), self._shape(labels)), _KIND[len(labels)])
        if len(labels) == 1:
            m = v.m if v.labels else scale(v.m, self.ones(labels[0]))
            if not top:
                return orient(m, "c")
            col, row = orient(m, "c"), orient(m, "r")
            row_cost = cost(row) + (0 if _starts_with_ones(row) else 1)
            return row if row_cost < cost(col) else col
        rows, cols = labels
        if not v.labels:
            return scale(v.m, mm(self.ones(rows), transpose(self.ones(cols))))
        if len(v.labels) == 1:
            (i,) = v.labels
            if i == rows:
                return mm(orient(v.m, "c"), transpose(self.ones(cols)))
            return mm(self.ones(rows), orient(v.m, "r"))
        return v.m if v.labels == tuple(labels) else transpose(v.m)

    def _shape(self, labels):
        codes = [self.sizes.code(self.n, i, self.safe) for i in labels]
        return None if None in codes else f"({', '.join(codes)}{',' if len(codes) == 1 else ''})"

    # --- expressions -----------------------------------------------------------------
    def expr(self, e) -> L:
        if e.is_Number or e in (sp.pi, sp.E):
            return L(num(e), ())
        if isinstance(e, Index):
            raise NotMatrix("a bare index")
        if isinstance(e, sp.Symbol):
            return L(leaf(e.name, "s"), ())
        if isinstance(e, sp.Indexed):
            return self.tensor(leaf(str(e.base.label), _KIND[min(len(e.indices), 2)]), tuple(e.indices))
        if isinstance(e, Inv):
            return self.tensor(M("inv", (), (str(e.args[0].label),), "m"), tuple(e.args[1:]))
        if isinstance(e, sp.KroneckerDelta):
            return self.tensor(eye(self.sizes.code(self.n, e.args[0], self.safe)), tuple(e.args))
        if isinstance(e, Len):
            return L(self.size(e.args[0]), ())
        if isinstance(e, Size):
            return L(M("size", (), (f"size({e.tensor}, {e.axis})", f"{self.safe(e.tensor)}.shape[{e.axis}]")), ())
        if isinstance(e, (Det, LogDet)):
            return L(M("det" if isinstance(e, Det) else "logdet", (), (str(e.args[0].label),)), ())
        if isinstance(e, ISum):
            return self.product(list(sp.Mul.make_args(e.body)), set(e.indices))
        if isinstance(e, sp.Mul):
            return self.product(list(e.args), set())
        if isinstance(e, sp.Add):
            return self.add(e)
        if isinstance(e, sp.Pow):
            if not e.exp.is_Number:
                raise NotMatrix("a power with a tensor exponent")
            base = self.expr(e.base)
            return L(power(base.m, e.exp), base.labels)
        f = BY_CLASS.get(type(e))
        if f is not None and f.kind in ("elementwise", "binary", "power") or type(e) is sp.exp or type(e) is sp.log:
            args = [self.expr(a) for a in e.args]
            labels = _union([a.labels for a in args], self.left)
            if len(labels) > 2:
                raise NotMatrix("rank above 2")
            ms = [self.shaped(a, labels) if a.labels and a.labels != labels else a.m for a in args]
            return L(fn(f.name if f is not None else type(e).__name__, *ms), labels)
        raise NotMatrix(f"no matrix form for {type(e).__name__}")

    def tensor(self, m: M, labels) -> L:
        if len(labels) > 2:
            raise NotMatrix("rank above 2")
        if len(labels) == 2 and labels[0] == labels[1]:
            if m.op == "eye":
                return L(num(1), ())
            return L(M("diagof", (m,), (), "c"), labels[:1])
        return L(m, labels)

    def add(self, e) -> L:
        terms = sorted(e.args, key=lambda t: (is_negative(t), not free_indices(t), sp.count_ops(t)))
        parts = [self.expr(t) for t in terms]
        labels = _union([p.labels for p in parts], self.left)
        if len(labels) > 2:
            raise NotMatrix("rank above 2")
        full = any(set(p.labels) == set(labels) for p in parts)
        out = [p.m if not p.labels and full else self.shaped(p, labels) for p in parts]
        return L(add(*out), labels)

    # --- products ---------------------------------------------------------------------
    def product(self, factors, summed) -> L:
        """The product of ``factors`` summed over ``summed``: element-wise products of
        equal shapes first, then contractions over an index only two factors carry (a
        matrix product, or a trace), then ``diag(v) A`` and outer products ``x yᵀ``;
        an index only one factor carries is summed there (``1ᵀ A``, ``A 1``)."""
        scalars, tensors = [], []
        for f in chain_order(factors, list(self.left)):
            v = self.expr(f)
            (tensors if v.labels else scalars).append(v)
        present = {i for t in tensors for i in t.labels}
        for i in sorted(summed - present, key=str):
            scalars.append(L(self.size(i), ()))
        summed = summed & present
        while True:
            tensors = self._reduce_lonely(tensors, summed, scalars)
            if len(tensors) <= 1:
                break
            tensors = self._combine(tensors, summed)
        coeff = num(1)
        for s in scalars:
            coeff = scale(coeff, s.m)
        if not tensors:
            return L(coeff, ())
        (t,) = tensors
        return L(scale(coeff, t.m), t.labels)

    def _reduce_lonely(self, tensors, summed, scalars):
        out = []
        for t in tensors:
            others = {i for u in tensors if u is not t for i in u.labels}
            lonely = [i for i in t.labels if i in summed and i not in others]
            if not lonely:
                out.append(t)
                continue
            if len(t.labels) == 1:
                scalars.append(L(reduce_rows(t.m), ()))
                continue
            if len(lonely) == 2:
                scalars.append(L(reduce_rows(reduce_cols(t.m)), ()))
                continue
            (i,) = lonely
            rows, cols = t.labels
            out.append(L(reduce_rows(t.m), (cols,)) if i == rows else L(reduce_cols(t.m), (rows,)))
        return out

    def _combine(self, tensors, summed):
        """Combine one pair of ``tensors`` (the first of the best kind)."""
        count = {}
        for t in tensors:
            for i in t.labels:
                count[i] = count.get(i, 0) + 1
        pairs = [(a, b) for a in range(len(tensors)) for b in range(a + 1, len(tensors))]
        for rule in (self._hadamard, self._contract, self._scaled_rows, self._outer):
            for a, b in pairs:
                out = rule(tensors[a], tensors[b], summed, count)
                if out is not None:
                    return [out if k == a else t for k, t in enumerate(tensors) if k != b]
        raise NotMatrix("no pair of factors combines")

    @staticmethod
    def _hadamard(a, b, summed, count):
        if set(a.labels) != set(b.labels):
            return None
        if a.m.kind in "cr":  # vectors: columns
            return L(had(orient(a.m, "c"), orient(b.m, "c")), a.labels)
        other = b.m if b.labels == a.labels else transpose(b.m)
        return L(had(a.m, other), a.labels)

    @staticmethod
    def _contract(a, b, summed, count):
        shared = set(a.labels) & set(b.labels)
        if not shared or any(i not in summed or count[i] != 2 for i in shared):
            return None
        if len(shared) == 2:  # a trace: both matrices, both indices summed here
            p, q = a.labels
            other = b.m if b.labels == (q, p) else transpose(b.m)
            return L(M("tr", (mm(a.m, other),), (), "s"), ())
        (s,) = shared
        left = _with_last(a, s)
        right = _with_first(b, s)
        labels = tuple(i for i in a.labels if i != s) + tuple(i for i in b.labels if i != s)
        return L(mm(left, right), labels)

    @staticmethod
    def _scaled_rows(a, b, summed, count):
        if len(a.labels) == 2 and len(b.labels) == 1:
            a, b = b, a
        if len(a.labels) != 1 or len(b.labels) != 2 or a.labels[0] not in b.labels:
            return None
        if a.labels[0] == b.labels[0]:
            return L(mm(diag(a.m), b.m), b.labels)
        return L(mm(b.m, diag(a.m)), b.labels)

    @staticmethod
    def _outer(a, b, summed, count):
        if len(a.labels) != 1 or len(b.labels) != 1 or a.labels == b.labels:
            return None
        return L(mm(orient(a.m, "c"), orient(b.m, "r")), a.labels + b.labels)


_KIND = {0: "s", 1: "c", 2: "m"}


def _with_last(t: L, s) -> M:
    """``t`` as the left factor of a product summing ``s``: a row, or ``s`` its columns."""
    if len(t.labels) == 1:
        return orient(t.m, "r")
    return t.m if t.labels[1] == s else transpose(t.m)


def _with_first(t: L, s) -> M:
    if len(t.labels) == 1:
        return orient(t.m, "c")
    return t.m if t.labels[0] == s else transpose(t.m)


def _union(label_lists, left) -> tuple:
    """The distinct labels, the statement's left indices first in their order."""
    seen = list(dict.fromkeys(i for ls in label_lists for i in ls))
    return tuple(sorted(seen, key=lambda i: (left.index(i) if i in left else len(left) + seen.index(i))))


def _starts_with_ones(m) -> bool:
    while m.op in ("mm", "prod") and m.args:
        m = m.args[0]
    return m.op == "T" and m.args[0].op == "ones"


# --- Kronecker products -------------------------------------------------------------------
def kronecker(rec: Recognizer, st, n) -> M:
    """``dY_dX[i,j,k,l]`` (``Y[i,j]``, ``X[k,l]``) as ``∂vec(Y)/∂vec(X)``, columns
    stacked: a sum of terms ``F[i,k] G[j,l]`` is ``Σ G ⊗ F``."""
    y0, y1, x0, x1 = st.indices
    rec.n, rec.left = n, (y0, x0)
    rec.lhs = f"{st.name}[{','.join(map(str, st.indices))}]"
    terms = []
    for term in sp.Add.make_args(st.expr):
        groups = {0: [], 1: []}
        scalars = []
        for f in sp.Mul.make_args(term):
            idx = free_indices(f)
            if isinstance(f, ISum) or any(isinstance(a, ISum) for a in preorder(f)):
                raise NotMatrix("a sum inside a Kronecker factor")
            if not idx:
                scalars.append(f)
            elif idx <= {y0, x0}:
                groups[0].append(f)
            elif idx <= {y1, x1}:
                groups[1].append(f)
            else:
                raise NotMatrix("a factor that is not a Kronecker factor")
        factors = []
        for (r, c), group in zip(((y0, x0), (y1, x1)), (groups[0], groups[1])):
            rec.left = (r, c)
            v = rec.product(group, set()) if group else L(num(1), ())
            factors.append(rec.shaped(v, (r, c)))
        coeff = rec.product(scalars, set()).m if scalars else num(1)
        terms.append(scale(coeff, M("kron", (factors[1], factors[0]), (), "m")))
    return add(*terms)
