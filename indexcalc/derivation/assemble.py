"""From the raw statements of a sweep to the printed ones: the names of gradients (never a
program name), intermediate gradients inlined where they are read once, shared
subexpressions as temporaries ``t1, t2, ...``, and the size check of the printout.

    >>> import indexcalc as ic
    >>> prog = ic.parse("y = sum[i](dx[i]*x[i])")
    >>> check_wrt(prog, "dx, x, dx")   # the gradients' names: language/naming.py
    ['dx', 'x']
"""

from __future__ import annotations

from collections import Counter

import sympy as sp

from indexcalc.calculus.contract import contract
from indexcalc.calculus.differentiate import state_sizes
from indexcalc.calculus.names import NameSupply
from indexcalc.calculus.recurrent import recurrent_temporaries, self_reading
from indexcalc.errors import InternalError, WrtError
from indexcalc.language.algebra import Index, ISum, tensor_names
from indexcalc.language.program import Statement
from indexcalc.simplify.cse import eliminate
from indexcalc.simplify.products import Product, rebuilt
from indexcalc.language.memo import Memo
from indexcalc.language.walk import bottom_up
from indexcalc.simplify.tidy import common_factors, factor, pretty_indices, reuse_forward
from indexcalc.simplify.vanishing import vanishing_sums
from indexcalc.derivation.inline_places import off_place_names, _collapses, _is, _read_off_place


def check_wrt(prog, wrt) -> list:
    """``wrt`` as a list of input names (default: all inputs), each once (a name given
    twice is differentiated once, as a dict of gradients holds it once), or a WrtError."""
    if wrt is None and not prog.inputs:
        raise WrtError("the program reads no input, so there is nothing to differentiate")
    integers = getattr(prog, "integers", ())  # README "Gathers": integer data, never differentiated
    if wrt is None and not set(prog.inputs) - set(integers):
        raise WrtError("the program reads only integer inputs (read in index positions), so there is "
                       "nothing to differentiate")
    if wrt is None:
        return [x for x in prog.inputs if x not in integers]
    wrt = [w.strip() for w in wrt.split(",")] if isinstance(wrt, str) else list(wrt)
    for w in wrt:
        if w in integers:
            raise WrtError(f"cannot differentiate with respect to {w!r}: it is an integer input (read in "
                           "an index position), which has no derivative")
        if w not in prog.inputs:
            kind = "an assigned name" if w in prog.ranks else "not a name of the program"
            raise WrtError(f"cannot differentiate with respect to {w!r}: it is {kind}; "
                           f"the inputs are {', '.join(prog.inputs)}")
    if not wrt:
        raise WrtError("wrt names no input")
    return list(dict.fromkeys(wrt))


def tidy(expr, prog, keep, taken=(), axes=()):
    """Forward values back in, common factors out, the size of a broadcast index no
    tensor carries as ``len()`` of a left index (``keep``, whose sizes are those of
    ``axes``: ``(name, axis)`` keys) or as ``size(A, k)``, short index names (none of
    ``taken``)."""
    e = state_sizes(factor(reuse_forward(vanishing_sums(expr, prog), prog)), keep, prog, left_keys=axes)
    return pretty_indices(e, keep, taken, prog)


