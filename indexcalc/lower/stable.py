"""Stable exponentials while lowering (:mod:`indexcalc.lower.build`): softmax and logsumexp
are made stable here, whatever names the user gave. A sum of ``exp(e)`` over some axes
gives ``exp(e)`` and the sum a *scale*: each is read as ``stored·exp(c·m)`` with ``m`` the
maximum of ``e`` over those axes and ``stored`` computed from ``exp(e - m)``. Products,
quotients, powers and sums of scaled values combine their stored forms; where the scales
cancel (``exp(e)/Σ exp(e)``, or ``e·(ds + dp/s)`` in a derived backward) only stored
values are computed. ``log`` of a scaled value is ``log(stored) + c·m``, and ``log`` of a
softmax is ``(e - m) - log Σ exp(e - m)``.

The value of a softmax reads ``exp(x - m)`` (``m`` its maximum over ``j``) and its sum,
never ``exp(x)``:

    >>> import indexcalc as ic
    >>> from indexcalc.lower.build import lower
    >>> low = lower(ic.parse("p[b,i] = exp(x[b,i]) / sum[j](exp(x[b,j]))"))
    >>> g, (p, _) = low.graph, low.values["p"]
    >>> [getattr(g[k].op, "function", type(g[k].op).__name__) for k in g.reachable([p])]
    ['Input', 'Max', 'Const', 'mul', 'add', 'exp', 'Contract', 'pow', 'mul']
"""

from __future__ import annotations

import sympy as sp

from indexcalc.lower.ir import Map, Max
from indexcalc.lower.ref import Ref


class StableExps:
    """The builder's (:class:`indexcalc.lower.build._Builder`) stable exponentials: its
    ``scale`` (node -> ``(labels, stored, m, c)``) and ``positive`` (nodes known to be
    positive) are read and written here."""

    def sum_exp(self, ex: Ref, keep) -> Ref:
        """``Σ exp(e)``: ``exp(e)`` gets the scaled form ``exp(e - m)·exp(m)`` with ``m`` the
        maximum of ``e`` over the summed axes, and the sum ``Σ exp(e - m)·exp(m)``."""
        (arg, pos), = self.g[ex.node].args
        e = Ref(arg, tuple(ex.labels[p] for p in pos))
        if len(set(ex.labels)) < len(ex.labels):
            return self.contract([ex], keep)
        m = self.contract([e], keep, op=Max)
        form = self.scaled(ex)
        if form and form[1] != m:  # already scaled along other axes
            return self.contract([ex], keep)
        shifted = self.map("exp", [self.map("add", [e, self.map("mul", [self.const(-1), m])])])
        self.scale[ex.node] = (ex.labels, shifted, m, sp.Integer(1))
        small = self.contract([shifted], keep)
        self.positive.add(small.node)
        total = self.map("mul", [small, self.map("exp", [m])])
        self.scale[total.node] = (total.labels, small, m, sp.Integer(1))
        return total

    def scaled(self, r: Ref):
        """``(stored, m, c)`` with ``r = stored·exp(c·m)``, in ``r``'s labels, or None."""
        if r.node not in self.scale:
            return None
        labels, stored, m, c = self.scale[r.node]
        ren = dict(zip(labels, r.labels))
        return stored.renamed(ren), m.renamed(ren), c

    def combined(self, refs, fn, keep=None):
        """``refs`` combined by ``fn`` (mul, add or a contraction keeping ``keep``) from their
        stored forms when they share one scale ``m``; the result, or None."""
        forms = [self.scaled(r) for r in refs]
        ms = {f[1] for f in forms if f}
        if len(ms) != 1 or (fn == "add" and len({f and f[2] for f in forms}) != 1):
            return None
        m, = ms
        if keep is not None and not set(m.labels) <= keep:
            return None
        stored = [f[0] if f else r for f, r in zip(forms, refs)]
        c = forms[0][2] if fn == "add" else sum(f[2] for f in forms if f)
        out = self.contract(stored, keep) if keep is not None else self.map(fn, stored)
        if c == 0:
            return out
        true = self.contract(refs, keep) if keep is not None else self.map(fn, refs)
        self.scale[true.node] = (true.labels, out, m, c)
        return true

    def power(self, base: Ref, exp) -> Ref:
        form = self.scaled(base)
        out = self.map("pow", [base], exp)
        if form and exp.is_Rational:
            stored, m, c = form
            if stored.node in self.positive:
                self.positive.add(self.map("pow", [stored], exp).node)
            self.scale[out.node] = (out.labels, self.map("pow", [stored], exp), m, c * exp)
        return out

    def log(self, x: Ref) -> Ref:
        """``log(x)``: ``log(stored) + c·m`` for a scaled value; the log of a product splits off
        its exponentials and its powers of positive sums (``log`` of a softmax is
        ``(e - m) - log Σ exp(e - m)``)."""
        form = self.scaled(x)
        if form:
            stored, m, c = form
            return self.map("add", [self.log(stored), self.map("mul", [self.const(c), m])])
        parts, rest = [], []
        for r in self.operands(x, "mul", split_named=True):
            node = self.g[r.node]
            if not isinstance(node.op, Map) or len(node.args) != 1:
                rest.append(r)
                continue
            (a, pos), = node.args
            inner = Ref(a, tuple(r.labels[p] for p in pos))
            if node.op == Map("exp"):
                parts.append(inner)
            elif node.op.function == "pow" and a in self.positive:
                parts.append(self.map("mul", [self.const(node.op.parameters[0]), self.map("log", [inner])]))
            else:
                rest.append(r)
        if not parts:
            return self.map("log", [x])
        if rest:
            parts.append(self.map("log", [self.map("mul", rest) if len(rest) > 1 else rest[0]]))
        return self.map("add", parts)
