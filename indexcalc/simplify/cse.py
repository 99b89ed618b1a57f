"""Name shared subexpressions once: temporaries ``t1[b] = ...`` ahead of the statements.

A subexpression is shared when it occurs twice or more, up to the names of its indices
(``dy[b,i]*gamma[i]`` in two statements is one temporary ``t1[b,i]``). Products share
a part when two of them hold the same two or more factors. Powers of one base share it
when their exponents are multiples of one another (``(v+eps)^(-1/2)`` and
``(v+eps)^(-3/2)`` become ``t1`` and ``t1^3``).

    >>> from indexcalc.language.algebra import Index
    >>> b, i = Index("b"), Index("i")
    >>> dy, g, v = sp.IndexedBase("dy"), sp.IndexedBase("g"), sp.IndexedBase("v")
    >>> temps, (e1, e2) = eliminate([dy[b, i]*g[i]*v[b], dy[b, i]*g[i] + 1], {"dy", "g", "v"})
    >>> temps, e1, e2
    ([('t1', (b, i), dy[b, i]*g[i])], t1[b, i]*v[b], t1[b, i] + 1)
"""

from __future__ import annotations

import itertools

import sympy as sp

from indexcalc.language.algebra import Index, ISum
from indexcalc.calculus.names import NameSupply
from indexcalc.language.walk import is_leaf, postorder
from indexcalc.simplify.cse_keys import Keys, _Held
from indexcalc.simplify.keys import alpha, blind
from indexcalc.simplify.cse_table import Table, inside, pick_from, scan
from indexcalc.simplify.products import rebuilt

_Keys = Keys  # (the tests' name)

_inside = inside  # the subexpressions a search for shared ones looks into


def _symbols(exprs) -> set:
    """The names of the symbols in ``exprs`` (``e.atoms(sp.Symbol)``, indices and tensor
    names included), each distinct subexpression looked into once (SymPy's walk goes
    through a shared one as often as it occurs: ``tanh(tanh(...))`` and its derivative)."""
    names, seen = set(), set()
    stack = [e for e in exprs if isinstance(e, sp.Basic)]
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, sp.Symbol):
            names.add(x.name)
        stack.extend(x.args)
    return names


def _index_order(free, tensors) -> tuple:
    """The free indices of an expression (``free``) in the order its ``tensors`` (its
    Indexed atoms) list them: ``dh[n,j]`` -> (n, j)."""
    seen = []
    for el in sorted(tensors, key=str):
        seen += [i for i in dict.fromkeys(el.indices) if i not in seen]  # A[k,k,h]: (k, h)
    return tuple(i for i in seen if i in free)