def inline_cheap(raw, keep):
    """Substitute an intermediate gradient into its reader when it is element-wise (no
    sum) and read by one statement: ``dp = -t/(p N)`` disappears into ``dz``, which then
    simplifies. Where the reader reads it more than once and the result would have more
    than :data:`INLINE_COPIED` nodes, it is inlined only if the reader reads it once after
    the reader's common factors are pulled out."""
    raw = list(raw)
    reads = [set(tensor_names(e)) for _, _, e in raw]  # (kept up to date, in place: a long
    counts = [read_counts(e) for _, _, e in raw]        # chain inlined one by one walks no
    deferred = {}                                        # product, nor copies its reads, N times)
    off = off_place_names(e for _, _, e in raw)  # (names read somewhere off a bare index)
    for k in range(len(raw) - 1, -1, -1):
        name, idx, value = raw[k]
        if name in keep or value.has(ISum) or self_reading(name, value):  # (a recurrence stays)
            continue
        readers = [m for m in range(k + 1, len(raw)) if name in reads[m]]
        if len(readers) != 1:
            continue
        m = readers[0]
        if idx and name in off:  # (the reader as it stands, a deferred product written out)
            if m in deferred:
                raw[m] = (raw[m][0], raw[m][1], deferred.pop(m).expr())
            if _read_off_place(raw[m][2], name, idx, value) or _collapses(raw[m][2], name, idx, value):
                continue
            off |= reads[k]  # (what the value reads may now stand off place in the reader)
        copies = counts[m][name]
        product = deferred.get(m)
        if product is not None and copies == 1 and product.inline(name, idx, value):
            counts[m].update(counts[k])
            del counts[m][name]
            reads[m].discard(name)
            reads[m] |= reads[k]
            del raw[k], reads[k], counts[k]
            deferred = {j - (j > k): p for j, p in deferred.items()}
            continue
        if product is not None:
            raw[m] = (raw[m][0], raw[m][1], deferred.pop(m).expr())
        reader = raw[m][2]
        if copies > 1 and _nodes_over(reader, INLINE_COPIED) + copies * _nodes_over(value, INLINE_COPIED) \
                > INLINE_COPIED:
            # copies of copies: a chain of N residual statements would inline into 2^N
            # copies of its first one. The sweep sums a gradient's contributions
            # (``a*dh + dh/2``); as one product (``(a + 1/2)*dh``) it reads ``dh`` once.
            # (Only for a large gradient: a small one is copied, and the printout's
            # tidying multiplies out and factors what it can, ``1 - 2*t[n]``.)
            reader = common_factors(reader)
            if reads_of(reader, name) > 1:
                continue
        expr = _in_factors(reader, name, idx, value, reads_of(reader, name) if copies > 1 else copies)
        if expr is None:
            uses = {el: value.xreplace(dict(zip(idx, el.indices))) for el in reader.atoms(sp.Indexed)
                    if _is(el, name)} if idx else {sp.Symbol(name): value}
            expr = reader.xreplace(uses)
        raw[m] = (raw[m][0], raw[m][1], contract(expr))
        read_before, reads[m] = reads[m], set(tensor_names(raw[m][2]))
        if copies == 1 and reads[m] == (read_before - {name}) | reads[k]:
            counts[m].update(counts[k])  # (Counter: what the reader read, and the value's)
            del counts[m][name]
        else:
            counts[m] = read_counts(raw[m][2])
        del raw[k], reads[k], counts[k]
        deferred = {j - (j > k): p for j, p in deferred.items()}
        if copies == 1 and Product.worth(raw[m - 1][2]):
            deferred[m - 1] = Product(raw[m - 1][2])
    for m, product in deferred.items():
        raw[m] = (raw[m][0], raw[m][1], product.expr())
    return raw


#: the most nodes (read as a tree) of a reader with an intermediate gradient it reads
#: more than once copied in as it stands (``dX = X[k,j]*dG[i,j] + X[k,j]*dG[j,i]``)
INLINE_COPIED = 400


def _nodes_over(e, limit) -> int:
    """The number of nodes of ``e`` read as a tree (an element ``x[..]`` is a leaf), or
    a number above ``limit`` once there are more: a walk of at most ``limit + 1`` nodes,
    not of the whole gradient (a residual chain's reader grows with every statement)."""
    n, stack = 0, [e]
    while stack and n <= limit:
        n += 1
        stack.extend(_below(stack.pop()))
    return n


def _below(x):
    return () if isinstance(x, sp.Indexed) else x.args


def read_counts(e) -> Counter:
    """``{name: how many times e, read as a tree, reads it}`` (an element ``x[..]``, or
    the scalar ``x``), each distinct node counted once and remembered by identity: a
    subexpression shared many times costs one visit, not one per copy, and a gradient
    that holds one counted before (inline_cheap's growing reader) costs its new nodes.

        >>> x = sp.IndexedBase("x")[Index("i")]
        >>> e = sp.tanh(x) + x*sp.Symbol("s")
        >>> sorted(read_counts(e * sp.exp(e)).items())  # (an index is no read)
        [('s', 2), ('x', 4)]
        >>> y = sp.IndexedBase("y")
        >>> read_counts(sp.Add(y[Index("i")] * 3, y[Index("i")] / 2, evaluate=False))["y"]  # equal copies
        2
    """
    return Counter(bottom_up(_READS, e, _below, _reads_here))


_READS = Memo(1 << 16)  # node -> its read counts, by identity (indexcalc.language.memo); never mutated


def _reads_here(x, below) -> Counter:
    if isinstance(x, sp.Indexed):
        return Counter({str(x.base.label): 1})
    if type(x) is sp.Symbol:
        return Counter({x.name: 1})
    if len(below) == 1:
        return below[0]
    out = Counter()
    for counts in below:
        for name, n in counts.items():
            out[name] += n
    return out


def reads_of(e, name) -> int:
    """How many times ``e``, read as a tree, reads the tensor ``name``
    (:func:`read_counts`)."""
    return bottom_up(_READS, e, _below, _reads_here)[name]


