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

import dataclasses
from collections import Counter

import lark
import sympy as sp

from indexcalc.language.algebra import (Binder, Index, Inv, ISum, KroneckerDelta, Len, LogSumExp, MaxOver, MinOver,
                                        Reduction, Size, size_node, size_of)
from indexcalc.language.functions import BY_CLASS
from indexcalc.language.axes import Compare, FloorDiv, affine, axis_text, is_affine, size_text, subtrees, valid_size
from indexcalc.language.naming import twin_axes
from indexcalc.language.one_size import check_one_size, record


def windowed(e) -> bool:
    """Does ``e`` hold an axis expression, a literal position, a position or a comparison?"""
    if isinstance(e, (Index, Compare)):
        return True
    if isinstance(e, sp.Indexed):
        return any(not isinstance(x, Index) for x in e.indices)
    if isinstance(e, sp.KroneckerDelta):
        return any(not isinstance(x, Index) for x in e.args)
    if isinstance(e, Binder):
        return windowed(e.body)
    if isinstance(e, (Len, Size, Inv, sp.Tuple)):
        return False
    return any(windowed(a) for a in e.args)


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


def stated_size(prog, key):
    """The size of ``key`` (a key of ``prog.sizes``) as a stated size: ``size(A,k)`` of an
    axis of that size, else the number or expression a statement stated or the valid
    rule gave (``2`` for ``max[k:2]``); None where ``prog`` does not know it."""
    node = size_node(prog, key)
    if node is not None or key not in prog.sizes.parent:
        return node
    root = prog.sizes.find(key)
    values = [k[1] for k in list(prog.sizes.parent) if k[0] == "=" and prog.sizes.find(k) == root]
    return values[0] if values else None


class _Sized:
    """A ``max``, ``min`` or ``logsumexp`` with stated sizes: the part that differs from the
    plain reduction is a third argument, the sizes (0: not stated), and the text that
    writes them, ``max[k:2](..)``. It computes what the plain reduction computes."""

    def __new__(cls, body, indices, sizes=None):
        if sizes is None or not any(sp.sympify(n) != 0 for n in sizes):
            return cls.__mro__[2](body, indices)  # the plain reduction
        return sp.Expr.__new__(cls, sp.sympify(body), sp.Tuple(*indices), sp.Tuple(*sizes))

    @property
    def sizes(self) -> tuple:
        return tuple(None if n == 0 else n for n in self.args[2])

    def _indexcalc_text(self, printer):
        plain = Reduction._indexcalc_text(self, printer)  # word[i,j](body)
        slots = [str(i) if n is None else f"{i}:{size_text(n)}" for i, n in zip(self.indices, self.sizes)]
        return f"{self.word}[{','.join(slots)}]" + plain[plain.index("]") + 1:]


#: the sized class of each reduction other than a sum (a subclass of it)
SIZED = {cls: type(f"Sized{cls.__name__}", (_Sized, cls), {}) for cls in (MaxOver, MinOver, LogSumExp)}
BY_CLASS.update({sized: BY_CLASS[cls] for cls, sized in SIZED.items()})  # lowered, derived as the plain one


def _bare(body) -> set:
    return {i for r in body.atoms(sp.Indexed) for i in r.indices if isinstance(i, Index)}


