"""The one walk over an expression tree: what a leaf is (:data:`LEAVES`), the nodes in
pre-order (:func:`preorder`) and a tree rebuilt bottom-up (:func:`rebuild`). Both use an
explicit stack, never recursion: a program may nest thousands of levels deep, deeper than
Python's stack.

:func:`bottom_up` and :func:`postorder` walk a graph by identity instead (each distinct
node once), with the children it is given.

A leaf is a node with no arguments or one of :data:`LEAVES`: a tensor element, a
tensor, an index, a delta, a size. Their arguments name things (a tensor, an axis, an
index) and are never rewritten as subexpressions. A walk that must also stop elsewhere
(at function calls, say, whose arguments are compared as computed) passes ``stop``.

    >>> import sympy as sp
    >>> from indexcalc.language.algebra import Index, tanh
    >>> x, i = sp.IndexedBase("x"), Index("i")
    >>> e = 2*tanh(x[i]) + 1
    >>> [str(n) for n in preorder(e)]
    ['2*tanh(x[i]) + 1', '1', '2*tanh(x[i])', '2', 'tanh(x[i])', 'x[i]']
    >>> [str(n) for n in preorder(e, stop=(sp.Function,))]
    ['2*tanh(x[i]) + 1', '1', '2*tanh(x[i])', '2', 'tanh(x[i])']
    >>> rebuild(e, lambda n: n.args[0] if isinstance(n, tanh) else n)
    2*x[i] + 1

The walk has no depth limit (SymPy's own printers and ``xreplace`` still recurse):

    >>> deep = x[i]
    >>> for _ in range(5000):
    ...     deep = tanh(deep)
    >>> sum(1 for _ in preorder(deep)), rebuild(deep, lambda n: n) is deep
    (5001, True)
"""

from __future__ import annotations

from functools import cmp_to_key

import sympy as sp
from sympy.core.parameters import global_parameters

from indexcalc.language.algebra import Index, KroneckerDelta, Len, Size
from indexcalc.language.memo import Memo, recall, remember
from indexcalc.language.plain_functions import PLAIN

#: the nodes whose arguments are never walked into (besides those with no arguments)
LEAVES = (sp.Indexed, sp.IndexedBase, Index, KroneckerDelta, Len, Size)


def is_leaf(e, stop=()) -> bool:
    """Whether a walk stops at ``e``: it has no arguments, or is one of :data:`LEAVES`
    or of the classes ``stop``."""
    return not e._args or isinstance(e, LEAVES) or (bool(stop) and isinstance(e, stop))


def preorder(e, stop=()):
    """Every node of ``e`` as a tree, each before its arguments, left to right; the
    arguments of a leaf (:func:`is_leaf`) are not visited. A subexpression that occurs
    twice is visited twice."""
    stack, basic, leaves = [e], sp.Basic, LEAVES + (stop if isinstance(stop, tuple) else (stop,))
    while stack:
        x = stack.pop()
        yield x
        if isinstance(x, basic) and x._args and not isinstance(x, leaves):  # (is_leaf, inlined)
            stack.extend(reversed(x._args))


def rebuild(e, at, stop=(), leaf=None):
    """``e`` rebuilt bottom-up: every node that is not a leaf is built again from its
    rebuilt arguments (the same object where none changed), then passed to ``at``, whose
    result stands for it; a leaf stands for itself, or for ``leaf(it)`` if ``leaf`` is
    given. A node shared in the tree is worked on once."""
    done: dict = {}  # id(node) -> (node, its result): the node is held, so its id stays its own
    stack, basic, leaves = [(e, False)], sp.Basic, LEAVES + (stop if isinstance(stop, tuple) else (stop,))
    while stack:
        x, ready = stack.pop()
        key = id(x)
        if key in done:
            continue
        if not isinstance(x, basic) or not x._args or isinstance(x, leaves):  # (is_leaf, inlined)
            done[key] = (x, x if leaf is None else leaf(x))
        elif not ready:
            stack.append((x, True))
            stack.extend((a, False) for a in x._args if id(a) not in done)
        else:
            old = x._args
            args = [done[id(a)][1] for a in old]
            same = all(a is b for a, b in zip(args, old))
            done[key] = (x, at(x if same else built(x, args)))
    return done[id(e)][1]