def eliminate(exprs, taken, prefix="t"):
    """``(temps, exprs)``: ``temps`` are ``(name, indices, expr)`` to compute first.

    ``taken``: the names in use (a set, or a :class:`~indexcalc.calculus.names.NameSupply`);
    temporaries are named ``prefix1, prefix2, ...`` around them."""
    supply = taken if isinstance(taken, NameSupply) else NameSupply(taken)
    supply.add(*_symbols(exprs))  # (what add_expr takes, each subexpression looked at once)
    prefix = supply.prefix([prefix])
    exprs, grouped = _group_powers(exprs)
    temps = []
    stuck = set()
    keys = Keys()
    if _EARLY and scan(exprs, keys, stuck) is None:
        exprs = [e.replace(_Held, lambda b, x: b**x) for e in exprs] if grouped else exprs
        return [], exprs  # nothing shared (most small programs): no table to build
    table = Table(exprs, keys)
    while True:
        roots = exprs + [t[2] for t in temps]
        pick = pick_from(table, roots, stuck)
        if pick is None or _CHECK:
            full = scan(roots, keys, stuck)
            if pick is not None:
                assert full == pick, (pick, full)  # (the tests' check of the table)
            pick = full
        if pick is None:
            release = (lambda e: e.replace(_Held, lambda b, x: b**x)) if grouped else (lambda e: e)  # noqa: E731
            return [(n, i, release(v)) for n, i, v in temps], [release(e) for e in exprs]
        best, value = pick
        idx = _index_order(keys.free(value), keys.tensors(value))
        if len(set(idx)) != len(idx):
            stuck.add(best)  # a left side needs distinct indices
            continue
        name = next(supply.numbered(prefix))
        done = {}  # id -> (expression, its substitution), shared by the statements
        # a whole subexpression occurs only where the table has it; a product's factors
        # may stand in any longer product (whatever its length)
        at = None if isinstance(value, sp.Mul) else table.above(best, keys.blind(value))
        new = [_substitute(e, best, name, idx, value, keys, done, at) for e in exprs]
        new_temps = [(n, i, _substitute(v, best, name, idx, value, keys, done, at)) for n, i, v in temps]
        counted = {}  # reads of name by subexpression, for this name: id -> (it, count)
        for x, y in done.values():
            if x is y:  # left as it was: cannot read the new name
                counted[id(x)] = (x, 0)
        changed = [(r, n) for r, n in zip(roots, new + [v for _, _, v in new_temps]) if r is not n]
        if sum(_reads(n, name, counted, table.node) for _, n in changed) < 2:  # (the others read none)
            stuck.add(best)  # occurrences without one index map (repeated indices)
            continue
        table.set_roots([r for r, _ in changed], [n for _, n in changed] + [value])
        exprs, temps = new, new_temps + [(name, idx, value)]


#: the tests set it: every round also scans the whole program and compares the choices
_CHECK = False
#: a scan of the program before the table is built: where nothing is shared, the end
_EARLY = True


def _reads(e, name, counted=None, before=None) -> int:
    """How many times ``e`` reads the tensor or scalar ``name`` (``counted``: a dict
    ``id -> (subexpression, count)``, for this ``name`` only; ``before``:
    ``{id: subexpression}`` made before ``name`` was, which read none of it: not looked
    into, so that a long product with one factor replaced costs a look at each factor)."""
    counted = {} if counted is None else counted
    before = {} if before is None else before
    hit = counted.get(id(e))
    if hit is not None and hit[0] is e:
        return hit[1]
    stack = [(e, False)]
    while stack:
        x, ready = stack.pop()
        k = id(x)
        if k in counted:
            continue
        if ready:  # (a child made before name is in neither table: it reads none)
            total = 0
            for a in x.args:
                h = counted.get(id(a))
                if h is not None:
                    total += h[1]
            counted[k] = (x, total)
        elif before.get(k) is x:
            counted[k] = (x, 0)
        elif isinstance(x, sp.Indexed):
            counted[k] = (x, int(str(x.base.label) == name))
        elif isinstance(x, sp.Symbol):
            counted[k] = (x, int(x.name == name and not isinstance(x, Index)))
        else:
            stack.append((x, True))
            stack.extend((a, False) for a in x.args if id(a) not in counted and before.get(id(a)) is not a)
    return counted[id(e)][1]


def _substitute(e, key, name, idx, value, keys, done=None, at=None):
    """``e`` with every occurrence of ``value`` (up to index names) replaced by ``name``;
    ``done`` remembers the subexpressions already seen (by identity), so that a
    subexpression repeated in a tree is worked on once, and the recursion (subexpressions
    first, without recursion) never goes deeper than a level. ``at``: the ids of the
    subexpressions that hold an occurrence (None: any may)."""
    done = {} if done is None else done
    if at is not None and id(e) not in at:
        return e
    if id(e) not in done:
        least = keys.nodes(value)
        for x in postorder([e], lambda y: [a for a in _inside(y) if (at is None or id(a) in at)
                                           and id(a) not in done and keys.nodes(a) >= least]):
            if id(x) not in done:
                done[id(x)] = (x, _substitute_at(x, key, name, idx, value, keys, done, at))
    return done[id(e)][1]


