"""Weighted Gram matrices ``Σ_n c[n]·X[n,d]·X[n,e]`` printed as one symmetric BLAS product.

The Hessian of logistic regression (and of any loss of ``X·w``: a GLM) is
``Xᵀ diag(c) X``. Printed as it comes (``X.T @ (c[:, None]*X)``) it is a general matrix
product (GEMM). It is symmetric: with ``Z = sqrt(c)[:, None]*X`` it is ``Z.T @ Z``, which
NumPy's ``matmul`` computes with SYRK (one triangle: half the arithmetic). ``_gram``
(:data:`NUMPY`, in the generated module) does that where every ``c`` has one sign (all
``>= 0``, or all ``<= 0`` and the result negated), else the GEMM; integers and complex
numbers always take the GEMM (a square root would change the arithmetic), and so do
small products (under 2**20 multiply-adds: 256 x 32 is faster as one GEMM than with the
sign tests and the square roots). A NaN fails both sign tests (the GEMM propagates it).

:meth:`GramPrinting.find_grams` finds the contractions of that form before printing: a
:class:`~indexcalc.lower.ir.Contract` over one label of two reads of one matrix (its
free axes the result's two axes) and vectors over that label and numbers, the factors of a
product operand included, also of a product variable that nothing else reads (the
logistic ``dt1_dw[n,e] = -X[n,e]*t1[n]*y[n]``: it is then never computed).

    >>> import indexcalc as ic
    >>> from indexcalc.backends.numpy import numpy_source
    >>> src = numpy_source(ic.parse("H[d,e] = X[n,d]*y[n]^2*X[n,e]"), header=False)
    >>> print(src.splitlines()[3])
        H = _gram(X, y**2)
    >>> print(numpy_source(ic.parse("H[d,e] = X[n,d]*X[n,e]"), header=False).splitlines()[3])
        H = X.T @ X
"""

from __future__ import annotations

from indexcalc.backends.dialect import factor, literal
from indexcalc.lower.ir import Const, Contract, Input, Map

#: the NumPy helper (carried by a module only where its code calls it)
NUMPY = """

def _gram(x, c):  # x.T @ (c[:, None]*x), symmetric: Z.T @ Z (SYRK, half the work) where c keeps one sign
    if x.dtype.kind == "f" and c.dtype.kind == "f" and x.shape[0]*x.shape[1]**2 >= 1 << 20:  # (small: the checks cost more)
        if (c >= 0).all():
            z = np.sqrt(c)[:, None]*x
            return z.T @ z
        if (c <= 0).all():
            z = np.sqrt(-c)[:, None]*x
            out = z.T @ z
            return np.negative(out, out=out)
    return x.T @ (c[:, None]*x)
"""


class GramPrinting:
    """The printer's case of a weighted Gram matrix (a mixin of the array printer)."""

    def find_grams(self) -> dict:
        """``{contract node: (matrix node, summed axis of the matrix, vector nodes,
        coefficient)}`` for the contractions :func:`_gram` computes, where the dialect has
        it; the product variables they absorb lose their variable (never printed)."""
        out = {}
        if not getattr(self.d, "grams", False) or getattr(self, "parent", None) is not None:
            return out
        for k in self.ids:
            node = self.g[k]
            if not isinstance(node.op, Contract) or len(node.args) < 2:
                continue
            found = self._gram_form(node)
            if found is not None:
                out[k], absorbed = found[:4], found[4]
                for a in absorbed:
                    self.var.pop(a, None)
        return out

    def _absorbable(self, a) -> bool:
        """Whether variable ``a`` (a product) may be read through its factors: read only by
        the contraction, no argument, result, given or number."""
        return (self.uses.get(a) == 1 and a not in self.results and a not in self.given and a not in self.static
                and not isinstance(self.g[a].op, Input))

    def _gram_form(self, node):
        out = node.op.output
        if len(out) != 2 or out[0] == out[1]:
            return None
        factors, absorbed = [], []

        def expand(a, ls):
            child = self.g[a]
            if child.op == Map("mul") and len(set(ls)) == len(ls) and (a not in self.var or self._absorbable(a)):
                if a in self.var:
                    absorbed.append(a)
                for f, pos in child.args:
                    expand(f, tuple(ls[p] for p in pos))
            else:
                factors.append((a, ls))
        for a, ls in node.args:
            expand(a, tuple(ls))
        summed = {x for _, ls in factors for x in ls} - set(out)
        if len(summed) != 1:
            return None
        (s,) = summed
        mats = [(a, ls) for a, ls in factors if self.g[a].rank == 2]
        vectors = [a for a, ls in factors if ls == (s,)]
        consts = [a for a, ls in factors if isinstance(self.g[a].op, Const)]
        if len(mats) != 2 or not vectors or len(mats) + len(vectors) + len(consts) != len(factors):
            return None
        (m, la), (m2, lb) = mats
        if m != m2 or s not in la or la.index(s) != lb.index(s) or {x for x in la + lb if x != s} != set(out):
            return None
        coeff = 1
        for a in consts:
            coeff *= self.g[a].op.value
        return m, la.index(s), vectors, coeff, absorbed

    def gram(self, k):
        """``(code, layout)`` of contraction ``k`` as ``_gram`` (:meth:`find_grams`), else None."""
        if getattr(self, "parent", None) is not None or k not in getattr(self, "grams", {}):
            return None
        m, axis, vectors, coeff = self.grams[k]
        code, layout = self.expr(m)
        if layout[0] != axis:
            code = self.d.transpose(code, (1, 0))
        weights = ("" if coeff == 1 else "-" if coeff == -1 else factor(literal(coeff)) + "*") + \
            "*".join(factor(self.expr(a)[0]) for a in vectors)
        return self.d.gram(code, weights), (0, 1)
