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
from indexcalc.lower.ir import COMPARISONS, Const, Contract, Diagonal, Map
from indexcalc.lower.plan import plan


class ArithmeticPrinting:
    """The printer's ``add`` and ``mul`` cases of :class:`~indexcalc.lower.ir.Map`."""

    def add(self, node, assigned=None) -> str:
        """A sum; ``assigned``: whether its code is a variable's own assignment (default: the
        node's), the only place where terms are added in place (:meth:`accumulated`)."""
        code = self.delta_sum(node)  # README "Gathers": rest + c*delta(c, y[n]), no comparison array
        if code is None:
            code = self.boolean_sum(node)  # 1 - (m > s) in one pass (the max's gradient)
        if code is not None:
            return code
        terms = [self.term(a, pos, node.rank) for a, pos in node.args]
        if (self.assigned(node) if assigned is None else assigned) and \
                (code := self.accumulated(node, terms)) is not None:
            return code
        terms.sort(key=lambda t: t[0] == "-")
        out = "".join(f" {s} {c}" for s, c in terms)
        plain = out[3:] if out.startswith(" + ") else "-" + out[3:]
        return self.transposed_sum(node, plain) or plain  # A + A.T: tile by tile where large

    def boolean_sum(self, node):
        """A number plus or minus one comparison (``1 - (m[:, None] > s)``: the indicator of
        a maximum's gradient) as the dialect's one call (:meth:`Dialect.boolean_sum`), or None."""
        parts = self.boolean_term(node)
        if parts is None:
            return None
        number, a, pos, sign = parts
        code = self.aligned(a, pos, node.rank, boolean=True)
        return self.d.boolean_sum(literal(number), code, sign)

    def boolean_term(self, node):
        """``(number, comparison node, its positions, sign)`` of a sum that
        :meth:`boolean_sum` prints, or None."""
        if len(node.args) != 2 or node.rank == 0 or self.g.ids.get(node) in self.integral or \
                self.d.boolean_sum("1", "b", "+") is None:
            return None
        numbers = [(a, pos) for a, pos in node.args if isinstance(self.g[a].op, Const)]
        if len(numbers) != 1:
            return None
        (a, pos), = [arg for arg in node.args if arg not in numbers]
        sign, child = "+", self.g[a]
        if a not in self.var and child.op == Map("mul") and len(child.args) == 2:
            coeff = [b for b, _ in child.args if isinstance(self.g[b].op, Const)]
            if len(coeff) != 1 or self.g[coeff[0]].op.value != -1:
                return None
            (a, inner), = [(b, p) for b, p in child.args if b != coeff[0]]
            sign, pos, child = "-", tuple(pos[i] for i in inner), self.g[a]
        if not (isinstance(child.op, Map) and child.op.function in self.d.boolean and a not in self.static):
            return None
        return self.g[numbers[0][0]].op.value, a, pos, sign

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
        # a result formed by broadcasting smaller factors comes out in C order (not copied
        # again to be returned) where no factor is read transposed: the inverse's Jacobian
        # -B[:, None, :, None]*B.T[:, None, :] reads B.T as a contiguous copy of B's size
        outer = self.g.ids.get(node) in getattr(self, "results", ()) and node.rank >= 2 and \
            all(self.g[a].rank < node.rank for a, _ in node.args) and self.d.contiguous("a", True) is not None
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
            elif outer:
                code = self.ordered(a, pos, node.rank)
            else:
                code = self.aligned(a, pos, node.rank, boolean=True)
            boolean = isinstance(op, Map) and op.function in self.d.boolean and a not in self.static and not divide
            items.append((child.rank, boolean, divide, code, a, pos))
        items.sort(key=lambda t: (t[0], t[1]))
        big = None if negate or not self.assigned(node) else self.scalable(node, items)
        if big is not None:
            big = items.pop(big)[3]
            scaled = self.d.scale_into(big, _product(coeff, items, self.aligned, node.rank))
            if scaled is not None:
                return scaled
            items.append((node.rank, False, False, big, None, None))
        return _product(coeff, items, self.aligned, node.rank)

    def ordered(self, a, pos, rank) -> str:
        """Operand ``a`` aligned as :meth:`aligned` does, in C order where the dialect says
        (:meth:`Dialect.contiguous`: a transposed view copied, an array of unknown layout)."""
        code, layout = self.expr(a, True)
        targets = [pos[i] for i in layout]
        order = sorted(range(len(targets)), key=lambda j: targets[j])
        transposed = order != list(range(len(targets)))
        if transposed:
            code = self.d.transpose(code, order)
        if len(targets) >= 2:
            code = self.d.contiguous(code, transposed)
        return self.align(code, sorted(targets), rank)

    def scalable(self, node, items):
        """The position in ``items`` of the factor to scale in place: one of the product's
        rank, a temporary variable (or a statement's value) read only here and made by an
        operation that returns a new array; the others numbers or arrays of any size (``t1 =
        e*de`` in causal attention's backward: into ``de``'s array), no comparison. Else None."""
        full = [n for n, (rank, _, divide, _, a, _) in enumerate(items) if rank == node.rank and not divide]
        if not full or any(b for _, b, *_ in items) or not node.rank:
            return None
        return next((n for n in full if self.fresh_temporary(items[n][4]) and items[n][4] not in self.integral), None)

    def scaled_product(self, node, codes, labels, out):
        """``(code, layout)`` of a contraction of two operands that is a product after each
        operand's own sums (``sum[k](t[n,k])*dp_dz[n,c,o,d]``) whose operand of the result's
        labels is a fresh variable (:meth:`fresh_temporary`): the other operand multiplied
        into it in place; else None."""
        if len(codes) != 2 or not isinstance(node.op, Contract) or not self.assigned(node):
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

    def folded(self, node, codes, labels):
        """``(codes, labels)`` of a contraction whose operand ``b`` is a fresh variable
        (``dt1_dw[n,e]`` in the logistic Hessian ``Σ_n X[n,d]·y[n]·dt1_dw[n,e]/(1 + t1[n])²``):
        the operands whose labels are among ``b``'s, fewer (``y[n]``, ``(1 + t1[n])^-2``,
        factors of a product operand included), multiplied into ``b`` in place, so they
        never scale a copy of another array of that size; else None. ``codes`` and
        ``labels``: the operands' code and labels in physical axis order."""
        if len(node.args) < 2 or not self.assigned(node):
            return None
        fresh = [n for n, (a, _) in enumerate(node.args) if self.fresh_temporary(a) and len(set(labels[n])) == len(labels[n])]
        if not fresh:
            return None
        m = max(fresh, key=lambda n: len(labels[n]))
        target = labels[m]
        parts = []  # (node or None, code or None, labels, expanded from a product)
        for n, (a, ls) in enumerate(node.args):
            if n != m and a not in self.var and self.g[a].op == Map("mul") and len(set(ls)) == len(ls):
                parts += [(f, None, tuple(ls[p] for p in pos)) for f, pos in self.g[a].args]
            elif n != m:
                parts.append((a, codes[n], labels[n]))
        small = [q for q in parts if set(q[2]) < set(target) and len(set(q[2])) == len(q[2]) and not (
            isinstance(self.g[q[0]].op, Map) and self.g[q[0]].op.function in self.d.boolean)]
        if not any(not isinstance(self.g[q[0]].op, Const) for q in small):
            return None
        coeff, items = sp.Integer(1), []
        for f, _, fl in small:
            if isinstance(self.g[f].op, Const):
                coeff *= self.g[f].op.value
            else:
                pos = [target.index(x) for x in fl]
                items.append((self.g[f].rank, False, False, self.aligned(f, pos, len(target)), f, pos))
        items.sort(key=lambda t: t[0])
        factor_code = _product(coeff, items, self.aligned, len(target))
        # (JAX: a product, which XLA fuses with b's own element-wise computation under jit)
        out_codes = [self.d.scale_into(codes[m], factor_code) or f"{paren(codes[m])}*{paren(factor_code)}"]
        out_labels = [target]
        for f, code, fl in parts:
            if (f, code, fl) in small:
                continue
            if code is None:
                code, layout = self.expr(f)
                fl = tuple(fl[i] for i in layout)
            out_codes.append(code)
            out_labels.append(fl)
        return out_codes, out_labels

    def assigned(self, node) -> bool:
        """Whether ``node`` is printed as its own assignment, once (code that works in place
        is never inlined where a printer might repeat it: ``vx @ A.T + vx @ A``), outside a
        recurrence's step (whose lines run once per step)."""
        return self.g.ids.get(node) in self.var and getattr(self, "parent", None) is None

    def fresh_temporary(self, a) -> bool:
        """Whether node ``a`` is a variable read once (by the product that scales it; not an
        argument, a saved or a returned value), whose code returns a new array: a product or
        a sum of two or more operands, a contraction of two or more, a diagonal write; never a
        number (``x @ z`` of vectors is a NumPy scalar: no ``out=``)."""
        if not (self.g[a].rank and a in self.var and self.uses.get(a) == 1 and a not in self.given
                and a not in self.static and getattr(self, "parent", None) is None):
            return False
        return _new_array(self.g[a], self.g)

    def _made(self, a) -> bool:
        """Whether node ``a`` is a new array that costs no pass of its own to be written into:
        a product or sum of two arrays or more, a contraction, or a multiple of one of those
        read only there (scaled in place). Not ``-t`` nor ``-_t3`` (``r = p - t`` would become
        a negation and an addition into it)."""
        node = self.g[a]
        arrays = [b for b, _ in node.args if not isinstance(self.g[b].op, Const)]
        if any(isinstance(self.g[b].op, Const) and self.g[b].op.value < 0 for b, _ in node.args):
            return False  # (-t1*gamma, -_t3: a negation pass; R - _t3 is one pass)
        if isinstance(node.op, (Contract, Diagonal)) or len(arrays) >= 2:
            return True
        return node.op == Map("mul") and len(arrays) == 1 and self.uses.get(arrays[0]) == 1 and \
            arrays[0] not in self.var and _new_array(self.g[arrays[0]], self.g) and self._made(arrays[0])

    def scaled_operands(self, roots, statements=()) -> set:
        """The nodes to print as variables of their own so that a product or a sum of a
        result's size works in their array (:meth:`mul` scales it, :meth:`add` adds the
        other terms into it). From each result (``roots``) down: a product's only factor of
        its rank, a sum's first term of its rank, each read once and a new array
        (``_onto(..)*_t3[:, None, None, None]`` and ``a - 0.5*_t3*y*dvar_dx`` in the
        layernorm Jacobian; ``ds = t1 + dm[:, None]/_t8[:, None]*t2`` in causal attention's
        backward, from a statement's value). Products and sums elsewhere stay one expression."""
        out = set()
        if self.d.scale_into("a", "2") is None:
            return out
        results = set(roots)  # (from a result down, any fresh term; from a statement, _made)
        todo = [(k, k in results) for k in (results | set(statements)) & set(self.ids) if self.g[k].rank]
        while todo:
            k, result = todo.pop()
            node = self.g[k]
            if k in self.static or node.op not in (Map("mul"), Map("add")) or k in self.integral:
                continue
            args = [a for a, _ in node.args if a != self.onto.get(k)]
            if node.op == Map("add") and any(self._compares(a) for a in args):
                continue  # rest + c*(c == y[n]): a write at the targets (delta_sum) instead
            if node.op == Map("add") and self.boolean_term(node) is not None:
                continue  # 1 - (m > s): one call (boolean_sum) instead
            if node.op == Map("add") and self.d.blocked_sums and _reads_transposed(self.g, node):
                continue  # A - B.T: written tile by tile (SumPrinting.transposed_sum) instead
            full = [a for a in args if self.g[a].rank == node.rank]
            if node.op == Map("mul") and len(full) != 1:
                continue
            for a in full:
                if self.uses.get(a) == 1 and a not in self.static and a not in self.given and \
                        a not in self.integral and _new_array(self.g[a], self.g) and (result or self._made(a)):
                    out.add(a)
                    todo.append((a, result))
                    break
        return out

    def _compares(self, a) -> bool:
        """Whether node ``a`` is a comparison or a product with one (not looking into a
        statement's value: :meth:`delta_sum` does not)."""
        if a in self.var:
            return False
        node = self.g[a]
        if node.op == Map("mul"):
            return any(self._compares(b) for b, _ in node.args)
        return isinstance(node.op, Map) and node.op.function in COMPARISONS

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


def _new_array(node, g) -> bool:
    """Whether the printed code of ``node`` (of graph ``g``) returns a new array, never a view
    or an input: not ``1*m``, printed ``m`` (``log`` of a scaled sum is ``log(stored) + 1*m``)."""
    if isinstance(node.op, Diagonal):
        return True
    if len(node.args) < 2 or not (isinstance(node.op, Contract) or node.op in (Map("mul"), Map("add"))):
        return False
    numbers = [g[b].op.value for b, _ in node.args if isinstance(g[b].op, Const)]
    if isinstance(node.op, Contract) or len(node.args) - len(numbers) >= 2:
        return True
    return sp.Mul(*numbers) != 1 if node.op == Map("mul") else sp.Add(*numbers) != 0


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


def _reads_transposed(g, node) -> bool:
    """Whether a sum of matrices reads a term (or a term's factor) in the other order:
    ``A[i,j] - B[j,i]``."""
    if node.rank != 2:
        return False
    for a, pos in node.args:
        child = g[a]
        if child.rank == 2 and list(pos) == [1, 0]:
            return True
        if child.op == Map("mul") and any(g[b].rank == 2 and [pos[i] for i in bpos] == [1, 0]
                                          for b, bpos in child.args):
            return True
    return False
