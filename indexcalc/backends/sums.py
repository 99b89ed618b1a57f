"""A product with a sum of dense terms, printed one product per term where
:func:`~indexcalc.lower.plan.distributes` says that is cheaper: the batched HVP of
``f = x[i]*A[i,j]*x[j]`` is ``vx @ A.T + vx @ A`` (two BLAS products) rather than
``vx @ (A + A.T).T``, whose ``A + A.T`` is a strided pass over an n×n temporary.

    >>> import indexcalc as ic
    >>> from indexcalc.backends.numpy import numpy_source
    >>> print(numpy_source(ic.parse("h[b,i] = v[b,j]*(A[i,j] + A[j,i])"), header=False).splitlines()[3])
        h = v @ A.T + v @ A

The same mixin prints a comparison of a difference as one comparison (:meth:`SumPrinting.compared`):
the max's gradient indicator ``1 - step(m[i] - s[i,j])`` is ``1 - (m[:, None] > s)``.
"""

from __future__ import annotations

from indexcalc.backends import blocked
from indexcalc.lower.ir import COMPARISONS, Contract, Input, Map, Position
from indexcalc.lower.plan import distributes, gemm_shaped, plan


class SumPrinting:
    """The printer's cases of sums: a two-operand contraction of a sum, and a sum of
    matrices read in both orders (a mixin of the array printer)."""

    def transposed_sum(self, node, plain):
        """Code of a sum of matrices read in both orders (``A + A.T``, printed ``plain``),
        cache-blocked where the dialect has a blocked form and the matrices are large
        (:mod:`indexcalc.backends.blocked`); else None."""
        parts = blocked.terms(self, node) if self.d.blocked_sums else None
        return parts and self.d.blocked_sum(parts, plain)

    def distributed(self, node):
        """``(code, layout)`` of ``node`` (a two-operand :class:`Contract`) as one product
        per term of its sum operand, added; None where that is not cheaper (or the sum is
        not of dense arrays of its shape, read once)."""
        if not isinstance(node.op, Contract) or len(node.args) != 2:
            return None
        out = node.op.output
        for j, (s, ls) in enumerate(node.args):
            snode = self.g[s]
            if snode.op != Map("add") or s in self.var or s in self.onto or len(set(ls)) != len(ls):
                continue
            terms = []
            for t, tpos in snode.args:
                tn = self.g[t]
                if tn.rank != snode.rank or not (isinstance(tn.op, Input) or t in self.var):
                    break
                code, layout = self.expr(t)
                terms.append((code, tuple(ls[tpos[i]] for i in layout)))
            else:
                o, ols = node.args[1 - j]
                ocode, olayout = self.expr(o)
                other = tuple(ols[i] for i in olayout)
                if len(set(other)) != len(other) or not all(
                        plan(Contract, [tl, other], out).kind == "matmul" or gemm_shaped(tl, other, out)
                        for _, tl in terms):
                    return None
                if not distributes([tl for _, tl in terms], other, out):
                    return None
                parts = []
                for code, tl in terms:
                    c, layout = self.binary((code, tl), (ocode, other), out=out)
                    parts.append(self.align(c, list(layout), len(out)))
                return " + ".join(parts), tuple(range(len(out)))
        return None

    def compared(self, node):
        """Code of a comparison map ``node`` printed as one comparison of its operands'
        parts: ``step(a - b)`` as ``(a > b)`` (:meth:`step_of_difference`); positions alone
        compared (the causal mask ``(j <= i)``) as the dialect's ``compared_arange`` (NumPy:
        int32, twice as fast as int64); None otherwise."""
        fn = node.op.function
        if fn == "step":
            return self.step_of_difference(node)
        if fn in COMPARISONS and all(isinstance(self.g[a].op, Position) and a not in self.var for a, _ in node.args):
            return self.d.function(fn, [self.align(self.d.compared_arange(self.size_var(self.g[a].axes[0])),
                                                   list(pos), node.rank) for a, pos in node.args], [False] * len(node.args))
        return None

    def step_of_difference(self, node):
        """``step(a - b)`` (the max's gradient indicator, ``1 - step(m[i] - s[i,j])``) as
        the comparison ``(a > b)``: one pass and no difference array. The same truth for
        every float: ``a - b > 0`` exactly where ``a > b`` (a difference rounds to 0 only
        where ``a == b``; infinities of one sign and NaN compare false either way). None
        where the argument is not a difference of two terms printed in place."""
        (a, pos), = node.args
        arg = self.g[a]
        if a in self.var or arg.op != Map("add") or len(arg.args) != 2:
            return None
        terms = dict(self.term(b, bpos, arg.rank) for b, bpos in arg.args)
        if len(terms) != 2:  # one "+" term and one "-" term
            return None
        code = self.d.spelling["gt"].format(terms["+"], terms["-"])
        return self.align(code, [pos[i] for i in range(arg.rank)], node.rank)

