"""The comparisons of the gradient of ``max[..]`` and ``min[..]``, lowered so that they are
exact: ``step(m - x)`` must be 0 exactly where ``x`` attains the maximum ``m``, so ``x`` is
read as the very node the reduction reduced, however the backward wrote it (``b`` is the
lowering's builder, :class:`indexcalc.lower.build._Builder`).

    >>> import numpy as np, indexcalc as ic
    >>> d = ic.derive("y[i] = max[u](x[i]*W[i,u]*x[u])", wrt="x")
    >>> x, W = np.array([1., 2.]), np.array([[1., 3.], [3., 1.]])
    >>> d.compile()(x=x, W=W, dy=np.ones(2))["x"]
    array([12.,  6.])
"""

from __future__ import annotations

import itertools

import sympy as sp

from indexcalc.lower.ir import EXTREMA, FOLDS, Broadcast, Const, Contract, Input, Map
from indexcalc.lower.ref import Ref


def compared(b, e) -> Ref:
    """The argument of ``step(m - x)`` where ``m`` is a max (or min) reduction: ``x`` is
    computed as one value, the node the reduction reduced, and subtracted once, so that
    where ``x`` attains the maximum the difference is exactly 0 (the gradient of
    ``max[..]`` tests this). SymPy writes ``m - (a + b)`` as ``m - a - b``, which would
    round differently from ``a + b``; so ``x`` is kept whole, and read by :func:`aligned`."""
    terms = list(e.args)
    pairs = []  # (c, m, x) for each reduction m that is a term: e = c·(m - x)
    for k, t in enumerate(terms):
        c, r = t.as_coeff_Mul()
        if c not in (1, -1) or isinstance(r, (sp.Add, sp.Number)):
            continue
        m = b.expr(r)
        if not isinstance(b.g[m.node].op, EXTREMA):
            continue
        x = b.expr(sp.Add(*[-c * o for o in terms[:k] + terms[k + 1:]]))
        read = aligned(b, x, m)
        pairs.append((c, m, read or x, read is not None))
    if not pairs:
        return b.expr(e)
    # the reduction whose body x is (another max may be a term of the body: t + v1 - y
    # with v1 = max[f](..) inside y's body compares with y), else the first
    c, m, x, _ = next((p for p in pairs if p[3]), pairs[0])
    b.named.add(x.node)  # x is one operand, not opened into the sum or the product
    first, second = (m, x) if c == 1 else (x, m)
    return b.map("add", [first, b.map("mul", [b.const(-1), second])])


def aligned(b, x: Ref, m: Ref):
    """``x`` replaced by the node that ``m`` reduced, read with the indices ``m`` keeps at
    the axes the reduction kept, where the two are the same expression. Only that node
    rounds like the maximum: ``x[j]*W[j,w]*x[w]`` computed as ``t1[j,w]*x[w]`` (a
    temporary the backward introduced) or with the two ``x`` factors multiplied in the
    other order may differ in the last bit, and ``m - x == 0`` would miss the arg-max.
    None when no reading matches."""
    node = b.g[m.node]
    (body, pos), = node.args
    if len(set(pos)) != len(pos):
        return None
    out = node.op.output
    kept = {a: m.labels[out.index(n)] for a, n in enumerate(pos) if n in out}
    if x.node == body and all(x.labels[a] == label for a, label in kept.items()):
        return x
    free = [i for i in dict.fromkeys(x.labels) if i not in kept.values()]
    reduced = [a for a in range(len(pos)) if a not in kept]
    if len(free) != len(reduced) or len(free) > 5:
        return None
    want = canonical(b, x)
    for labels in itertools.permutations(free):
        read = {**kept, **dict(zip(reduced, labels))}
        ref = Ref(body, tuple(read[a] for a in range(len(pos))))
        if canonical(b, ref) == want:
            return ref
    return None


def canonical(b, r: Ref):
    """A form of ``r`` equal for expressions equal in exact arithmetic however the backward
    regrouped them: sums and products flattened (through named statements too) and
    collected into a polynomial over atoms, with numeric coefficients, powers of powers
    merged (``sqrt(t)^3`` is ``t^(3/2)``) and element-wise products expanded over sums;
    contractions and reductions with their summed indices renamed canonically. So
    ``t1[h,p]*b[n]`` with ``t1[h,p] = u[h]*A[h,p]`` and ``b[i]*u[h]*A[h,p]`` have one form,
    and so have ``max[n](t1[h,p]*b[n])`` and ``max[i](u[h]*A[h,p]*b[i])``. Labels appear in
    the form as ``("@", label)``."""
    return _form(b, r, itertools.count())


_EXPAND = 32  # the most monomials an expanded product may have (else it stays one atom)


def _form(b, r: Ref, fresh):
    poly = _poly(b, r, fresh)
    if len(poly) == 1:
        (mono, coef), = poly.items()
        if coef == 1.0 and len(mono) == 1 and mono[0][1] == 1.0:
            return mono[0][0]  # an atom
    return ("poly",) + tuple(sorted(poly.items(), key=repr))


