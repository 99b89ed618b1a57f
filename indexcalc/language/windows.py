"""The checker's part for windows and positions (README "Windows and positions"): axis
expressions at reads, stated sizes, positions and comparisons, and the sizes of indices
that stand only inside axis expressions. A mixin of the statement checker
(:mod:`indexcalc.language.check`), which calls these methods; the expressions themselves are
:mod:`indexcalc.language.axes`'.

    >>> import indexcalc as ic
    >>> print(ic.parse("y[i] = x[i+k]*w[k]").statements[0].expr)
    ISum(w[k]*x[i + k], (k,))
    >>> ic.parse("y[i] = x[i+k-1]*w[k]")
    Traceback (most recent call last):
    ...
    indexcalc.errors.ProgramError: line 1, in 'y[i] = x[i+k-1]*w[k]': the size of index i is unknown: it stands only in axis expressions (x[i+k-1]), where no size keeps every read inside its axis; state it, as in y[i:size(x,0)] ("same" size)
"""

from __future__ import annotations

from collections import Counter

import lark
import sympy as sp

from indexcalc.language.algebra import Index, Len, Size, size_of
from indexcalc.language.axes import Compare, FloorDiv, affine, axis_text, is_affine, subtrees, valid_size
from indexcalc.language.one_size import check_one_size, record
from indexcalc.language.stated_sizes import (SIZED, state_left_sizes, state_sum_sizes, stated_size,  # noqa: F401
                                             unsized_indices, windowed)


#: fresh letters for the axes of a gradient that its tensor is read at only through axis
#: expressions, in the order tried (one such axis: ``j`` first, as in ``dx[j] = dy[j-k]*w[k]``)
FRESH_LETTERS = "srpqtuvhgfb"


def read_letters(prog, name):
    """The letters a gradient of ``name`` is printed with where ``name`` is first read
    through axis expressions (None where its first read is plain, or it is not read): the
    read's own letter at each axis it reads at an index by itself, and a letter the
    program writes nowhere at each other axis, so every letter keeps its meaning.

        >>> import indexcalc as ic
        >>> read_letters(ic.parse("y[n,o,a,e] = x[n,c,a+k,e+l]*w[o,c,k,l]"), "x")
        (n, c, s, r)
        >>> read_letters(ic.parse("y[i] = x[i+k]*w[k]"), "x")
        (j,)
    """
    read = next((r for st in prog.statements for r in sp.preorder_traversal(st.expr)
                 if isinstance(r, sp.Indexed) and str(r.base.label) == name), None)
    if read is None or all(isinstance(x, Index) for x in read.indices):
        return None
    written = {str(i) for st in prog.statements for i in (*st.indices, *st.expr.atoms(Index))}
    plain = Counter(x for x in read.indices if isinstance(x, Index))
    fresh = [x for x in read.indices if not (isinstance(x, Index) and plain[x] == 1)]
    order = ("j" if len(fresh) == 1 else "") + FRESH_LETTERS
    spare = iter([c for c in order if c not in written] +
                 [f"{c}{n}" for n in range(2, 99) for c in order if f"{c}{n}" not in written])
    return tuple(x if isinstance(x, Index) and plain[x] == 1 else Index(next(spare)) for x in read.indices)


def statement_indices(node) -> set:
    """The names that are indices of statement ``node`` (a lark tree): those on the left,
    at an axis of a read (inside axis expressions too), listed by a reduction, or given
    to ``delta``, ``len`` or a comparison. Any other name is a scalar."""
    out = set()
    _, *rest = node.children
    if len(rest) == 2:
        for slot in rest[0].children:
            out.add(str(slot if isinstance(slot, lark.Token) else slot.children[0]))

    def names(t):
        if isinstance(t, lark.Tree):
            if t.data == "name":
                out.add(str(t.children[0]))
            elif t.data == "call" and str(t.children[0]) == "size":
                return
            else:
                for c in t.children:
                    names(c)

    for sub in subtrees(rest[-1]):  # (the order is no matter: a set)
        if sub.data in ("tensor", "reduce", "call_indexed"):
            for child in sub.children:
                if isinstance(child, lark.Tree) and child.data == "indices":
                    for slot in child.children:
                        names(slot.children[0] if slot.data == "sized" else slot)
        elif sub.data == "call" and str(sub.children[0]) in ("delta", "len"):
            names(sub.children[1])
        elif sub.data == "compare":
            names(sub.children[0])
            names(sub.children[2])
    return out


