"""Deltas that survive in a product (a Jacobian's or a Hessian's ``dx[i]*delta(i,j)``,
``-delta(i,l)*M[i,j]*V[j,m]``), lowered as a :class:`~indexcalc.lower.ir.Diagonal` write:
the product of the other factors placed on the diagonal of a zero array of the result's
size, never a product with a materialized identity (README "Python"); a product with a
sum that holds a delta is multiplied out first (:func:`distributed`). The
deltas of one product become one node with several ``ties`` (``b`` is the lowering's
builder, :class:`indexcalc.lower.build._Builder`).

    >>> import indexcalc as ic
    >>> from indexcalc.lower.build import lower
    >>> low = lower(ic.parse("h[i,j,l,m] = delta(i,l)*delta(j,m)*M[i,j]"))
    >>> node, _ = low.values["h"]
    >>> low.graph[node].op.ties, low.graph[node].args
    (((0, 2), (1, 3)), ((0, (0, 1)),))
"""

from __future__ import annotations

from indexcalc.lower.ir import Diagonal, Eye
from indexcalc.lower.ref import Ref


def is_delta(b, r: Ref) -> bool:
    """Whether ``r`` is ``delta(i,j)`` over two distinct indices."""
    return isinstance(b.g[r.node].op, Eye) and r.labels[0] != r.labels[1]


def holds_delta(b, r: Ref) -> bool:
    """Whether ``r`` is a sum with a delta among its terms (``delta(i,j) - dx[j]``)."""
    terms = b.operands(r, "add")
    return len(terms) > 1 and any(is_delta(b, t) for t in terms)


def distributed(b, refs) -> Ref:
    """A product with a factor that is a sum holding a delta, multiplied out:
    ``x*(delta(i,j) - y)`` is ``x*delta(i,j) - x*y``, a diagonal write that the printers
    add onto the dense part in place (the logsumexp Hessian), never an identity."""
    k = next(n for n, r in enumerate(refs) if holds_delta(b, r))
    rest = refs[:k] + refs[k + 1:]
    return b.map("add", [b.mul(rest + [t]) if rest or is_delta(b, t) else t for t in b.operands(refs[k], "add")])


def embedded(b, refs) -> Ref:
    """The product of ``refs``, one of which is a delta: the other factors' product on its
    diagonal. A product that carries both indices of the delta is read on the diagonal
    first (``P[i,j]*delta(i,j)`` is ``P[i,i]`` placed at ``(i,i)``). A product with a sum
    that holds a delta instead is :func:`distributed`."""
    if not any(is_delta(b, r) for r in refs):
        return distributed(b, refs)
    k = next(n for n, r in enumerate(refs) if is_delta(b, r))
    eye, rest = refs[k], refs[:k] + refs[k + 1:]
    i, j = eye.labels
    carried = {x for r in rest for x in r.labels}
    if j in carried and i not in carried:
        i, j = j, i
    if j in carried:  # both carried: each factor read on the diagonal (x[i]*x[j] is x[i]^2)
        rest = [_diagonal_of(b, Ref(r.node, tuple(i if x == j else x for x in r.labels))) for r in rest]
    value = b.mul(rest) if len(rest) > 1 or (rest and holds_delta(b, rest[0])) else rest[0] if rest else b.const(1)
    ties, inner = [(i, j)], value
    node = b.g[value.node]
    if is_delta(b, value):  # delta(i,j)*delta(j,k): two ties on the number 1
        ties.append(value.labels)
        inner = b.const(1)
    elif isinstance(node.op, Diagonal) and value.node not in b.named:  # one write for all the deltas
        (a, pos), = node.args
        ties += [(value.labels[x], value.labels[y]) for x, y in node.op.ties]
        inner = Ref(a, tuple(value.labels[p] for p in pos))
    out = b.ordered(list(value.labels) + [i, j])
    axes = b.axes_of([value, eye])
    op = Diagonal(tuple((out.index(x), out.index(y)) for x, y in ties))
    node = b.add(op, [(inner.node, tuple(out.index(x) for x in inner.labels))], (axes[x] for x in out))
    return Ref(node, out)


def scaled_diagonal(b, refs):
    """The product of ``refs``, one a :class:`~indexcalc.lower.ir.Diagonal` write (a named
    intermediate Jacobian's ``dE_dM[i,j,l,m] = delta(i,l)*delta(j,m)*t2[i,j]``) and the
    others factors over its labels (``2*t2[i,j]``), as one diagonal write of the product
    on the diagonal (``2*t2[i,j]^2``): the write's array is then not an operand of a
    product of its size (and, where every reader does this, never made). None where
    ``refs`` hold no such write or a factor reads a label the write lacks."""
    k = next((n for n, r in enumerate(refs) if isinstance(b.g[r.node].op, Diagonal)), None)
    if k is None or len(refs) < 2:
        return None
    d, rest = refs[k], refs[:k] + refs[k + 1:]
    if len(set(d.labels)) != len(d.labels) or any(
            not set(r.labels) <= set(d.labels) or isinstance(b.g[r.node].op, (Diagonal, Eye)) for r in rest):
        return None
    node = b.g[d.node]
    rep = {x: x for x in d.labels}
    for _ in node.op.ties:  # chains of ties: every label to its representative
        for x, y in node.op.ties:
            rep[d.labels[y]] = rep[d.labels[x]]
    (a, pos), = node.args
    inner = Ref(a, tuple(d.labels[p] for p in pos))
    value = b.mul([inner] + [_diagonal_of(b, Ref(r.node, tuple(rep[x] for x in r.labels))) for r in rest])
    out = list(d.labels)
    new = b.add(node.op, [(value.node, tuple(out.index(x) for x in value.labels))], node.axes)
    return Ref(new, tuple(out))


def _diagonal_of(b, r: Ref) -> Ref:
    """``r`` itself, or its diagonal where a label repeats (a delta itself stays one)."""
    if len(set(r.labels)) == len(r.labels) or isinstance(b.g[r.node].op, Eye):
        return r
    return b.contract([r], set(r.labels))
