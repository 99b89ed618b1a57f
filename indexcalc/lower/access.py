"""The lowering of windows, positions and comparisons (README "Windows and positions"): a
mixin of the statement builder (:mod:`indexcalc.lower.build`). A read with axis expressions
is a :class:`~indexcalc.lower.ir.Window` of the node holding the tensor, an index outside
brackets a :class:`~indexcalc.lower.ir.Position`, and a comparison (or a delta of axis
expressions that no index could be solved for) a ``Map`` of
:data:`~indexcalc.lower.ir.COMPARISONS` of positions.

    >>> import indexcalc as ic
    >>> from indexcalc.lower.build import lower
    >>> g = lower(ic.parse("y[_s0] = h[0,_s0]*(_s0 > 1)")).graph
    >>> [n.op for n in g.nodes if type(n.op).__name__ in ("Window", "Map")]
    [Map(function='gt', parameters=()), Window(forms=((0, ()), (0, ((0, 1),)))), Map(function='mul', parameters=())]
"""

from __future__ import annotations

from indexcalc.language.algebra import Index
from indexcalc.language.axes import coefficients
from indexcalc.lower.ir import COMPARISONS, Position, Window
from indexcalc.lower.ref import Ref


class Access:
    """Methods of the statement builder for windows, positions and comparisons."""

    def window(self, node, positions, indices) -> Ref:
        """``name[indices]`` with axis expressions (``x[i+k]``, ``h[0,i]``): a window of the
        node holding it, whose axes are the indices the read holds (first appearance)."""
        out = tuple(dict.fromkeys(i for x in indices for i in sorted(x.atoms(Index), key=str)))
        forms = []
        for p in positions:  # node axis a is axis positions[a] of the name
            const, coeffs = coefficients(indices[p])
            forms.append((const, tuple((out.index(i), c) for i, c in coeffs.items() if c)))
        op = Window(tuple(forms))
        return Ref(self.add(op, [(node, tuple(range(len(positions))))], (self.cls(i) for i in out)), out)

    def position(self, index) -> Ref:
        """An index outside brackets: its positions ``0, 1, ..``."""
        return Ref(self.add(Position(), axes=(self.cls(index),)), (index,))

    def index_value(self, e) -> Ref:
        """An affine expression of indices (a side of a comparison) as positions."""
        const, coeffs = coefficients(e)
        terms = [self.position(i) if c == 1 else self.map("mul", [self.const(c), self.position(i)])
                 for i, c in coeffs.items() if c]
        if const or not terms:
            terms.append(self.const(const))
        return self.map("add", terms) if len(terms) > 1 else terms[0]

    def compare(self, a, b, op) -> Ref:
        """``(a op b)`` of index expressions: 1 or 0 (a boolean ``Map`` the printers cast)."""
        fn = next(f for f, sign in COMPARISONS.items() if sign == op)
        return self.map(fn, [self.index_value(a), self.index_value(b)])