class WindowChecks:
    """Methods of the statement checker for axis expressions, sizes and positions."""

    def init_windows(self):
        self.windows: list = []  # (name, axis, expression) of every read holding one
        self.stated: dict = {}  # index -> its stated size (SymPy)
        self.indices_here = statement_indices(self.node)

    # -- slots of a read -----------------------------------------------------------------
    def slot(self, node):
        """One slot of a read: an :class:`Index`, or an affine expression of indices."""
        if node.data == "name":
            return self.index(node)
        return affine(node, self.index, lambda m: self.fail(m, node))

    def read_slots(self, name, slots) -> Counter:
        """Record the axis expressions of a read of ``name``; their index occurrences."""
        count = Counter()
        for axis, e in enumerate(slots):
            if is_affine(e):
                self.windows.append((name, axis, e))
                count.update(sorted(e.atoms(Index), key=str))
            else:
                count[e] += 1
        return count

    def state_size(self, idx, node):
        """``i:expr`` on the left or in a reduction's list."""
        self.stated[idx] = self.size_value(node)

    def size_value(self, node):
        """A stated size: whole numbers, ``size(A,k)``, ``len(j)``, ``+ - *`` and ``//``."""
        kind = node.data
        if kind == "number" and str(node.children[0]).isdigit():
            return sp.Integer(int(str(node.children[0])))
        if kind == "call" and str(node.children[0]) in ("size", "len") and \
                len(node.children[1].children) == {"size": 2, "len": 1}[str(node.children[0])]:
            args = node.children[1].children
            return self._size(*args) if str(node.children[0]) == "size" else Len(self.index(args[0]))
        if kind in ("add", "sub", "mul", "floordiv"):
            a, b = (self.size_value(c) for c in node.children if isinstance(c, lark.Tree))
            return {"add": a + b, "sub": a - b, "mul": a * b, "floordiv": FloorDiv(a, b)}[kind]
        if kind == "paren":
            return self.size_value(node.children[0])
        self.fail("a stated size is a whole-number expression of literals, size(A,k) and len(j), "
                  "with + - * and //, as in y[i:size(x,0)] or max[k:2](..)", node)

    # -- positions and comparisons ---------------------------------------------------------
    def position(self, name, node):
        """An index outside brackets: its position, an integer from 0."""
        if self.ranks.get(name) == 0:
            self.both(name)
        idx = self.index(node.children[0])
        self.uses[idx] += 1
        self.positions.append(idx)
        return idx, Counter([idx])

    def both(self, name):
        self.fail(f"{name} is an index of this statement and also a scalar of the program; a name "
                  f"cannot be both (outside brackets an index is its position): rename the scalar")

    def _compare(self, node, protected):
        a, op, b = node.children
        sides = []
        for side in (a, b):
            for sub in side.iter_subtrees():
                if sub.data in ("tensor", "call", "call_indexed", "reduce") and \
                        not (sub.data == "call" and str(sub.children[0]) in ("len", "size")):
                    self.fail(f"a comparison ({op}) compares index expressions (positions), not data; "
                              "compare data with step(a - b), max or min", node)
            sides.append(affine(side, self.index, lambda m: self.fail(f"in a comparison: {m}", node)))
        idx = sorted(set().union(*[s.atoms(Index) for s in sides]), key=str)
        self.uses.update(idx)
        self.positions.extend(idx)
        return Compare(sides[0], sides[1], str(op)), Counter(idx)

    def _floordiv(self, node, protected):
        self.fail("// (a whole-number quotient) is for stated sizes (y[i:size(x,0)//2]); "
                  "divide values with /", node)

    # -- sizes -----------------------------------------------------------------------------
    def size_expr(self, idx):
        """The size of index ``idx`` of this statement as an expression of the program's
        axes (``size(x,0)``), or ``len(idx)`` where none is known."""
        root = self.sizes.find((self.n, idx))
        keys = [k for k in list(self.sizes.parent) if isinstance(k[0], str) and self.sizes.find(k) == root]
        named = sorted((k for k in keys if k[0] != "="), key=str)
        if named:
            return size_of(*named[0])
        return keys[0][1] if keys else Len(idx)

    def resolve_sizes(self, left):
        """Stated sizes, then the "valid" rule for every index that stands only inside axis
        expressions; a statement where some index stays unsized is an error."""
        for idx, e in self.stated.items():
            key = (e.tensor, e.axis) if isinstance(e, Size) else \
                (self.n, e.args[0]) if isinstance(e, Len) else ("=", e)
            self.sizes.join((self.n, idx), key, None)
            self._record(key, idx, True)
        pending = [i for i in dict.fromkeys([*left, *self.mentioned]) if not self.sizes.has_axis((self.n, i))]
        progress = True
        while pending and progress:
            progress = False
            for u in pending:
                reads = [(name, axis, e) for name, axis, e in self.windows if u in e.atoms(Index)
                         and name != str(self.node.children[0])]  # (its own name sizes nothing)
                others = {j for _, _, e in reads for j in e.atoms(Index)} - {u}
                if not reads or others & set(pending):
                    continue
                if getattr(self, "own_text", False) and u not in left:
                    # a derivative's summed index is as large as the forward's, which the
                    # valid rule over its reads need not give (x[2*a+l]: more than the
                    # pooling window when the axis is odd): never trusted, an error
                    self.unsized(u, reads, left)
                n = valid_size(u, [e for *_, e in reads], self.size_expr,
                               [size_of(name, axis) for name, axis, _ in reads])
                if n is None:
                    self.unsized(u, reads, left)
                self.sizes.join((self.n, u), ("=", n), None)
                self._record(("=", n), u, False)
                pending.remove(u)
                progress = True
                break
        if pending:
            reads = [(name, axis, e) for name, axis, e in self.windows if pending[0] in e.atoms(Index)]
            self.unsized(pending[0], reads, left, pending)

    def _record(self, key, idx, stated):
        if key[0] == "=":
            name, *rest = self.node.children
            left = [str(t if isinstance(t, lark.Token) else t.children[0]) for t in
                    (rest[0].children if len(rest) == 2 else [])]
            axis = left.index(str(idx)) if str(idx) in left else None
            record(self.sizes, key, self.node.meta.line, str(name), axis, idx, stated)

    def one_size(self, indices):
        """A ShapeError where this statement ties two sizes that can never be equal
        (:mod:`indexcalc.language.one_size`); not in indexcalc's own printout."""
        if not getattr(self, "own_text", False):
            check_one_size(self.sizes, self.n, indices, self.node.meta.line, self.text)

    def unsized(self, u, reads, left, pending=()):
        where = ", ".join(f"{name}[{axis_text(e)}]" for name, _, e in reads)
        own = str(self.node.children[0])
        if any(name == own for name, _, _ in reads) and u in left:  # README "Recurrences"
            self.fail(f"the size of the recurrence axis {u} is unknown: {own} reads itself ({where}), which "
                      f"does not size it; state it, as in {own}[{u}:8] or {own}[{u}:size(x,0)]")
        if any(name == own for name, _, _ in reads):
            self.fail(f"the size of index {u} is unknown: it stands only in reads of {own} itself ({where}), "
                      f"which do not size it; state it where it is summed, as in sum[{u}:3](..)")
        if where:
            why = f"it stands only in axis expressions ({where}), where no size keeps every read inside its axis"
            if len(pending) > 1:
                why = (f"indices {', '.join(map(str, pending))} stand only together in axis expressions "
                       f"({where}); stated sizes decide the rest")
        else:
            why = "it stands at no tensor axis"
        if u in left:
            tensors = [n for n in dict.fromkeys(getattr(self, "reads", ())) if self.ranks.get(n)]
            name, axis = (reads[0][0], reads[0][1]) if reads else (tensors[0], 0) if tensors else (None, 0)
            size = f"size({name},{axis})" if name is not None else "8"  # (no tensor read here)
            hint = f"state it, as in {self.node.children[0]}[{u}:{size}]" + \
                (' ("same" size)' if reads else "")
        else:
            hint = f"state it where it is summed, as in sum[{u}:3](..) or max[{u}:2](..)"
        self.fail(f"the size of index {u} is unknown: {why}; {hint}")