def _poly(b, r: Ref, fresh) -> dict:
    """``r`` as ``{monomial: coefficient}``, a monomial a sorted tuple of ``(atom, power)``."""
    node = b.g[r.node]
    op = node.op
    if isinstance(op, Const):
        return {(): float(op.value)}
    if op == Map("add"):
        out: dict = {}
        for q in b.operands(r, "add", split_named=True):
            for mono, c in _poly(b, q, fresh).items():
                out[mono] = out.get(mono, 0.0) + c
        return {m: c for m, c in out.items() if c != 0.0}
    if op == Map("mul"):
        out = {(): 1.0}
        for q in b.operands(r, "mul", split_named=True):
            out = _times(out, _poly(b, q, fresh))
            if out is None:
                return _atom(_product_atom(b, r, fresh))
        return out
    if isinstance(op, Map) and op.function == "pow" and op.parameters[0].is_Number:
        (a, pos), = node.args
        base = _poly(b, Ref(a, tuple(r.labels[p] for p in pos)), fresh)
        e = float(op.parameters[0])
        if len(base) == 1:
            (mono, c), = base.items()
            if c > 0 or e.is_integer():
                return {tuple(sorted(((f, p * e) for f, p in mono), key=repr)): c ** e}
        return {((("poly",) + tuple(sorted(base.items(), key=repr)), e),): 1.0}
    if isinstance(op, Contract):
        factors, bound = [], set()
        _factors(b, r, fresh, factors, bound)
        # factors that read no summed index multiply the sum (Σ_f U·X_f·h_f = U·Σ_f X_f·h_f),
        # the others form one sum per group that shares summed indices
        out = {(): 1.0}
        for group in _groups(factors, bound):
            if group[1]:
                part = _atom(("prod",) + _renamed_bound(group[0], group[1]))
            else:
                f, = group[0]
                part = dict(f[1:]) if f[0] == "poly" else {((f, 1.0),): 1.0}
            out = _times(out, part)
            if out is None:
                return _atom(("prod",) + _renamed_bound(factors, bound))
        return out
    return _atom(_leaf(b, r, fresh))


def _atom(form) -> dict:
    return {((form, 1.0),): 1.0}


def _times(p: dict, q: dict):
    """The product of two polynomials, or None where it has more than ``_EXPAND`` terms."""
    if len(p) * len(q) > _EXPAND:
        return None
    out: dict = {}
    for m1, c1 in p.items():
        for m2, c2 in q.items():
            powers: dict = {}
            for f, e in m1 + m2:
                powers[f] = powers.get(f, 0.0) + e
            mono = tuple(sorted(((f, e) for f, e in powers.items() if e != 0.0), key=repr))
            out[mono] = out.get(mono, 0.0) + c1 * c2
    return {m: c for m, c in out.items() if c != 0.0}


def _product_atom(b, r, fresh):
    return ("mul",) + tuple(sorted((_form(b, q, fresh) for q in b.operands(r, "mul", split_named=True)), key=repr))


def _leaf(b, r: Ref, fresh):
    """The form of a node that is neither a sum, a product nor a power of a number."""
    node = b.g[r.node]
    op = node.op
    if isinstance(op, FOLDS):
        (a, pos), = node.args
        out = op.output
        labels = {k: r.labels[out.index(k)] for k in out}
        bound = {k: f"~{next(fresh)}" for k in pos if k not in labels}
        body = _form(b, Ref(a, tuple(labels.get(k) or bound[k] for k in pos)), fresh)
        return (op.word,) + _renamed_bound([body], set(bound.values()))
    if isinstance(op, Map):
        return ("map", op.function) + tuple(map(str, op.parameters)) + tuple(
            _form(b, Ref(a, tuple(r.labels[p] for p in pos)), fresh) for a, pos in node.args)
    if isinstance(op, Broadcast):  # the operand's values, read at the axes it has
        (a, pos), = node.args
        return _form(b, Ref(a, tuple(r.labels[p] for p in pos)), fresh)
    if isinstance(op, Input):
        return ("input", op.name) + tuple(("@", i) for i in r.labels)
    return (r.node,) + tuple(("@", i) for i in r.labels)


def _factors(b, r: Ref, fresh, out: list, bound: set):
    """The factors of a product or contraction ``r`` (through nested ones and named
    statements), summed labels renamed apart into ``bound``."""
    node = b.g[r.node]
    if node.op == Map("mul"):
        for q in b.operands(r, "mul", split_named=True):
            _factors(b, q, fresh, out, bound)
    elif isinstance(node.op, Contract):
        names = dict(zip(node.op.output, r.labels))
        for a, labels in node.args:
            for k in labels:
                if k not in names:
                    names[k] = f"~{next(fresh)}"
                    bound.add(names[k])
            _factors(b, Ref(a, tuple(names[k] for k in labels)), fresh, out, bound)
    else:
        out.append(_form(b, r, fresh))


def _groups(factors: list, bound: set) -> list:
    """``[(factors, their summed labels)]``: each factor that reads no summed label alone,
    the others grouped by the summed labels they share."""
    def labels(f):
        if isinstance(f, tuple):
            if len(f) == 2 and f[0] == "@":
                return {f[1]} & bound
            return set().union(*map(labels, f)) if f else set()
        return set()

    groups = []
    for f in factors:
        ls = labels(f)
        joined = [g for g in groups if g[1] & ls]
        for g in joined:
            groups.remove(g)
        groups.append(([f] + [x for g in joined for x in g[0]], ls.union(*(g[1] for g in joined))))
    return groups


def _renamed_bound(forms: list, bound: set) -> tuple:
    """``forms`` sorted with the ``bound`` labels masked, then those labels numbered by first
    appearance: a canonical naming of summed indices (good for the products a backward
    writes; not a complete graph canonization)."""
    def masked(f):
        if isinstance(f, tuple):
            if len(f) == 2 and f[0] == "@":
                return ("@", "*") if f[1] in bound else f
            return tuple(masked(x) for x in f)
        return f

    forms = sorted(forms, key=lambda f: repr(masked(f)))
    names: dict = {}

    def walk(f):
        if isinstance(f, tuple):
            if len(f) == 2 and f[0] == "@":
                if f[1] in bound:
                    names.setdefault(f[1], f"#{len(names)}")
                    return ("@", names[f[1]])
                return f
            return tuple(walk(x) for x in f)
        return f

    return tuple(walk(f) for f in forms)