def bottom_up(cache: Memo, e, children, combine):
    """``value(e)`` where ``value(x) = combine(x, [value(c) for c in children(x)])``,
    remembered in ``cache`` by identity; each distinct node once. ``combine`` never
    returns None.

    >>> depth = lambda e: bottom_up(Memo(), e, lambda x: x.args, lambda x, vs: 1 + max(vs, default=0))
    >>> x = sp.Symbol("x")
    >>> depth(sp.tanh(sp.tanh(x) + 1))
    4
    """
    hit = recall(cache, e)
    if hit is not None:
        return hit
    done: dict = {}  # id -> value, for this call (the cache may evict while we work)
    stack = [(e, False)]
    while stack:
        x, ready = stack.pop()
        key = id(x)
        if key in done:
            continue
        if ready:
            done[key] = value = combine(x, [done[id(c)] for c in children(x)])
            remember(cache, x, value)
            continue
        hit = cache.get(key)  # (recall, inlined)
        if hit is not None and hit[0] is x:
            cache.move_to_end(key)
            done[key] = hit[1]
            continue
        stack.append((x, True))
        stack.extend((c, False) for c in children(x) if id(c) not in done)
    return done[id(e)]


def postorder(roots, children) -> list:
    """The distinct nodes under ``roots`` (by identity), each after all of its children."""
    out, seen, stack = [], set(), [(r, False) for r in reversed(list(roots))]
    while stack:
        x, ready = stack.pop()
        if ready:
            out.append(x)
            continue
        if id(x) in seen:
            continue
        seen.add(id(x))
        stack.append((x, True))
        stack.extend((c, False) for c in reversed(list(children(x))) if id(c) not in seen)
    return out


def renamed(e, args):
    """``e.func(*args)``, where ``args`` are the arguments of ``e``, a SymPy expression
    built as usual, with indices renamed one to one (no two parts become equal that were
    not): a sum or a product is put in SymPy's order without SymPy's flattening, which
    would find nothing to merge (renaming summed indices to fresh names rebuilds every
    product around a sum). Anything else is built as usual, and so is a sum or product
    of an unusual form (one inside another, a number other than the leading coefficient)
    or built under settings where SymPy would do more than order it (``evaluate`` off,
    ``distribute`` on). An ``exp`` or ``log`` is built without SymPy's evaluation: it
    finds nothing in the renamed argument, as it found nothing in ``e``'s (it looks at the
    argument's form and assumptions, which a one-to-one renaming of indices keeps), and it
    costs a millisecond or more (``log(1 + exp(-m[n]))`` asks each term whether it is
    zero, negative, ...).

    >>> i, j, k = Index("i"), Index("j"), Index("k")
    >>> x, w = sp.IndexedBase("x"), sp.IndexedBase("w")
    >>> e = 2*x[i, k]*w[k]
    >>> args = [a.xreplace({k: j}) for a in e.args]
    >>> out = renamed(e, args)
    >>> out == e.func(*args), out.args == e.func(*args).args
    (True, True)
    """
    head = type(e)
    if head is sp.Indexed and args[0] is e.args[0] and isinstance(args[0], sp.IndexedBase) and _SET is not None:
        out = sp.Expr.__new__(sp.Indexed, *args)  # (what Indexed() does with an IndexedBase)
        _SET(out, args[0].assumptions0)
        return out
    if head in _NO_EVAL and len(args) == 1 and _SKIP_EVAL:  # (before PLAIN: any renamed argument)
        return head(args[0], evaluate=False)
    if head is sp.Pow or head in PLAIN:
        return built(e, args)
    if head not in (sp.Add, sp.Mul) or len(args) < 2 or not global_parameters.evaluate or \
            global_parameters.distribute or any(type(a) is head or a.is_Number for a in args[1:]) or \
            type(args[0]) is head:
        return e.func(*args)
    ordered = [args[0], *sorted(args[1:], key=_ORDER)] if args[0].is_Number else sorted(args, key=_ORDER)
    return head._exec_constructor_postprocessors(head._from_args(ordered))


def built(e, args):
    """``e.func(*args)``, as SymPy builds it, the ``args`` standing for those of ``e``; a
    power of a sum that SymPy would leave as it is (:func:`plain_power`) is built
    without asking each term of the sum whether it is infinite, the costly part of
    building ``(x[i,d] - x[j,d])**2`` anew.

    >>> x, i, j = sp.IndexedBase("x"), Index("i"), Index("j")
    >>> e = (x[i] - x[j])**2
    >>> out = built(e, [x[i] - x[j] + 1, e.args[1]])
    >>> out, out.args == sp.Pow(*out.args).args
    ((x[i] - x[j] + 1)**2, True)
    """
    if type(e) is sp.Pow and plain_power(*args):
        return _as_is(*args)
    return PLAIN.get(type(e), e.func)(*args)  # exp and log: plain_functions


