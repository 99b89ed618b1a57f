"""The letters of a printout's summed indices: the user's where they can be (README,
"What a derivation prints": a gradient keeps the forward program's letter for each axis).

:func:`pretty_indices` renames the generated indices of one printed statement
(``j_17``) to short names. With the forward program it prefers, for a summed index, a
letter the program writes at the same tensor axes, then one it writes for axes of the
same size, then a fresh letter that no axis of another size uses in the program, and
never a letter that already means something else in the statement (a left index, a
tensor, another summed index). In the softmax cross-entropy below, the classes are
summed with ``k`` (as the program sums them), never with the feature letter ``d``:

    >>> import indexcalc as ic
    >>> prog = ic.parse("z[n,c] = x[n,d]*W[d,c]; p[n,c] = exp(z[n,c])/sum[k](exp(z[n,k]))")
    >>> n, c, j = Index("n"), Index("c"), Index("c_7")
    >>> p, dp = sp.IndexedBase("p"), sp.IndexedBase("dp")
    >>> pretty_indices(p[n, c]*ISum(dp[n, j]*p[n, j], [j]), (n, c), {"p", "dp"}, prog)
    (ISum(dp[n, k]*p[n, k], (k,)))*p[n, c]
"""

from __future__ import annotations

import itertools
import string

import sympy as sp

from indexcalc.calculus.contract import freshen
from indexcalc.calculus.names import current, stem
from indexcalc.language.algebra import Binder, Index, ISum, Inv, tensor_names  # noqa: F401 (ISum: doctest)
from indexcalc.language.naming import gradient_of
from indexcalc.language.memo import Memo, recall, remember
from indexcalc.language.walk import is_leaf, preorder, rename

#: program -> its letters (``_Letters``' classes, at, others), by identity
_PROGRAMS = Memo(16)


def pretty_indices(e, keep, taken=(), prog=None):
    """Rename generated indices (``j_17``) to short names unused among ``keep`` (the
    left indices), the tensors of ``e`` and ``taken`` (the program's names); with
    ``prog`` (the forward program), its letters first (see the module's docstring)."""
    inside = _holding_binders(e)
    if id(e) in inside:
        e = freshen(e)
        inside = _holding_binders(e)
    else:  # (no sum to rename: freshen's walk of the whole tree, written out, gives e)
        current().add_expr(e)
    used = {_name(i) for i in keep} | tensor_names(e) | {_name(n) for n in taken}
    letters = _Letters(prog, e) if prog is not None else None
    scopes = _scopes(e, inside=inside)
    given: dict = {}  # name -> the indices it was given to
    ren = {}
    order = sorted(_all_indices(e) - set(keep), key=_name)
    if letters is not None:  # first those with a letter written at their very axes
        # (then, among those with none, an outer sum's before an inner one's: the window
        # indices of pooling's gradient sum[a,e,k:2,l:2](../sum[p:2,q:2](..)) keep k, l)
        order.sort(key=lambda i: (not set(letters.written_at(i)) - used,
                                  len(scopes.get(i, ())) if not letters.written_at(i) else 0))
    for i in order:
        options = letters.options(i) if letters is not None else ()
        name = next(n for n in itertools.chain(options, letters_from(stem(i.name)))
                    if n not in used and _may_share(i, given.get(n, ()), scopes, letters))
        given.setdefault(name, []).append(i)
        ren[i] = Index(name)
    if not ren:
        return e  # (rename's walk of the tree written out would give e)
    return rename(e, ren)  # (xreplace where two indices share a name: terms may merge)


def _name(x) -> str:
    """``str(x)`` of a name (an index, a symbol, a string), without SymPy's printer."""
    return x.name if isinstance(x, sp.Symbol) else str(x)


