"""The tensor chain rule: partial derivatives with Kronecker deltas, and the reverse sweep.

``partial(e, "X", (a, b))`` is ∂e/∂X[a,b]: an element ``X[i,k]`` gives
``δ(i,a)·δ(k,b)``, functions use the table in :mod:`indexcalc.calculus.rules`. The sweep runs over
the statements backwards; statement ``Y[free] = rhs`` sends each name ``N`` it reads the
contribution ``Σ_free dY[free] · ∂rhs/∂N[targets]``, contracted at once.

    >>> import indexcalc as ic
    >>> prog = ic.parse("Y[i,j] = X[i,k]*W[k,j]")
    >>> [(name, idx) for name, idx, _ in reverse_sweep(prog, ["X"], {"Y": "dY"}, {"X": "dX"})]
    [('dX', (i, k))]
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import NamedTuple

import sympy as sp
from sympy import KroneckerDelta

from indexcalc.calculus import rules
from indexcalc.language.algebra import Binder, Delta, Index, ISum, Len, Size, tensor_names
from indexcalc.calculus.apart import freshen_renamed, own_indices
from indexcalc.calculus.contract import contract, freshen, isum, traced
from indexcalc.calculus.named import named_value
from indexcalc.calculus.recurrent import rename_copies, sweep_group
from indexcalc.calculus.solve import guard_deltas
from indexcalc.calculus.names import NameSupply, current
from indexcalc.language.memo import Memo, recall, remember
from indexcalc.language.naming import preactivation_names
from indexcalc.language.walk import rename as rename_indices
from indexcalc.language.windows import read_letters, stated_size, state_sum_sizes


def partial(e, name: str, targets: tuple):
    """∂e/∂name[targets] (``targets`` are indices not used in ``e``)."""
    if name not in value_reads(e):  # a size (len(i), size(A, k)) is a constant
        return sp.Integer(0)
    if isinstance(e, sp.Symbol):
        return sp.Integer(1)
    if isinstance(e, sp.Indexed):
        return sp.Mul(*[Delta(i, t) for i, t in zip(e.indices, targets)])
    if isinstance(e, sp.Add):
        return sp.Add(*[partial(a, name, targets) for a in e.args])
    if isinstance(e, sp.Mul):
        terms = ((k, partial(f, name, targets)) for k, f in enumerate(e.args))
        return sp.Add(*[sp.Mul(*e.args[:k], d, *e.args[k + 1:]) for k, d in terms if d != 0])
    if isinstance(e, sp.Pow):
        return rules.power(e.base, e.exp, partial(e.base, name, targets), partial(e.exp, name, targets))
    if isinstance(e, ISum):
        return isum(partial(e.body, name, targets), e.indices)
    if type(e) in rules.REDUCTION:
        return reduction(e, lambda body: partial(body, name, targets))
    if type(e) in rules.ELEMENTWISE:  # f(g(...(u))): the chain of factors in one product,
        chain = []                        # a loop, not a recursion as deep as the nesting
        while type(e) in rules.ELEMENTWISE and name in value_reads(e):
            chain.append(rules.ELEMENTWISE[type(e)](e.args[0], e))
            e = e.args[0]
        return sp.Mul(*chain, partial(e, name, targets))
    if type(e) in rules.BINARY:
        da, db = (partial(a, name, targets) for a in e.args)
        ra, rb = rules.BINARY[type(e)]
        return (ra(*e.args) * da if da != 0 else 0) + (rb(*e.args) * db if db != 0 else 0)
    if type(e) in rules.MATRIX:  # the argument is the matrix name itself
        return rules.MATRIX[type(e)](e, *targets)
    raise NotImplementedError(f"no derivative rule for {type(e).__name__}")


def reduction(e, d):
    """``dy = Σ_i w·d(body)`` for a reduction ``y = e`` over ``i`` (``max[i](x[b,i])``):
    the body is renamed apart (fresh ``i``), ``w`` comes from the registry's rule, which
    may rename it apart once more (the number of tied maxima is a sum of its own), and
    ``d`` differentiates the renamed body.

        >>> import indexcalc as ic
        >>> from indexcalc.calculus.names import NameSupply
        >>> prog = ic.parse("m[b] = max[i](x[b,i])")
        >>> with NameSupply.of_program(prog).active():
        ...     print(reduction(prog.statements[0].expr, lambda body: body))
        ISum((1 - step(-x[b, i_1] + MaxOver(x[b, i], (i,))))*x[b, i_1]/(ISum(1 - step(-x[b, i_2] + MaxOver(x[b, i], (i,))), (i_2,))), (i_1,))
    """
    supply = current(e)

    def again():
        ren = {i: supply.index(i) for i in e.indices}
        return rename_indices(e.body, ren), [ren[i] for i in e.indices]

    body, idx = again()
    return isum(rules.REDUCTION[type(e)](body, e, again) * d(body), idx)


def value_reads(e) -> frozenset:
    """The names whose values ``e`` reads: :func:`tensor_names` less those whose size
    only it reads (``size(A, k)`` does not change when ``A``'s values do). Cached by the
    identity of ``e``: the sweep asks it of every part of every statement."""
    out = recall(_VALUES, e)
    if out is not None:
        return out
    if isinstance(e, Size):
        out = frozenset()
    elif isinstance(e, (sp.Indexed, sp.Symbol)) or not e.args:
        out = tensor_names(e)
    else:
        out = frozenset().union(*[value_reads(a) for a in e.args])
    remember(_VALUES, e, out)
    return out


_VALUES = Memo(1 << 16)  # by identity (indexcalc.language.memo)


def needs_gradient(prog, wrt) -> set:
    """Names whose gradient the sweep must form: ``wrt`` and what depends on them."""
    needs, before = set(wrt), -1
    while len(needs) != before:  # (a recurrence reads names assigned after it: README "Recurrences")
        before = len(needs)
        for st in prog.statements:
            if value_reads(st.expr) & needs:
                needs.add(st.name)
    return needs


def state_sizes(e, left, prog, supply=None, left_keys=(), guards=True):
    """``e`` with every ``len(k)`` whose ``k`` neither is in ``left`` nor is summed around
    it (so the text would not say how large ``k`` is) written as ``size(A, axis)`` of an
    axis of ``prog`` of the same size (an input's where there is one), else as the number
    a statement stated for it (``sum[k:3]``: ``3``). The size of ``k``
    is what the supply recorded for it (see :func:`own_indices`); a ``len()`` whose size
    is unknown stays. ``left_keys``: the size keys of ``left``; a ``len(k)`` as large as
    a left index ``i`` is written ``len(i)``, which reads more easily. A summed index that
    stands only inside axis expressions has its size stated in its sum (``sum[k:2](..)``,
    :func:`~indexcalc.language.windows.state_sum_sizes`)."""
    supply = supply or current()
    roots = {prog.sizes.find(key): i for i, key in reversed(list(zip(left, left_keys)))
             if key in prog.sizes.parent}

    def walk(x, bound):
        if isinstance(x, Len):
            k = x.args[0]
            if k in bound:
                return x
            key = supply.size_key(k)
            if key is None or key not in prog.sizes.parent:
                return x
            if prog.sizes.find(key) in roots:
                return Len(roots[prog.sizes.find(key)])
            node = stated_size(prog, key)  # (size(A,k), else a stated number: sum[k:3])
            return x if node is None else node
        if isinstance(x, Binder):
            return type(x)(walk(x.body, bound | set(x.indices)), x.indices)
        if not x.args or isinstance(x, (sp.Indexed, Index, KroneckerDelta, Size)):
            return x
        args = [walk(a, bound) for a in x.args]
        return x if all(a is b for a, b in zip(args, x.args)) else x.func(*args)

    out = walk(sp.sympify(e), frozenset(left))
    known = dict(zip(left, left_keys))

    def same_size(a, b):  # (of one size class of prog)
        ka, kb = known.get(a) or supply.size_key(a), known.get(b) or supply.size_key(b)
        return ka in prog.sizes.parent and kb in prog.sizes.parent and prog.sizes.find(ka) == prog.sizes.find(kb)

    if guards:  # (i >= 1)*x[i-1], not delta(i,k+1)*x[k] (the steps show the delta first)
        out = guard_deltas(out, same_size)
    # a summed index that stands only inside axis expressions: sum[k:2](..) (pooling)
    # (and one that stands only in deltas: sum[x:size(A,0),c:size(A,0)](softplus(delta(c,x))))
    return state_sum_sizes(out, lambda i: stated_size(prog, supply.size_key(i)) if supply.size_key(i) else None,
                           unsized=True)


def _supply(prog, supply, *more) -> NameSupply:
    """The derivation's supply of fresh names, or a new one that knows ``prog``."""
    supply = supply or NameSupply.of_program(prog)
    for names in more:
        supply.add(*[n for n in names if isinstance(n, str)])
    return supply


class Sent(NamedTuple):
    """What statement ``statement`` (renamed apart: ``left``, ``rhs``; upstream ``dy``)
    sends ``name``: ``Σ_left dy · partial`` (``partial`` is ∂rhs/∂name[targets]), contracted
    by ``rewrites`` (see :data:`~indexcalc.calculus.contract.TRACE`) to ``contribution``,
    whose ``targets`` the gradient reads as ``canon``: ``written`` is the contribution so
    read, as the gradient adds it."""
    statement: int
    left: tuple
    rhs: sp.Expr
    dy: sp.Expr
    name: str
    targets: tuple
    partial: sp.Expr
    rewrites: list
    written: sp.Expr
    canon: tuple
    #: the name of what ``rhs`` computes where it is not the statement's own value: ``z``,
    #: the argument of ``tanh`` in ``h = tanh(z)`` (README "Recurrences"); else ""
    of: str = ""
    #: the contribution at ``targets``, where ``written`` is not its one-to-one renaming
    freshened: sp.Expr = None

    @property
    def contribution(self):
        """The contraction's result, every summed index fresh, at ``targets``: ``written``
        renamed back (the steps ask; the sweep writes the gradient's form at once)."""
        if self.freshened is not None:
            return self.freshened
        return rename_indices(self.written, dict(zip(self.canon, self.targets)))


#: None, or a list to which :func:`reverse_sweep` appends a :class:`Sent` for each
#: contribution it forms (``d.steps()`` re-runs the derivation with it set).
SWEEP: contextvars.ContextVar = contextvars.ContextVar("indexcalc_sweep", default=None)


def reverse_sweep(prog, wrt, upstream: dict, names: dict, supply=None) -> list:
    """The backward statements ``(gradient name, indices, expr)``, in the order they run.

    ``upstream`` maps each seeded output to ``1`` (a scalar loss) or to the name of its
    upstream gradient; an output that a later statement reads gets a statement
    ``names[Y] = dY + (what flowed back to Y)``. Intermediates ``N`` on a path to ``wrt`` get a statement of their
    own, named ``names[N]``, as soon as every statement reading ``N`` has been swept.
    Invented indices come from ``supply`` (default: a new one that knows ``prog``).
    """
    supply = _supply(prog, supply, upstream.values(), names.values())
    needs = needs_gradient(prog, wrt)
    grads: dict = {}
    out = []
    groups = {rec.names[-1]: rec for rec in getattr(prog, "recurrences", ())}
    members = {name for rec in groups.values() for name in rec.names}

    def send(n, st, up, of=""):
        _send(prog, n, st, up, needs, supply, grads, of)

    for n in reversed(range(len(prog.statements))):
        st = prog.statements[n]
        if st.name in members:  # README "Recurrences": the whole group at its last statement
            if st.name in groups:
                out += sweep_group(prog, groups[st.name], upstream, names, grads, needs, send,
                                   lambda name: canonical_indices(prog, name), _seed,
                                   lambda h, alone: preactivation_names(h, alone, supply))
            continue
        if st.name in upstream and st.name in grads:
            # an output that later statements read too (README "Outputs and upstream
            # gradients"): its gradient is its upstream one plus what flowed back to it
            idx = canonical_indices(prog, st.name)
            out.append((names[st.name], idx, _seed(upstream[st.name], idx) + grads[st.name]))
            up = names[st.name]
        elif st.name in upstream:
            up = upstream[st.name]
        elif st.name in grads:
            out.append((names[st.name], canonical_indices(prog, st.name), grads[st.name]))
            up = names[st.name]
        else:
            continue
        send(n, st, up)
    out += [(names[x], canonical_indices(prog, x), grads.get(x, sp.Integer(0))) for x in wrt]
    return rename_copies(out, {names[x] for x in wrt}) if groups else out


def _send(prog, n, st, up, needs, supply, grads, of=""):
    """Add to ``grads`` what statement ``n`` (``st``, its upstream gradient named ``up``)
    sends each name it reads on a path to ``wrt`` (``needs``); ``of``: see :class:`Sent`."""
    # every index renamed apart (no summed index may shadow another: delta rules
    # rename freely), each knowing its size
    left, rhs = own_indices(st, n, supply)
    dy = _seed(up, left)
    value = None if of else named_value(prog, n, left, rhs)
    for name in sorted(value_reads(rhs) & needs, key=str):
        targets = tuple(supply.sized_index("a", (name, k)) for k in range(prog.rank(name)))
        sent = SWEEP.get()
        with supply.active():
            if value is not None:  # f'(u) written with the statement's own name: ig*(1 - ig)
                part = sp.Mul(rules.ELEMENTWISE[type(rhs)](rhs.args[0], value), partial(rhs.args[0], name, targets))
            else:
                part = partial(rhs, name, targets)
            with traced() if sent is not None else contextlib.nullcontext() as rewrites:
                contribution = contract(isum(dy * part, left))
        canon = canonical_indices(prog, name)
        if contribution == 0:
            written = freshened = sp.Integer(0)
        elif len(set(canon)) == len(canon):  # freshened and renamed in one walk
            written, freshened = freshen_renamed(contribution, supply, dict(zip(targets, canon))), None
        else:  # (a name first read at a repeated index, x[i,i]: not one to one)
            freshened = freshen(contribution, supply)
            written = rename_indices(freshened, dict(zip(targets, canon)))
        if sent is not None:
            sent.append(Sent(n, left, rhs, dy, name, targets, part, rewrites, written, canon, of, freshened))
        if contribution != 0:
            grads[name] = grads.get(name, 0) + written


def _seed(up, indices):
    """The upstream gradient ``up`` (a name, or 1 for a loss) read at ``indices``."""
    if not isinstance(up, str):
        return up
    return sp.IndexedBase(up)[indices] if indices else sp.Symbol(up)


def canonical_indices(prog, name: str) -> tuple:
    """The index names a gradient of ``name`` is printed with: its own left indices if it
    is assigned, else those it is first read with (``dW[k,j]`` for ``X[i,k]*W[k,j]``; where
    that read holds axis expressions, fresh letters for those axes: ``dx[n,c,s,r]`` for
    ``x[n,c,a+k,e+l]``, see :func:`~indexcalc.language.windows.read_letters`)."""
    own = _assigned(prog).get(name)
    if own is not None:
        return own
    if name in prog.first_indices:
        return prog.first_indices[name]
    letters = read_letters(prog, name)  # read through axis expressions: dx[n,c,s,r]
    if letters is not None:
        return letters
    return tuple(Index(c) for c in "ijklmnpqrs"[:prog.rank(name)])


def _assigned(prog) -> dict:
    """``{name: its left indices}`` for the statements of ``prog`` (the first, for a name
    assigned twice), remembered per program: the sweep asks for every name it sends to,
    and a scan of the statements each time is n^2 for a chain of n."""
    hit = recall(_ASSIGNED, prog)
    if hit is None or hit[0] != len(prog.statements):
        hit = (len(prog.statements), {})
        for st in prog.statements:
            hit[1].setdefault(st.name, st.indices)
        remember(_ASSIGNED, prog, hit)
    return hit[1]


_ASSIGNED = Memo(64)  # by identity (indexcalc.language.memo)


class Tangent(NamedTuple):
    """What :func:`~indexcalc.calculus.forward.tangent_sweep` (or :func:`forward_sweep`) did for statement ``statement`` (its tangent ``name`` at
    ``indices``): ``reads``, one ``(M, idx, ∂rhs/∂M[idx], tM[idx])`` per name it reads
    with a tangent (``forward_sweep``: ``∂M/∂X`` by its Jacobian's name, ``None`` for
    ``X`` itself); ``rewrites``, the contraction's (see
    :data:`~indexcalc.calculus.contract.TRACE`); ``total``, the contracted tangent."""
    statement: int
    name: str
    indices: tuple
    reads: list
    rewrites: list
    total: sp.Expr


#: None, or a list to which ``tangent_sweep`` and :func:`forward_sweep` append a :class:`Tangent` per tangent
#: statement it forms (the steps of a JVP or an HVP read them; nothing is derived again)
TANGENTS: contextvars.ContextVar = contextvars.ContextVar("indexcalc_tangents", default=None)


def forward_sweep(prog, x: str, names: dict, final: tuple, supply=None) -> list:
    """Generalized Jacobians ``(name, indices, expr)`` of every statement depending on
    ``x``: ``∂N[free]/∂x[targets] = ∂rhs/∂x + Σ_m ∂rhs/∂M[m] · ∂M[m]/∂x[targets]``,
    where ``names[N]`` names the Jacobian of an earlier statement ``N``."""
    supply = _supply(prog, supply, names.values(), map(str, final))
    needs = needs_gradient(prog, [x])
    targets = tuple(supply.sized_index("a", (x, k)) for k in range(len(final)))
    out = []
    for n, st in enumerate(prog.statements):
        _, rhs = own_indices(st, n, supply, rename_left=False)
        reads = value_reads(rhs) & needs
        if not reads:
            continue
        record = TANGENTS.get()
        with supply.active():  # (a reduction's rule renames its indices apart from the supply)
            total = partial(rhs, x, targets) if x in reads else sp.Integer(0)
            terms = [(x, targets, total, None)] if x in reads else []
            for m in sorted(reads - {x}, key=str):
                idx = tuple(supply.sized_index("m", (m, k)) for k in range(prog.rank(m)))
                jac = sp.IndexedBase(names[m])[idx + targets] if idx + targets else sp.Symbol(names[m])
                p = partial(rhs, m, idx)
                terms.append((m, idx, p, jac))
                total += isum(p * jac, idx)
            with traced() if record is not None else contextlib.nullcontext() as rewrites:
                total = contract(total)
        total = freshen_renamed(total, supply, dict(zip(targets, final)))
        out.append((names[st.name], tuple(st.indices) + final, total))
        if record is not None:
            ren = dict(zip(targets, final))
            terms = [(m, tuple(i.xreplace(ren) for i in idx), p.xreplace(ren), j if j is None else j.xreplace(ren))
                     for m, idx, p, j in terms]
            record.append(Tangent(n, names[st.name], tuple(st.indices) + final,
                                  [(m, idx, p, j) for m, idx, p, j in terms],
                                  [(r, b.xreplace(ren), a.xreplace(ren)) for r, b, a in rewrites], total))
    return out