def inline_deltas(raw, keep):
    """Substitute an intermediate Jacobian that is one product holding a delta, no sum
    (``dE_dU[i,j,l,m] = -delta(i,l)*M[i,j]*V[j,m]``) into every reader, which then sums the
    delta away where it sums its index: Jacobians of multi-statement programs are
    contracted symbolically before anything is materialized (the matrix-factorization
    Hessian's ``ddU_dU`` reads ``M[i,j]^2*V[j,k]*V[j,m]`` on the diagonal ``i = l``, not an
    N³k array). Statements in ``keep`` stay; so does one of rank 2 (a vector's Jacobian is
    no larger than the Hessian that reads it, and reads better named) and one that a
    reader reads at other than bare indices (a gather's ``dh_dx[tok[n],w]``, a window's).
    The order is the program's, so a reader that keeps a delta is substituted in its turn."""
    raw = list(raw)
    k = 0
    while k < len(raw):
        name, idx, value = raw[k]
        bare = all(isinstance(i, Index) for _, _, e in raw[k + 1:] for el in e.atoms(sp.Indexed) if _is(el, name)
                   for i in el.indices)
        if name in keep or not value.has(sp.KroneckerDelta) or value.has(ISum) or len(idx) < 3 or not bare or \
                not all(isinstance(t, (sp.Mul, sp.KroneckerDelta)) and t.has(sp.KroneckerDelta)
                        for t in sp.Add.make_args(value)):  # a sum stays one statement unless every term holds a delta
            k += 1
            continue
        for m in range(k + 1, len(raw)):
            uses = {el: value.xreplace(dict(zip(idx, el.indices))) for el in raw[m][2].atoms(sp.Indexed)
                    if _is(el, name)}
            if uses:
                raw[m] = (raw[m][0], raw[m][1], contract(raw[m][2].xreplace(uses)))
        del raw[k]
    return raw


def inline_aliases(raw, keep):
    """Drop a statement that only renames another up to a number (``dy_dx = -dt1_dx``),
    or is zero, its readers reading ``-dt1_dx`` (or 0) instead; statements in ``keep`` stay."""
    raw = list(raw)
    for k in range(len(raw) - 1, -1, -1):
        name, idx, value = raw[k]
        c, el = value.as_coeff_Mul()
        if value == 0:
            c, el = sp.Integer(0), sp.IndexedBase(name)[idx] if idx else sp.Symbol(name)
        elif name in keep or not isinstance(el, sp.Indexed) or sorted(el.indices, key=str) != sorted(idx, key=str):
            continue
        if name in keep:
            continue
        for m in range(k + 1, len(raw)):
            uses = {u: c * el.xreplace(dict(zip(idx, u.indices))) for u in raw[m][2].atoms(sp.Indexed) if _is(u, name)}
            uses.update({u: c * el for u in raw[m][2].atoms(sp.Symbol)
                         if not idx and not isinstance(u, Index) and _is(u, name)})
            if uses:
                raw[m] = (raw[m][0], raw[m][1], raw[m][2].xreplace(uses))
        del raw[k]
    return raw


def _in_factors(reader, name, idx, value, copies):
    """``reader`` with ``value`` in place of its ``copies`` reads of ``name`` when each is
    a factor of the product ``reader`` (what ``xreplace`` gives, without walking into
    every factor: a chain of 1,000 statements inlines into a product of 1,000), else None."""
    if not idx or not isinstance(reader, sp.Mul):
        return None
    at = [a for a in reader.args if _is(a, name)]
    if len(at) != copies:
        return None
    uses = {el: value.xreplace(dict(zip(idx, el.indices))) for el in at}
    return rebuilt(reader, [uses.get(a, a) for a in reader.args])  # (not sorting all N factors again)