def _may_share(i, others, scopes, letters) -> bool:
    """May ``i`` take the name of ``others``? Only where each is summed in a term of its
    own of one sum (``sum[n](p[n]) + sum[n](t[n])``; not two factors of a product, which
    would read as one sum), over axes of one known size: one letter, one meaning."""
    if not others:
        return True
    if letters is None or i not in scopes:
        return False
    size = letters.root(i)
    return size is not None and all(j in scopes and letters.root(j) == size and _apart(scopes[i], scopes[j])
                                    for j in others)


def _apart(a, b) -> bool:
    """Do the sums at the paths ``a`` and ``b`` (see :func:`_scopes`) part in two terms of
    one sum, neither inside the other?"""
    for (node, k), (other, m) in zip(a, b):
        if node is not other:
            return False
        if k != m:  # terms of a sum, or a factor and a divisor or function argument
            return isinstance(node, sp.Add) or (isinstance(node, sp.Mul) and _nested(a, b, node))
    return False  # one inside the other, or one sum


def _nested(a, b, node) -> bool:
    """Below the product ``node``, is one of the two sums inside a power or a function
    (``p[n,k]*sum[k](..)/sum[k](..)``), not both factors of it, which would read as one
    sum (``inv(X)[k,i]*a[k]*inv(X)[j,k]*b[k]``)?"""
    def inside(path):
        at = [k for k, (x, _) in enumerate(path) if x is node][0]
        below = path[at + 1:]
        return bool(below) and not isinstance(below[0][0], (sp.Mul, Binder))
    return inside(a) or inside(b)


def _scopes(e, path=(), out=None, inside=None) -> dict:
    """``{summed index: its path}``, the path being the ``(node, argument number)`` pairs
    from ``e`` down to its sum (the indices of one sum have one path). ``inside``: the
    ids of the subexpressions that hold a sum (:func:`_holding_binders`); the others are
    not looked into."""
    out = {} if out is None else out
    inside = _holding_binders(e) if inside is None else inside
    if isinstance(e, Binder):
        for i in e.indices:
            out[i] = path
        _scopes(e.body, path + ((e, 0),), out, inside)
    elif isinstance(e, sp.Basic) and not isinstance(e, (Index, sp.Indexed)):
        for k, a in enumerate(e.args):
            if id(a) in inside:
                _scopes(a, path + ((e, k),), out, inside)
    return out


def _holding_binders(e) -> set:
    """The ids of the subexpressions of ``e`` that are or hold a sum (a :class:`Binder`),
    each distinct subexpression looked into once (``tanh(tanh(...))`` written out is
    quadratic in its depth)."""
    out, done = set(), set()
    stack = [(e, False)]
    while stack:
        x, ready = stack.pop()
        if ready:
            if isinstance(x, Binder) or any(id(a) in out for a in x.args):
                out.add(id(x))
            done.add(id(x))
        elif id(x) not in done and isinstance(x, sp.Basic):
            stack.append((x, True))
            stack.extend((a, False) for a in x.args if id(a) not in done)
    return out