def power(base, x):
    """``base**x``, as :func:`built` builds a power (the checker's ``a^b``).

    >>> x, i = sp.IndexedBase("x"), Index("i")
    >>> power(x[i] - 1, sp.Rational(1, 2)) == sp.sqrt(x[i] - 1), power(sp.Integer(4), sp.Rational(1, 2))
    (True, 2)
    """
    return _as_is(base, x) if plain_power(base, x) else base ** x


def _as_is(base, x):
    """``Pow(base, x)`` where SymPy's evaluation would leave it as it is."""
    out = sp.Pow._exec_constructor_postprocessors(sp.Expr.__new__(sp.Pow, base, x))
    if isinstance(out, sp.Pow):
        out.is_commutative = base.is_commutative and x.is_commutative
    return out


def plain_power(base, x) -> bool:
    """Would SymPy (1.14's ``Pow.__new__``, ``Add._eval_power``) build ``base**x``
    as it is? So it does for a sum ``base`` of terms that are not all numbers and a
    rational ``x`` other than 0 and 1, unless the sum has two terms and one of them is
    infinite; a term with no infinity in it is not (no symbol of a program is infinite).
    Not for a term with a decimal coefficient either (older SymPy releases, as far as
    recalled 1.12, take the largest out: ``(2.0 + 4*x)**2`` is ``16*(0.5 + x)**2``).

    >>> x, i = sp.IndexedBase("x"), Index("i")
    >>> plain_power(x[i] - 1, sp.Integer(2)), plain_power(x[i] - 1, sp.Integer(1))
    (True, False)
    >>> plain_power(sp.sqrt(2) + 1, sp.Integer(2)), plain_power(x[i] + sp.oo, sp.Integer(-1))
    (False, False)
    """
    return type(base) is sp.Add and x.is_Rational and x is not sp.S.Zero and x is not sp.S.One and \
        global_parameters.evaluate and not base.is_number and \
        not any(a.is_Float or a.is_Mul and a.args[0].is_Float for a in base.args) and \
        (len(base.args) != 2 or not base.has(*_INFINITE))


_INFINITE = (sp.S.Infinity, sp.S.NegativeInfinity, sp.S.ComplexInfinity, sp.S.NaN)


_NO_EVAL = (sp.exp, sp.log)  # (renamed builds them without evaluation: see there)
_SKIP_EVAL = True  # (False: evaluated, for an A/B measurement)
_SET = getattr(sp.IndexedBase, "_set_assumptions", None)  # (SymPy's own, as Indexed() calls it)
_ORDER = cmp_to_key(sp.Basic.compare)  # SymPy's order of the terms of a sum, the factors of a product


def rename(e, ren: dict):
    """``e.xreplace(ren)`` for a one-to-one renaming ``ren`` of indices, rebuilt by
    :func:`renamed` where no new name is in ``e`` already (else by ``xreplace``).

    >>> i, j, k = Index("i"), Index("j"), Index("k")
    >>> x, w = sp.IndexedBase("x"), sp.IndexedBase("w")
    >>> rename(x[i, k]*w[k] + 1, {k: j}) == (x[i, k]*w[k] + 1).xreplace({k: j})
    True
    >>> rename(x[i]*x[j], {i: j, j: i}), rename(x[i]*x[k], {i: k})   # (the second: xreplace)
    (x[i]*x[j], x[k]**2)
    """
    if len(set(ren.values())) != len(ren):
        return e.xreplace(ren)
    out = _rename(e, ren, set(ren.values()) - set(ren))
    return e.xreplace(ren) if out is None else out


def _rename(e, ren, new):
    """:func:`rename`, or None where a name of ``new`` is in ``e``."""
    if not e.args:
        if e in new:
            return None
        return ren.get(e, e)
    args = []
    for a in e.args:
        a = _rename(a, ren, new)
        if a is None:
            return None
        args.append(a)
    return e if all(a is b for a, b in zip(args, e.args)) else renamed(e, args)