def unsized_indices(e, left=None) -> set:
    """The summed or reduced indices of ``e`` whose size its statement would not know: an
    index that stands at no tensor axis by itself (only in deltas, comparisons, positions or
    ``len``) and that no ``delta`` ties to one that does or to a free (left) index. The
    checker sizes an index by its name in the statement, so a name counts once. With
    ``left`` (the statement's left indices, which its name does not size): those of them
    too that nothing on the right sizes (``hA[i,j] = 2*t1*delta(i,j)``).

        >>> x, c, b = Index("x"), Index("c"), Index("b")
        >>> A = sp.IndexedBase("A")
        >>> sorted(unsized_indices(A[b, b]*ISum(sp.exp(KroneckerDelta(x, c)), (x, c))), key=str)
        [c, x]
        >>> unsized_indices(ISum(A[b, b]*KroneckerDelta(b, c), (b, c)))
        set()
        >>> i, j = Index("i"), Index("j")
        >>> sorted(unsized_indices(A[b, b]*KroneckerDelta(i, j), (i, j)), key=str)
        [i, j]
    """
    left = frozenset(left or ())
    parent: dict = {}

    def find(a):
        while parent.get(a, a) != a:
            a = parent[a]
        return a

    sized, summed = set(), set()

    def walk(x, bound):
        if isinstance(x, Index):
            if x not in bound and x not in left:  # a free index: a left one, sized by the statement's name
                sized.add(x)
        elif isinstance(x, sp.Indexed):
            sized.update(i for i in x.indices if isinstance(i, Index))
            for i in x.indices:
                if not isinstance(i, Index):
                    walk(i, bound)
        elif isinstance(x, Inv):
            sized.update(i for i in x.args[1:] if isinstance(i, Index))
        elif isinstance(x, Binder):
            summed.update(x.indices)
            walk(x.body, bound | set(x.indices))
        elif isinstance(x, (Len, Size)):
            if isinstance(x, Len) and x.args[0] not in bound and x.args[0] not in left:
                sized.add(x.args[0])
        else:
            if isinstance(x, sp.KroneckerDelta) and all(isinstance(a, Index) for a in x.args):
                parent[find(x.args[0])] = find(x.args[1])
            for a in x.args:
                walk(a, bound)

    walk(e, frozenset())
    roots = {find(i) for i in sized}
    return {i for i in summed | left if i not in sized and find(i) not in roots}


def state_sum_sizes(e, size, unsized=False):
    """``e`` with the size of every summed or reduced index that stands at no axis by
    itself (only inside axis expressions, comparisons or positions) stated in its sum,
    ``max``, ``min`` or ``logsumexp``, as ``size(i)`` gives it (None: not known, left
    unstated), so the text says how large it is: ``sum[k:3](dy[j-k])``,
    ``logsumexp[l:3](al[t,n,s-l])``. The checker sizes no such index of a derivative by
    the valid rule (see :meth:`WindowChecks.resolve_sizes`). ``unsized`` (a derivative's
    statement, whole): without axis expressions, comparisons or positions, so does an index
    that stands only in deltas or ``len`` and that no delta ties to a sized one
    (:func:`unsized_indices`): ``sum[x:size(A,0),c:size(A,0)](softplus(delta(c,x)))``. (The
    checker's own sums keep the text as written: their sizes are the program's.)

        >>> k, j = Index("k"), Index("j")
        >>> dy, w = sp.IndexedBase("dy"), sp.IndexedBase("w")
        >>> state_sum_sizes(ISum(dy[j - k], (k,)), lambda i: 3).sizes
        (3,)
        >>> state_sum_sizes(ISum(dy[j - k]*w[k], (k,)), lambda i: 3).sizes
        (None,)
        >>> m = state_sum_sizes(MaxOver(dy[2*j + k], (k,)), lambda i: 2)
        >>> isinstance(m, MaxOver), m.sizes
        (True, (2,))
        >>> e = w[j]*ISum(sp.exp(KroneckerDelta(j, k)), (k,))  # k is as large as j
        >>> state_sum_sizes(e, lambda i: 3, unsized=True) is e
        True
        >>> m = Index("m")
        >>> state_sum_sizes(w[j]*ISum(sp.exp(KroneckerDelta(m, k)), (k, m)), lambda i: 3, unsized=True).args[0].sizes
        (3, 3)
    """
    if not isinstance(e, sp.Basic):
        return e
    if windowed(e):
        def stated(i, body, n):
            return n if n is not None else None if i in _bare(body) else size(i)
    elif not unsized:
        return e
    else:
        loose = unsized_indices(e)
        if not loose:
            return e

        def stated(i, body, n):
            return n if n is not None or i not in loose else size(i)

    def walk(x):
        if isinstance(x, ISum):
            body = walk(x.body)
            sizes = [stated(i, body, n) for i, n in zip(x.indices, x.sizes)]
            known = {Len(i): n for i, n in zip(x.indices, sizes) if n is not None and sp.sympify(n).is_Integer}
            body = body.xreplace(known) if known else body  # mean[k:2]: 1/2, not 1/len(k)
            return ISum(body, x.indices, [0 if n is None else n for n in sizes])
        plain = next((c for c in SIZED if isinstance(x, c)), None)
        if plain is not None:  # max[k:2](..): a reduction states its window's size too
            body, had = walk(x.body), getattr(x, "sizes", (None,) * len(x.indices))
            sizes = [stated(i, body, n) for i, n in zip(x.indices, had)]
            return SIZED[plain](body, x.indices, [0 if n is None else n for n in sizes])
        if not x.args or isinstance(x, (sp.Indexed, Index, Len, Size)):
            return x
        args = [walk(a) for a in x.args]
        return x if all(a is b for a, b in zip(args, x.args)) else x.func(*args)

    return walk(e)