class _Letters:
    """The forward program's letters, by size: ``classes[root]``, the letters written for
    axes of one size (in the order written); ``at[(tensor, axis)]``, those written at
    that axis. A gradient ``dX`` (a name the program does not have) has ``X``'s axes."""

    def __init__(self, prog, e):
        self.prog, self.sizes = prog, prog.sizes
        known = recall(_PROGRAMS, prog)  # the program's letters, found once per program (not
        if known is None:                # once per printed statement: a long chain's cost)
            known = self._program(prog)
            remember(_PROGRAMS, prog, known)
        self.classes, self.at, self.others = known
        self.axes = _places(e, prog.ranks)

    def _program(self, prog):
        self.classes: dict = {}
        self.at: dict = {}
        for n, st in enumerate(prog.statements):
            for el in [sp.IndexedBase(st.name)[st.indices]] if st.indices else []:
                self._note(n, el)
            for el in _ordered_indexed(st.expr):
                self._note(n, el)
        others: dict = {}  # letter -> the roots it is written for
        for root, names in self.classes.items():
            for name in names:
                others.setdefault(name, set()).add(root)
        return self.classes, self.at, others

    def _note(self, n, el):
        for k, i in enumerate(el.indices):
            if not isinstance(i, Index):
                continue
            root = self._find((n, i))
            if root is None:
                continue
            _append(self.classes.setdefault(root, []), i.name)
            _append(self.at.setdefault((el.base.label.name, k), []), i.name)

    def root(self, i):
        """The size class of the index ``i`` of ``e``, by the program axes it stands at
        (None where it stands at none, or, impossibly, at two sizes)."""
        roots = {self._find(a) for a in self.axes.get(i, [])} - {None}
        return roots.pop() if len(roots) == 1 else None

    def written_at(self, i) -> list:
        """The letters the program writes at the axes where ``i`` stands."""
        return [n for a in self.axes.get(i, []) for n in self.at.get(a, [])]

    def options(self, i):
        """Letters to try for the summed index ``i``, best first (then the caller's
        ``letters_from(stem(i))``, which always ends in a free name)."""
        root = self.root(i)
        if root is None:
            return iter(())
        mine = self.classes.get(root, [])
        here = self.written_at(i)
        own = [n for n in mine if self.others.get(n) == {root}]  # written for this size only
        s = stem(i.name)
        first = [s] if s in here or s in own else []
        foreign = {n for n, rs in self.others.items() if rs - {root}}
        fresh = (n for n in letters_from(s) if n not in foreign and n not in mine)
        return itertools.chain(_unique(first + here + own), fresh)

    def _find(self, key):
        """The size class of ``key``, or None where the program has none (``find``
        would add the key to the program's union-find)."""
        return self.sizes.find(key) if key in self.sizes.parent else None


def _places(e, ranks) -> dict:
    """``{index: [(tensor, axis), ...]}``: the program axes each index of ``e`` stands at
    (a gradient ``dX`` stands for ``X``'s axes)."""
    out: dict = {}
    nodes = _distinct_preorder(e)  # (one walk: the elements, then the inverses)
    for el in dict.fromkeys(x for x in nodes if isinstance(x, sp.Indexed)):
        name = gradient_of(el.base.label.name, len(el.indices), ranks)
        for k, i in enumerate(el.indices):
            if name is not None:
                out.setdefault(i, []).append((name, k))
    for f in sorted({x for x in nodes if isinstance(x, Inv)}, key=str):  # (not set order: the letters are tried in this order)
        for k, i in enumerate(f.args[1:]):
            out.setdefault(i, []).append((f.args[0].label.name, k))
    return out




def _ordered_indexed(e) -> list:
    """The tensor elements of ``e`` in the order SymPy's tree holds them (not a set:
    the letters are tried in a fixed order), each once."""
    return list(dict.fromkeys(x for x in preorder(e) if isinstance(x, sp.Indexed)))


def _append(xs: list, x) -> None:
    if x not in xs:
        xs.append(x)


def _unique(xs) -> list:
    return list(dict.fromkeys(xs))


def letters_from(base):
    """Names to try for an index: ``j`` -> j, k, l, ..., z, a, ..., i, j2, j3, ..."""
    yield base
    if len(base) == 1 and base.isalpha():
        letters = string.ascii_lowercase if base.islower() else string.ascii_uppercase
        start = letters.index(base)
        yield from (letters[(start + k) % 26] for k in range(1, 26))
    yield from (f"{base}{k}" for k in itertools.count(2))


def _distinct_preorder(e) -> list:
    """The nodes of ``e`` in pre-order, a subexpression met again (the same object) not
    looked into again: the first visits of :func:`~indexcalc.language.walk.preorder`,
    in its order."""
    out, seen, stack = [], set(), [e]
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        out.append(x)
        if isinstance(x, sp.Basic) and x._args and not is_leaf(x):
            stack.extend(reversed(x._args))
    return out


def _all_indices(e) -> set:
    """The indices in ``e``, each distinct subexpression looked into once."""
    out, seen, stack = set(), set(), [e]
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, Index):
            out.add(x)
        else:
            stack.extend(x.args)
    return out
