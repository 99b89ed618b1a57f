"""Sums and products of the array printer (:mod:`indexcalc.backends.printer`): terms
with their signs, factors in order of rank, and a product whose one full-size factor is a
fresh temporary scaled *in place* (README "Python": a Jacobian or a Hessian allocates its
result, not a scaled copy of it).

A Hessian ``-2*W1[q,m]*h[m]*w2[m]*dh_dx[m,r]`` is one matrix product ``_t2`` times ``-2``:
``(-2)*_t2`` would be a second array of the result's size. Where ``_t2`` is a temporary
that nothing else reads, made by an operation that returns a new array (a product, a sum,
a contraction of two or more operands), NumPy prints ``np.multiply(_t2, (-2), out=_t2)``
and PyTorch ``_t2.mul_((-2))`` (autograd saves no operation's output among those, so the
exported autograd code stays correct); JAX keeps ``(-2)*_t2`` (XLA fuses it under ``jit``).

    >>> import indexcalc as ic
    >>> from indexcalc.backends.numpy import NUMPY_DIALECT
    >>> from indexcalc.backends.printer import ArrayPrinter
    >>> prog = ic.parse("H[q,r] = -2*W[q,m]*v[m]*J[m,r]")
    >>> lines = ArrayPrinter(prog, {"H": "H"}, NUMPY_DIALECT).function("f").splitlines()
    >>> print("\\n".join(lines[2:4]))
        _t1 = W @ (v[:, None]*J)
        H = np.multiply(_t1, (-2), out=_t1)
"""

from __future__ import annotations

import sympy as sp

from indexcalc.backends.dialect import factor, literal, paren
from indexcalc.lower.ir import Const, Contract, Diagonal, Map
from indexcalc.lower.plan import plan


