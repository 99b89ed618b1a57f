"""The forward-mode chain rule: the tangent of every statement, in program order.

Statement ``Y[free] = rhs`` gets ``tY[free] = Σ_N Σ_m ∂rhs/∂N[m] · tN[m]`` over the names
``N`` it reads that depend on the inputs differentiated (their tangents ``tN`` are inputs
of the tangent program, or earlier tangent statements); the deltas of the partial
derivatives are contracted at once by :func:`~indexcalc.calculus.contract.contract`, as
the reverse sweep contracts them.

    >>> import indexcalc as ic
    >>> prog = ic.parse("y[i] = W[i,j]*x[j]")
    >>> [(n, idx, str(e)) for n, idx, e in tangent_sweep(prog, ["x"], {"x": "tx", "y": "ty"})]
    [('ty', (i,), 'ISum(W[i, m_2]*tx[m_2], (m_2,))')]
"""

from __future__ import annotations

import contextlib

import sympy as sp

from indexcalc.calculus.contract import contract, freshen, isum, traced

__all__ = ["tangent_sweep", "Tangent", "TANGENTS"]
from indexcalc.calculus.differentiate import TANGENTS, Tangent, _supply, needs_gradient, own_indices, partial, value_reads


def tangent_sweep(prog, wrt, tangents: dict, supply=None) -> list:
    """``(tangent name, indices, expr)`` for every statement of ``prog`` that depends on
    ``wrt``, in program order. ``tangents`` names the tangent of each input of ``wrt``
    and of each statement (``tX``); a statement that does not depend on ``wrt`` has no
    tangent statement (its tangent is zero and nothing reads it), nor has one whose
    tangent contracts to zero (its readers read none). A read of a name at another step
    of its recurrence (README "Recurrences": ``c[t-1]`` in ``c[t] = c[t-1] + x[t]``, an
    LSTM's ``h[t-1]`` before ``h``'s statement) reads its tangent at that step:
    ``tc[t] = tc[t-1] + tx[t]``."""
    supply = _supply(prog, supply, tangents.values())
    needs = needs_gradient(prog, wrt)
    live = set(wrt)  # the names with a tangent that is not identically zero
    at = {st.name: n for n, st in enumerate(prog.statements)}  # (a name not yet swept: read at another step)
    out = []
    for n, st in enumerate(prog.statements):
        _, rhs = own_indices(st, n, supply, rename_left=False)
        reads = {m for m in value_reads(rhs) & needs if m in live or at.get(m, -1) >= n}
        if not reads:
            continue
        record = TANGENTS.get()
        with supply.active():
            total, terms = sp.Integer(0), []
            for m in sorted(reads, key=str):
                idx = tuple(supply.sized_index("m", (m, k)) for k in range(prog.rank(m)))
                tm = sp.IndexedBase(tangents[m])[idx] if idx else sp.Symbol(tangents[m])
                p = partial(rhs, m, idx)
                terms.append((m, idx, p, tm))
                total += isum(p * tm, idx) if idx else p * tm
            with traced() if record is not None else contextlib.nullcontext() as rewrites:
                total = contract(total)
        if total == 0:
            continue
        live.add(st.name)
        out.append((tangents[st.name], tuple(st.indices), freshen(total, supply)))
        if record is not None:
            record.append(Tangent(n, tangents[st.name], tuple(st.indices), terms, rewrites, out[-1][2]))
    return out