def _substitute_at(e, key, name, idx, value, keys, done, at=None):
    if is_leaf(e) or keys.nodes(e) < keys.nodes(value):
        return e
    target = keys.blind(value)
    # (of another class, never equal: its key, new each round for a long product, unasked)
    if type(e) is type(value) and keys.blind(e) == target and keys.exact(e) == key and (call := _call(name, idx, value, e, keys)) is not None:
        return call
    if isinstance(e, sp.Mul) and isinstance(value, sp.Mul):
        parts = {keys.blind(a) for a in value.args}
        factors = [a for a in e.args if not a.is_Number and keys.blind(a) in parts]
        r = len(value.args)
        if 1 < r <= len(factors) and r < len(e.args):
            for combo in itertools.combinations(factors, r):
                if keys.blind_of("Mul", combo) != target:
                    continue
                sub = sp.Mul(*combo)
                if keys.exact(sub) == key and (call := _call(name, idx, value, sub, keys)) is not None:
                    rest = [a for a in e.args if a not in combo]
                    return _substitute(sp.Mul(*rest), key, name, idx, value, keys, done, at) * call
    least = keys.nodes(value)  # (a leaf, a Tuple of indices or a smaller part stays as it is)
    args = [a if (at is not None and id(a) not in at) or isinstance(a, sp.Tuple) or is_leaf(a)
            or keys.nodes(a) < least else _substitute(a, key, name, idx, value, keys, done, at)
            for a in e.args]
    if all(a is b for a, b in zip(args, e.args)):
        return e
    if isinstance(e, ISum):
        return ISum(*args)  # (its stated sizes kept: sum[k:2] of a strided window)
    return rebuilt(e, args)  # (a long product: the changed factors put in their places)


def _call(name, idx, value, occurrence, keys):
    """``name[...]`` with the indices ``occurrence`` uses where ``value`` uses ``idx``."""
    if not idx:
        return sp.Symbol(name)
    a, b = keys.alpha(value), keys.alpha(occurrence)
    for image in itertools.permutations(sorted(keys.free(b), key=str)):
        m = dict(zip(idx, image))
        if keys.slotted(a, m) == b:
            return sp.IndexedBase(name)[image]
    return None  # equal keys, no consistent map (repeated indices): leave it be


def _group_powers(exprs):
    """Write ``B^(-3/2)`` as ``_Held(B, -1/2)^3`` when ``B^(-1/2)`` occurs too (``B`` up
    to the names of its summed indices)."""
    alike: dict = {}  # by blind key first (cheap, and equal wherever alpha is): alpha
    for e in exprs:   # walks the whole base, tanh(tanh(...)) at each depth
        for p in _powers(e):
            if not is_leaf(p.base) and p.exp.is_Rational:
                alike.setdefault(blind(p.base), []).append(p)
    groups: dict = {}
    for pows in alike.values():
        if len(pows) > 1:
            for p in pows:
                groups.setdefault(alpha(p.base), []).append(p)
    held = {}
    for pows in groups.values():
        # B^(1/2) before B^(-1/2), whatever the order of the set atoms() returns (a Python
        # bool: SymPy's true and false do not compare)
        g = min((p.exp for p in pows), key=lambda x: (abs(x), bool(x.is_negative)))
        if len(pows) > 1 and all((p.exp / g).is_Integer for p in pows):
            held.update({p: _Held(p.base, g) ** (p.exp / g) for p in pows})
    return [e.xreplace(held) for e in exprs] if held else list(exprs), bool(held)


def _powers(e) -> dict:
    """``e.atoms(sp.Pow)`` (as the keys of a dict, in no particular order), each distinct
    subexpression looked into once (SymPy's walk goes through a shared one as often as it
    occurs)."""
    out, seen, stack = {}, set(), [e]
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, sp.Pow):
            out[x] = None
        stack.extend(a for a in x.args if isinstance(a, sp.Basic))
    return out