def with_temporaries(statements, taken, outputs=(), tensors=(), prog=None):
    """Shared subexpressions as temporaries, each placed before its first reader. An
    intermediate gradient that would only copy a temporary takes its value instead, and
    the other readers of the temporary read it. Statements named in ``outputs`` (the
    gradients asked for) stay unread, as README "The language" (printouts) wants, so ``dx = t1`` may stay.
    ``taken``: the derivation's NameSupply (or a set of names); no index of a temporary
    is named as one of ``tensors`` (the program's names) or a statement."""
    supply = taken if isinstance(taken, NameSupply) else NameSupply(taken)
    # provisional temporary names from a copy of the supply (the final ones are given
    # in order by _renumber), which also serves the renaming around them
    with NameSupply(supply.taken).active() as scratch:
        temps, exprs = eliminate([st.expr for st in statements], scratch)
        temps, exprs = recurrent_temporaries(temps, exprs, [st.name for st in statements])
        tensors = set(tensors) | {st.name for st in statements}
        temps = {n: Statement(n, idx, pretty_indices(v, idx, tensors, prog)) for n, idx, v in temps}
    body = [Statement(st.name, st.indices, e) for st, e in zip(statements, exprs)]
    for k, st in enumerate(body):
        t = temps.get(_name_of(st.expr))
        if t is not None and st.name not in outputs and _reads_whole(st, t):
            del temps[t.name]
            body[k] = Statement(st.name, st.indices, t.expr.xreplace(dict(zip(t.indices, st.indices))))
            ren = {sp.IndexedBase(t.name): sp.IndexedBase(st.name), sp.Symbol(t.name): sp.Symbol(st.name)}
            body = [b if j == k else Statement(b.name, b.indices, b.expr.xreplace(ren)) for j, b in enumerate(body)]
            temps = {n: Statement(n, s.indices, s.expr.xreplace(ren)) for n, s in temps.items()}
    out, placed = [], set()
    statement_of = {**temps, **{b.name: b for b in body}}
    order = {b.name: k for k, b in enumerate(body)}

    def place(st, at):
        placed.add(st.name)
        for dep in sorted(tensor_names(st.expr) & set(statement_of), key=list(statement_of).index):
            # (a statement later in the body is read at a later step of a recurrence: it stays there)
            if dep not in placed and order.get(dep, -1) <= at:
                place(statement_of[dep], at)
        out.append(st)

    for k, st in enumerate(body):
        if st.name not in placed:
            place(st, k)
    return _renumber(out, [st.name for st in out if st.name in temps], supply)


def _reads_whole(st, t) -> bool:
    """Is ``st`` exactly ``t`` read at ``st``'s own indices (``dh[n,j] = t1[n,j]``)?"""
    if st.indices:
        return isinstance(st.expr, sp.Indexed) and tuple(st.expr.indices) == tuple(st.indices) \
            and len(t.indices) == len(st.indices)
    return isinstance(st.expr, sp.Symbol) and not t.indices


def _name_of(e):
    return str(e.base.label) if isinstance(e, sp.Indexed) else e.name if isinstance(e, sp.Symbol) else None


def _renumber(statements, temps, supply):
    """Temporaries numbered t1, t2, ... in the order they are computed (u1, ... when the
    program has a name ``t``, so that ``t1`` is not read as a part of ``t``); no
    temporary takes a name of the program or an index name of the printout."""
    prefix = supply.prefix(["t", "u", "v", "tmp"])
    for st in statements:
        if st.name not in temps:
            supply.add(st.name)
        supply.add(*st.indices, *(str(i) for i in st.expr.atoms(Index)))
    names = supply.numbered(prefix)
    ren = {sp.Symbol(t): sp.Symbol(next(names)) for t in temps}
    ren.update({sp.IndexedBase(t.name): sp.IndexedBase(n.name) for t, n in ren.items()})
    return [Statement(ren.get(sp.Symbol(st.name), sp.Symbol(st.name)).name, st.indices,
                      st.expr.xreplace(ren)) for st in statements]


def check_sizes(forward, program, axes, lines):
    """The last line of defence against a wrong-sized result: the printed statements,
    re-parsed after ``forward``, must not tie two axes whose sizes ``forward`` leaves
    free to differ (a gradient read at an index of another size would), and each named
    in ``axes`` (``{name: [(tensor, axis), ...]}``) must have those axes' sizes."""
    before, after = forward.sizes, program.sizes
    for name, want in axes.items():  # an upstream gradient dY has the shape of Y (README
        if name in program.inputs:    # section 1), which compile() then checks too
            for a, key in enumerate(want):
                after.join((name, a), key, None)
    seen = {}
    for key in [k for k in list(before.parent) if isinstance(k[0], str)]:
        root = after.find(key)
        if seen.setdefault(root, before.find(key)) != before.find(key):
            other = next(k for k in before.parent if isinstance(k[0], str) and
                         before.find(k) == seen[root])
            raise InternalError(f"the printed derivative {lines!r} would make axis {key[1]} of "
                                f"{key[0]} as large as axis {other[1]} of {other[0]}, which the "
                                "program does not require")
    for name, want in axes.items():
        if name not in program.ranks:
            continue
        for a, key in enumerate(want):
            if key in before.parent and after.find((name, a)) != after.find(key):
                raise InternalError(f"the printed derivative {lines!r} does not give {name} the "
                                    f"axes of {', '.join(sorted({k[0] for k in want}))}")
