"""The sizes an array printer's function reads (a mixin of
:class:`~indexcalc.backends.printer.ArrayPrinter`): the length of each size class, read from
an input's shape (``n_x_0 = x.shape[0]``) or computed from the inputs' shapes where no
input at hand has an axis of it (README "Windows and positions": a valid or stated size,
``n_s0 = n_x_0 - n_w_0 + 1``; an upstream gradient's axis in a forward function), and which
nodes hold whole numbers (positions, and sums and products of them with whole numbers),
kept integers until they are read as values.

    >>> import indexcalc as ic
    >>> from indexcalc.backends.numpy import NUMPY_DIALECT
    >>> from indexcalc.backends.printer import ArrayPrinter
    >>> p = ArrayPrinter(ic.parse("y[i] = x[2*i+k]*w[k]*i"), {"y": "y"}, NUMPY_DIALECT)
    >>> list(p.computed.values()), len(p.integral)
    ([('n_s0', '(n_x_0 - n_w_0)//2 + 1')], 1)
"""

from __future__ import annotations

from indexcalc.errors import ProgramError
from indexcalc.language.algebra import Size as SizeOf
from indexcalc.lower.ir import COMPARISONS, Broadcast, Const, Diagonal, Eye, Gather, Input, Map, Position, \
    Scan, Scanned, ScatterAdd, Size, Window, WindowAdd
from indexcalc.lower.sizes import formula, size_code


class SizeTable:
    """``sizes``: size class -> ``(variable, input, axis)`` of the input axes whose length is
    read; ``computed``: size class -> ``(variable, code)`` of those computed from them."""

    def size_table(self, prog, present):
        """Fill ``sizes`` and ``computed`` for the nodes ``self.ids`` read; ``present``: the
        inputs the function has at hand (others' shapes are read only where nothing else
        gives a length: a backward saves them)."""
        self.sizes = {}
        for name in present + [n for n in prog.inputs if n not in present]:
            for axis in range(prog.rank(name)):
                self.shape_size(name, axis)
        # an index that stands only inside axis expressions has a size computed from the inputs'
        # (README "Windows and positions"); so has a class whose only input axis is not at hand
        # (an upstream gradient's, in a forward function)
        self.computed, self.size_deps = {}, set()  # those classes (-> variable, code), the classes they read

        def var(key):
            c = self.shape_size(*key)
            self.size_deps.add(c)
            return self.size_var(c)

        for c in dict.fromkeys(c for k in self.ids for c in sizes_read(self.g[k])):
            if c in self.sizes and self.sizes[c][1] in map(self.d.safe, present):
                continue
            f = formula(prog, c, present) or formula(prog, c)
            if f is None:
                raise ProgramError("an index's size is not determined by the shapes of the inputs; "
                                   "state it (y[i:size(x,0)])")
            if isinstance(f, SizeOf):  # an input's axis of the class (saved for a backward)
                t = self.d.safe(f.tensor)
                self.sizes[c] = (f"n_{t}_{f.axis}", t, int(f.axis))
            else:
                self.computed[c] = (f"n_s{len(self.computed)}", size_code(f, var))

    def shape_size(self, name, axis):
        """The size class of axis ``axis`` of input ``name``, its length named after it unless
        the class has a name already."""
        c = self.prog.sizes.find((name, axis))
        safe = self.d.safe(name)
        self.sizes.setdefault(c, (f"n_{safe}_{axis}", safe, axis))
        return c

    def size_var(self, c) -> str:
        """The variable holding the length of size class ``c``."""
        return self.computed[c][0] if c in self.computed else self.sizes[c][0]

    def keeps_integers(self, k) -> bool:
        """Whether node ``k`` is computed from integers (positions, comparisons of them)."""
        op = self.g[k].op
        return k in self.integral or (isinstance(op, Map) and op.function in COMPARISONS)

    def integers(self, seed=()) -> set:
        """The nodes holding positions and whole-number arithmetic of them (and of the
        nodes ``seed``: a scan's body reads integers computed before its loop)."""
        out, ints = set(seed), set(getattr(self.prog, "integers", ()))  # README "Gathers": integer data
        for k in self.ids:
            node = self.g[k]
            if isinstance(node.op, Position) or (isinstance(node.op, Input) and node.op.name in ints) or (
                    isinstance(node.op, (Window, Gather)) and node.args[0][0] in out) or (
                    isinstance(node.op, Map) and node.op.function in ("add", "mul") and
                    any(a in out for a, _ in node.args) and
                    all(a in out or (a in self.static and _whole(self.g[a])) for a, _ in node.args)):
                out.add(k)
        return out


def sizes_read(node) -> tuple:
    """The size classes whose value the code for ``node`` reads."""
    if isinstance(node.op, Size):
        return (node.op.size_class,)
    if isinstance(node.op, Scan):  # what its body reads (README "Recurrences")
        return tuple(c for n in node.op.body.graph.nodes for c in sizes_read(n))
    return node.axes if isinstance(node.op, (Eye, Broadcast, Diagonal, Position, Window, Gather, ScatterAdd, WindowAdd,
                                            Scanned)) else ()


def _whole(node) -> bool:
    """A whole number (a size, or an integer constant)."""
    return isinstance(node.op, Size) or (isinstance(node.op, Const) and node.op.value.is_Integer)


