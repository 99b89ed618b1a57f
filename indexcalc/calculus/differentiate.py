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

import sympy as sp
from sympy import KroneckerDelta

from indexcalc.calculus import rules
from indexcalc.language.algebra import Index, ISum, tensor_names
from indexcalc.calculus.contract import contract, freshen, isum
from indexcalc.calculus.names import NameSupply


def partial(e, name: str, targets: tuple):
    """∂e/∂name[targets] (``targets`` are indices not used in ``e``)."""
    if name not in tensor_names(e):
        return sp.Integer(0)
    if isinstance(e, sp.Symbol):
        return sp.Integer(1)
    if isinstance(e, sp.Indexed):
        return sp.Mul(*[KroneckerDelta(i, t) for i, t in zip(e.indices, targets)])
    if isinstance(e, sp.Add):
        return sp.Add(*[partial(a, name, targets) for a in e.args])
    if isinstance(e, sp.Mul):
        return sp.Add(*[sp.Mul(*e.args[:k], partial(f, name, targets), *e.args[k + 1:])
                        for k, f in enumerate(e.args)])
    if isinstance(e, sp.Pow):
        return rules.power(e.base, e.exp, partial(e.base, name, targets), partial(e.exp, name, targets))
    if isinstance(e, ISum):
        return isum(partial(e.body, name, targets), e.indices)
    if type(e) in rules.ELEMENTWISE:
        return rules.ELEMENTWISE[type(e)](e.args[0], e) * partial(e.args[0], name, targets)
    if type(e) in rules.BINARY:
        da, db = (partial(a, name, targets) for a in e.args)
        ra, rb = rules.BINARY[type(e)]
        return (ra(*e.args) * da if da != 0 else 0) + (rb(*e.args) * db if db != 0 else 0)
    if type(e) in rules.MATRIX:  # the argument is the matrix name itself
        return rules.MATRIX[type(e)](e, *targets)
    raise NotImplementedError(f"no derivative rule for {type(e).__name__}")


def needs_gradient(prog, wrt) -> set:
    """Names whose gradient the sweep must form: ``wrt`` and what depends on them."""
    needs = set(wrt)
    for st in prog.statements:
        if tensor_names(st.expr) & needs:
            needs.add(st.name)
    return needs


def _supply(prog, supply, *more) -> NameSupply:
    """The derivation's supply of fresh names, or a new one that knows ``prog``."""
    supply = supply or NameSupply.of_program(prog)
    for names in more:
        supply.add(*[n for n in names if isinstance(n, str)])
    return supply


def reverse_sweep(prog, wrt, upstream: dict, names: dict, supply=None) -> list:
    """The backward statements ``(gradient name, indices, expr)``, in the order they run.

    ``upstream`` maps each seeded output to ``1`` (a scalar loss) or to the name of its
    upstream gradient. Intermediates ``N`` on a path to ``wrt`` get a statement of their
    own, named ``names[N]``, as soon as every statement reading ``N`` has been swept.
    Invented indices come from ``supply`` (default: a new one that knows ``prog``).
    """
    supply = _supply(prog, supply, upstream.values(), names.values())
    needs = needs_gradient(prog, wrt)
    grads: dict = {}
    out = []
    for st in reversed(prog.statements):
        if st.name in upstream:
            up = upstream[st.name]
        elif st.name in grads:
            out.append((names[st.name], canonical_indices(prog, st.name), grads[st.name]))
            up = names[st.name]
        else:
            continue
        dy = sp.IndexedBase(up)[st.indices] if isinstance(up, str) and st.indices else \
            sp.Symbol(up) if isinstance(up, str) else up
        rhs = freshen(st.expr, supply)  # no summed index may shadow another: delta rules rename freely
        for name in sorted(tensor_names(rhs) & needs, key=str):
            targets = tuple(supply.index("a") for _ in range(prog.rank(name)))
            with supply.active():
                contribution = contract(isum(dy * partial(rhs, name, targets), st.indices))
            contribution = freshen(contribution, supply)
            if contribution != 0:
                canon = canonical_indices(prog, name)
                grads[name] = grads.get(name, 0) + contribution.xreplace(dict(zip(targets, canon)))
    return out + [(names[x], canonical_indices(prog, x), grads.get(x, sp.Integer(0))) for x in wrt]


def canonical_indices(prog, name: str) -> tuple:
    """The index names a gradient of ``name`` is printed with: its own left indices if it
    is assigned, else those it is first read with (``dW[k,j]`` for ``X[i,k]*W[k,j]``)."""
    for st in prog.statements:
        if st.name == name:
            return st.indices
    if name in prog.first_indices:
        return prog.first_indices[name]
    return tuple(Index(c) for c in "ijklmnpqrs"[:prog.rank(name)])


def forward_sweep(prog, x: str, names: dict, final: tuple, supply=None) -> list:
    """Generalized Jacobians ``(name, indices, expr)`` of every statement depending on
    ``x``: ``∂N[free]/∂x[targets] = ∂rhs/∂x + Σ_m ∂rhs/∂M[m] · ∂M[m]/∂x[targets]``,
    where ``names[N]`` names the Jacobian of an earlier statement ``N``."""
    supply = _supply(prog, supply, names.values(), map(str, final))
    needs = needs_gradient(prog, [x])
    targets = tuple(supply.index("a") for _ in final)
    out = []
    for st in prog.statements:
        rhs = freshen(st.expr, supply)
        reads = tensor_names(rhs) & needs
        if not reads:
            continue
        total = partial(rhs, x, targets) if x in reads else sp.Integer(0)
        for m in sorted(reads - {x}, key=str):
            idx = tuple(supply.index("m") for _ in range(prog.rank(m)))
            jac = sp.IndexedBase(names[m])[idx + targets] if idx + targets else sp.Symbol(names[m])
            total += isum(partial(rhs, m, idx) * jac, idx)
        with supply.active():
            total = contract(total)
        total = freshen(total, supply).xreplace(dict(zip(targets, final)))
        out.append((names[st.name], tuple(st.indices) + final, total))
    return out