def state_left_sizes(statements, axes, prog=None) -> list:
    """``statements`` with a stated size for each left index of a statement with axis
    expressions that stands at no axis of its own size by itself and whose name does not
    size it (a gradient ``dx`` of ``x`` needs none: the checker gives ``j`` of
    ``dx[j] = dy[j-k]*w[k]`` the size of ``x`` before the valid rule; a temporary does),
    and of any other statement whose name does not size it, for each left index that
    stands at no tensor axis and that no delta ties to one (:func:`unsized_indices`: an
    HVP ``hA[i:size(A,0),j:size(A,1)] = 2*t1*tt1*delta(i,j)``). ``axes`` maps a
    name to the ``(tensor, axis)`` its axes are as large as (a gradient ``dx``: those of
    ``x``); the forward program ``prog`` says whether a bare axis (``w[i]`` in a gradient
    of ``x``) is as large, and which axis of its own states the size (an input's)."""
    sizes = prog.sizes if prog is not None else None
    def same(read, k, want):
        key = axes[read][k] if read in axes and k < len(axes[read]) else (read, k)
        return key == want or (sizes is not None and key in sizes.parent and want in sizes.parent
                               and sizes.find(key) == sizes.find(want))

    out = []
    ranks = dict(prog.ranks) if prog is not None else {}
    for st in statements:
        want = axes.get(st.name, ())
        twins = twin_axes(st.name, len(st.indices), ranks) if st.name not in ranks else None
        ranks.setdefault(st.name, len(st.indices))
        if not st.indices or len(want) != len(st.indices) or any(st.sizes) \
                or (twins is not None and list(twins) == list(want)):  # its name sizes it
            out.append(st)
            continue
        if windowed(st.expr):
            sized = [any(x == i and same(str(r.base.label), a, want[k])
                         for r in st.expr.atoms(sp.Indexed) for a, x in enumerate(r.indices))
                     for k, i in enumerate(st.indices)]
        else:  # only a left index that stands at no axis and that no delta ties to one
            loose = unsized_indices(st.expr, st.indices)
            sized = [i not in loose for i in st.indices]
            if all(sized):
                out.append(st)
                continue
        stated = []
        for k, i in enumerate(st.indices):
            node = size_node(prog, want[k]) if prog is not None else size_of(*want[k])
            if node is None and want[k][0] in prog.ranks:
                node = size_of(*want[k])
            stated.append(None if sized[k] else node)  # (None: no axis of prog states it)
        out.append(dataclasses.replace(st, sizes=tuple(stated)) if any(stated) else st)
    return out


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