class ArithmeticPrinting:
    """The printer's ``add`` and ``mul`` cases of :class:`~indexcalc.lower.ir.Map`."""

    def add(self, node) -> str:
        code = self.delta_sum(node)  # README "Gathers": rest + c*delta(c, y[n]), no comparison array
        if code is not None:
            return code
        terms = [self.term(a, pos, node.rank) for a, pos in node.args]
        if (code := self.accumulated(node, terms)) is not None:
            return code
        terms.sort(key=lambda t: t[0] == "-")
        out = "".join(f" {s} {c}" for s, c in terms)
        return out[3:] if out.startswith(" + ") else "-" + out[3:]

    def term(self, a, pos, rank):
        """``(sign, code)`` of one term of a sum: ``-2*x`` prints as ``- 2*x``."""
        node = self.g[a]
        if a in self.var:
            return "+", self.aligned(a, pos, rank)
        if isinstance(node.op, Const) and node.op.value < 0:
            return "-", literal(-node.op.value)
        if node.op == Map("mul"):
            coeff = [b for b, _ in node.args if isinstance(self.g[b].op, Const)]
            if coeff and self.g[coeff[0]].op.value < 0:
                code = self.mul(node, negate=True)
                return "-", self.align(code, [pos[i] for i in range(node.rank)], rank)
        return "+", self.aligned(a, pos, rank)

    def mul(self, node, negate=False) -> str:
        """A product, factors in order of rank so that numbers and small arrays multiply
        each other before they meet a large one (``2/n*dvar[:, None]*xc``: one full pass);
        negative powers are divisions. A product of one fresh full-size temporary and
        smaller factors scales the temporary in place where the dialect can
        (:meth:`scalable`); ``negate`` (a term printed after a minus) never does."""
        coeff = sp.Integer(-1 if negate else 1)
        items = []  # (rank, boolean, divide, code, node, positions)
        for a, pos in node.args:
            child, op = self.g[a], self.g[a].op
            if isinstance(op, Const):
                coeff *= op.value
                continue
            divide = a not in self.var and isinstance(op, Map) and op.function == "pow" and op.parameters[0] < 0
            if divide:
                (b, bpos), = child.args
                code = self.power(self.aligned(b, [pos[i] for i in bpos], node.rank), -op.parameters[0],
                                  a in self.static)
            else:
                code = self.aligned(a, pos, node.rank, boolean=True)
            boolean = isinstance(op, Map) and op.function in self.d.boolean and a not in self.static and not divide
            items.append((child.rank, boolean, divide, code, a, pos))
        items.sort(key=lambda t: (t[0], t[1]))
        big = None if negate else self.scalable(node, items)
        if big is not None:
            big = items.pop(big)[3]
            scaled = self.d.scale_into(big, _product(coeff, items, self.aligned, node.rank))
            if scaled is not None:
                return scaled
            items.append((node.rank, False, False, big, None, None))
        return _product(coeff, items, self.aligned, node.rank)

    def scalable(self, node, items):
        """The position in ``items`` of the factor to scale in place: the only one of the
        product's rank, a temporary variable read only here and made by an operation that
        returns a new array; the others numbers or smaller arrays, no comparison. Else None."""
        full = [n for n, (rank, _, divide, _, a, _) in enumerate(items) if rank == node.rank and not divide]
        if len(full) != 1 or any(b for _, b, *_ in items) or not node.rank:
            return None
        (n,) = full
        return n if self.fresh_temporary(items[n][4]) else None

    def scaled_product(self, node, codes, labels, out):
        """``(code, layout)`` of a contraction of two operands that is a product after each
        operand's own sums (``sum[k](t[n,k])*dp_dz[n,c,o,d]``) whose operand of the result's
        labels is a fresh variable (:meth:`fresh_temporary`): the other operand multiplied
        into it in place; else None."""
        if len(codes) != 2 or not isinstance(node.op, Contract):
            return None
        p = plan(type(node.op), labels, out)
        if p.kind != "product" or self.d.scale_into("a", "2") is None:
            return None
        for n, (a, _) in enumerate(node.args):
            if tuple(p.labels[n]) == tuple(out) and not p.presum[n] and self.fresh_temporary(a) and \
                    tuple(labels[n]) == tuple(out):
                m = 1 - n
                small = self.d.reduce("sum", codes[m], p.presum[m]) if p.presum[m] else codes[m]
                small = self.align(small, [out.index(i) for i in p.labels[m]], len(out))
                return self.d.scale_into(codes[n], small), tuple(range(len(out)))
        return None

    def fresh_temporary(self, a) -> bool:
        """Whether node ``a`` is a variable read once (by the product that scales it; not an
        argument, a saved or a returned value), whose code returns a new array: a product or
        a sum of two or more operands, a contraction of two or more, a diagonal write."""
        if not (a in self.var and self.uses.get(a) == 1 and a not in self.given and a not in self.static):
            return False
        return _new_array(self.g[a])

    def scaled_operands(self, roots) -> set:
        """The nodes to print as variables of their own so that a product or a sum of a
        result's size works in their array (:meth:`mul` scales it, :meth:`add` adds the
        other terms into it). From each result (``roots``) down: a product's only factor of
        its rank, a sum's first term of its rank, each read once and a new array
        (``_onto(..)*_t3[:, None, None, None]`` and ``a - 0.5*_t3*y*dvar_dx`` in the
        layernorm Jacobian). Products and sums elsewhere stay one expression."""
        out = set()
        if self.d.scale_into("a", "2") is None:
            return out
        todo = [k for k in set(roots) & set(self.ids) if self.g[k].rank]
        while todo:
            k = todo.pop()
            node = self.g[k]
            if k in self.static or node.op not in (Map("mul"), Map("add")) or k in self.integral:
                continue
            args = [a for a, _ in node.args if a != self.onto.get(k)]
            full = [a for a in args if self.g[a].rank == node.rank]
            if node.op == Map("mul") and len(full) != 1:
                continue
            for a in full:
                if self.uses.get(a) == 1 and a not in self.static and a not in self.given and \
                        a not in self.integral and _new_array(self.g[a]):
                    out.add(a)
                    todo.append(a)
                    break
        return out

    def accumulated(self, node, terms):
        """``terms`` (``(sign, code)``, :meth:`term`) of a sum summed into the array of the
        first that is a fresh variable of the sum's rank, in place (:meth:`Dialect.add_into`);
        else None."""
        fresh = [n for n, (a, _) in enumerate(node.args) if self.g[a].rank == node.rank and self.fresh_temporary(a)]
        if not fresh or self.d.add_into("a", "a", "b", "+") is None or self.g.ids.get(node) in self.integral:
            return None
        (sign, acc), rest = terms[fresh[0]], terms[:fresh[0]] + terms[fresh[0] + 1:]
        var, negative = acc, sign == "-"
        for s, code in rest:
            if not negative:
                acc = self.d.add_into(acc, var, code, s)
            elif s == "+":  # -acc + code
                acc, negative = self.d.add_into(acc, var, code, "r-"), False
            else:  # -acc - code = -(acc + code)
                acc = self.d.add_into(acc, var, code, "+")
        return self.d.add_into(acc, var, None, "neg") if negative else acc


def _new_array(node) -> bool:
    """Whether the printed code of ``node`` returns a new array, never a view or an input."""
    if isinstance(node.op, Diagonal):
        return True
    return len(node.args) >= 2 and (isinstance(node.op, Contract) or node.op in (Map("mul"), Map("add")))


def _product(coeff, items, aligned, rank) -> str:
    """``items`` (as :meth:`ArithmeticPrinting.mul` collects them) times ``coeff``, printed."""
    # a boolean factor stays a comparison only after an array of the data's dtype: a
    # number first would make it an integer array, and -bool is an error
    out, floats = ("" if coeff == 1 else "-" if coeff == -1 else paren(literal(coeff)) + "*"), False
    for _, boolean, divide, code, a, pos in items:
        if boolean and not floats:  # bool*bool or -bool would not be the data's dtype
            code = aligned(a, pos, rank)
        if divide:
            head = out.rstrip("*")
            out = (head + "1" if head in ("", "-") else head) + "/" + factor(code) + "*"
        else:
            out += factor(code) + "*"
        floats = floats or not boolean
    out = out.rstrip("*")
    return out if out not in ("", "-") else out + "1"
