"""The array printer's cases for gathers (README "Gathers"): a mixin of
:class:`indexcalc.backends.printer.ArrayPrinter` printing :class:`~indexcalc.lower.ir.Gather`
and :class:`~indexcalc.lower.ir.ScatterAdd` as calls of the helpers of
:mod:`indexcalc.backends.gathers`, and a cross-entropy's ``rest - delta(c, y[n])`` as an add
at the targets where the dialect has one (NumPy's ``_add_at``).

    >>> import indexcalc as ic
    >>> src = ic.derive("L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])").numpy_source()
    >>> print(src[src.index("    _t2 ="):].split("    return")[0].rstrip())
        _t2 = _add_at(np.exp(z - _t1[:, None]), -1, 1, y[:, None])
        dz = np.multiply(_t2, 1/n_z_0, out=_t2)
"""

from __future__ import annotations

import re

from indexcalc.backends.dialect import literal
from indexcalc.lower.ir import Const, Input, Map, Position


class GatherPrinting:
    """The array printer's cases (:mod:`indexcalc.backends.printer`) for
    :class:`~indexcalc.lower.ir.Gather` and :class:`~indexcalc.lower.ir.ScatterAdd`: calls
    of the module's helpers above."""

    def _gather(self, k, node):
        """A read at integer data (README "Gathers"): the module's ``_gather`` helper
        (:mod:`indexcalc.backends.gathers`), the data read as integers."""
        (a, _), *data = node.args
        code, layout = self.expr(a)
        forms = tuple(node.op.forms[j] for j in layout)  # physical axis j holds node axis layout[j]
        idx = [f"({c}, {axes!r})" for c, axes in self.integer_operands(data)]
        shape = ", ".join(self.size_var(c) for c in node.axes)
        return (f"_gather({code}, {forms!r}, ({', '.join(idx)}{',' * (len(idx) == 1)}), "
                f"({shape}{',' * (node.rank == 1)}))"), tuple(range(node.rank))

    def _scatter(self, k, node):
        """A gather's accumulation (README "Gathers"): the module's ``_scatter`` helper."""
        (v, vl), data = node.args[0], node.args[1:]
        code, layout = self.expr(v)
        (pos, paxes), = self.integer_operands(data)
        shape = ", ".join(self.size_var(c) for c in node.axes)
        return (f"_scatter({code}, {tuple(vl[i] for i in layout)!r}, {pos}, {paxes!r}, {node.op.output!r}, "
                f"{node.op.target}, ({shape}{',' * (node.rank == 1)}), _dtype)"), tuple(range(node.rank))

    def _window_add(self, k, node):
        """The adjoint of a window (README "Windows and positions"): the ``_window_add`` helper
        of :mod:`indexcalc.backends.windows`."""
        (v, _), = node.args
        code, layout = self.expr(v)
        where = {axis: j for j, axis in enumerate(layout)}  # operand axis -> physical axis
        forms = tuple((c, tuple((where[o], m) for o, m in terms)) for c, terms in node.op.forms)
        shape = ", ".join(self.size_var(c) for c in node.axes)
        return f"_window_add({code}, {forms!r}, ({shape}{',' * (node.rank == 1)}))", tuple(range(node.rank))

    def delta_sum(self, node):
        """Code for a sum of two terms, a new array ``rest`` of the sum's shape and
        ``c*(p == y)``, ``p`` the position along one axis of the sum and ``y`` an integer
        input over others (a cross-entropy's ``exp(z[n,c] - lse[n]) - delta(c, y[n])``):
        ``rest`` with ``c`` added at ``y`` along that axis, where the dialect can
        (``add_at``); else None."""
        if getattr(self.d, "add_at", None) is None or len(node.args) != 2:
            return None
        for j, (a, pos) in enumerate(node.args):
            coeff, e, epos = 1, a, tuple(range(self.g[a].rank))
            if self.g[a].op == Map("mul") and len(self.g[a].args) == 2 and a not in self.var:
                (b0, p0), (b1, p1) = self.g[a].args
                if isinstance(self.g[b0].op, Const):
                    coeff, e, epos = self.g[b0].op.value, b1, p1
            if e in self.var or self.g[e].op not in (Map("eq"),):
                continue
            (u, up), (w, wp) = self.g[e].args
            if isinstance(self.g[w].op, Position):
                (u, up), (w, wp) = (w, wp), (u, up)
            if not isinstance(self.g[u].op, Position) or not isinstance(self.g[w].op, Input) or \
                    self.g[w].op.name not in getattr(self.prog, "integers", ()):
                continue
            axis = pos[epos[up[0]]]
            labels = [pos[epos[i]] for i in wp]
            rest, rpos = node.args[1 - j]
            if axis in labels or self.g[rest].rank != node.rank or rest in self.var or \
                    not isinstance(self.g[rest].op, Map) or self.g[rest].op.function in self.d.boolean:
                return None
            code, layout = self.expr(rest)
            if [rpos[i] for i in layout] != list(range(node.rank)) or re.fullmatch(r"[\w.]+(\[[^\]]*\])?", code):
                return None  # a name or a view of one (not a new array: written in place)
            saved, self.raw = self.raw, True
            try:
                at = self.aligned(w, labels, node.rank)
            finally:
                self.raw = saved
            return self.d.add_at(code, literal(coeff), axis, at)
        return None

    def integer_operands(self, args) -> list:
        """``[(code, labels of its physical axes)]`` of operands read as integers."""
        saved, self.raw = self.raw, True
        try:
            out = []
            for a, labels in args:
                code, layout = self.expr(a)
                out.append((code, tuple(labels[i] for i in layout)))
            return out
        finally:
            self.raw = saved
