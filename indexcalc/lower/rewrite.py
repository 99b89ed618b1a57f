"""Rewrites of the lowering IR for loop backends, before :mod:`indexcalc.lower.fuse`
schedules it: each keeps the values, and changes only how a loop computes them.

* ``logsumexp`` becomes ``log(Σ exp(e - m')) + m'`` with ``m'`` the maximum where it is
  finite and 0 elsewhere (NumPy's ``_logsumexp``), so that its two passes are a ``max``
  and a ``contract`` that fuse with their neighbours.
* A factor of a sum that carries none of the summed indices moves out of the sum:
  ``Σ_i xc[b,i]·t2[b,i]·t1[b]^3`` is ``t1[b]^3·Σ_i xc[b,i]·t2[b,i]``, which a loop over
  ``i`` can compute before ``t1`` is known (in layer norm's backward, in the pass that
  computes the variance). This opens only products, so no subtraction is moved.
* A sum of a sum is opened where that frees a term: ``Σ_i (t1[b]·t2[b,i] +
  dvar[b]·xc[b,i])`` is ``t1[b]·Σ_i t2[b,i] + dvar[b]·Σ_i xc[b,i]`` when a factor that
  reads a reduction moves out of a term's sum (without that, the sum waits for another
  pass over the row). Layer norm's backward then takes three passes over a row instead
  of four, as hand-written kernels (PyTorch's) do. Whether a pass is saved is not
  checked: where the other terms need the reduction too, it costs an accumulator. The
  terms are added after they are summed, which is less exact where they cancel element
  by element; the rounding of a reduction moved out spans its whole term, unless another
  term shares it (``m·x - m·y``, whose ``m`` cancels): a sum is opened only where at most
  one term lacks a freed factor of its own. Over
  the 120 real programs (3 opened: layer norm, group norm, batch norm) the float32
  errors are unchanged (``benchmarks/RESULTS.md``).

    >>> import indexcalc as ic
    >>> from indexcalc.lower.build import lower
    >>> low = prepare(lower(ic.parse("s[b] = sum[i](x[b,i]*w[b]*2)")))
    >>> [type(n.op).__name__ for n in low.graph.nodes]
    ['Const', 'Input', 'Input', 'Contract', 'Map', 'Map']
    >>> low.graph.nodes[3].args  # the sum reads x alone; w[b] multiplies it afterwards
    ((2, (0, 1)),)
"""

from __future__ import annotations

from collections import Counter

import sympy as sp

from indexcalc.lower.build import Lowered
from indexcalc.lower.ir import Const, Contract, Graph, LogSumExp, Map, Max, Node, Reduction


def prepare(low) -> Lowered:
    """``low`` rewritten as the module docstring says (a new graph; ``values`` and
    ``inputs`` follow it)."""
    g, new, reduced = Graph(), {}, {}
    for k, node in enumerate(low.graph.nodes):
        args = tuple((new[a], ls) for a, ls in node.args)
        if isinstance(node.op, LogSumExp):
            new[k] = _logsumexp(g, node, args)
        elif isinstance(node.op, Contract):
            new[k] = _opened(g, node, args, reduced) or _hoisted(g, node, args)
        else:
            new[k] = g.add(Node(node.op, args, node.axes))
    values = {n: (new[k], pos) for n, (k, pos) in low.values.items()}
    return Lowered(g, values, {n: new[k] for n, k in low.inputs.items()})


def _logsumexp(g, node, args) -> int:
    ((a, ls),), out, r = args, node.op.output, len(node.axes)
    ident, body = tuple(range(r)), tuple(range(len(ls)))
    m = g.add(Node(Map("finite"), ((g.add(Node(Max(out), args, node.axes)), ident),), node.axes))
    neg = g.add(Node(Map("mul"), ((g.add(Node(Const(sp.Integer(-1)))), ()), (m, ident)), node.axes))
    pos = tuple(ls.index(t) for t in out)
    shifted = g.add(Node(Map("add"), ((a, body), (neg, pos)), g[a].axes))
    e = g.add(Node(Map("exp"), ((shifted, body),), g[a].axes))
    s = g.add(Node(Contract(out), ((e, ls),), node.axes))
    log = g.add(Node(Map("log"), ((s, ident),), node.axes))
    return g.add(Node(Map("add"), ((log, ident), (m, ident)), node.axes))


def _factors(g, a, ls) -> list:
    """``(node, labels)`` factors of node ``a`` read with labels ``ls``: products opened."""
    node = g[a]
    if node.op == Map("mul") and all(len(set(p)) == len(p) for _, p in node.args):
        return [f for b, pos in node.args for f in _factors(g, b, tuple(ls[p] for p in pos))]
    return [(a, ls)]


def _split(g, args, out):
    """``(outside, inside)``: the factors of the product ``args`` summed to labels ``out``
    that move out of the sum and those that stay, or None where nothing moves (a loop must
    compute the sum: one factor carries every label, before and after)."""
    every = {i for _, ls in args for i in ls}
    summed = every - set(out)
    factors = [f for a, ls in args for f in _factors(g, a, ls)]
    outside = [f for f in factors if not set(f[1]) & summed and len(set(f[1])) == len(f[1])]
    inside = [f for f in factors if f not in outside]
    inner = {i for _, ls in inside for i in ls}
    if not outside or not inside or not summed or not any(set(ls) == every for _, ls in args) \
            or not any(set(ls) == inner for _, ls in inside):
        return None
    return outside, inside


def _hoisted(g, node, args) -> int:
    """A sum of a product with the factors that carry no summed label moved out, where
    a loop computes it: a matrix product stays one call of BLAS."""
    out, split = node.op.output, _split(g, args, node.op.output)
    if split is None:
        return g.add(Node(node.op, args, node.axes))
    outside, inside = split
    keep = tuple(i for i in out if any(i in ls for _, ls in inside))
    label = {i: n for n, i in enumerate(keep)}
    for _, ls in inside:
        for i in ls:
            label.setdefault(i, len(label))
    axes = tuple(node.axes[out.index(i)] for i in keep)
    total = g.add(Node(Contract(tuple(range(len(keep)))), tuple((a, tuple(label[i] for i in ls)) for a, ls in inside),
                       axes))
    kept = [(a, tuple(out.index(i) for i in ls)) for a, ls in outside]
    return g.add(Node(Map("mul"), (*kept, (total, tuple(out.index(i) for i in keep))), node.axes))


def _reads_reduction(g, a, memo) -> bool:
    """Whether node ``a`` is or reads a reduction."""
    if a not in memo:
        memo[a] = isinstance(g[a].op, Reduction) or \
            any(_reads_reduction(g, b, memo) for b, _ in g[a].args)
    return memo[a]


def _opened(g, node, args, reduced):
    """``Σ (a + b + ...)`` as ``Σ a + Σ b + ...``, each hoisted, when a factor that reads a
    reduction moves out of a term's sum and at most one term has no such factor of its own
    (one no other term shares); None where the sum is not opened."""
    out = node.op.output
    if len(args) != 1 or g[args[0][0]].op != Map("add"):
        return None
    (a, ls), every = args[0], set(args[0][1])
    terms = [(b, tuple(ls[p] for p in pos)) for b, pos in g[a].args]
    if any(set(t) != every or len(set(t)) != len(t) for _, t in terms) or len(set(ls)) != len(ls):
        return None
    moved = [{f for f in (_split(g, (term,), out) or ((), ()))[0] if _reads_reduction(g, f[0], reduced)}
             for term in terms]
    count = Counter(f for m in moved for f in m)
    if not any(moved) or sum(not any(count[f] == 1 for f in m) for m in moved) > 1:
        return None  # nothing freed, or two terms whose freed factors are all shared (m·x - m·y)
    sums = []
    for b, t in terms:
        label = {i: n for n, i in enumerate(out)}
        for i in t:
            label.setdefault(i, len(label))
        term = ((b, tuple(label[i] for i in t)),)
        sums.append((_hoisted(g, Node(Contract(tuple(range(len(out)))), term, node.axes), term),
                     tuple(range(len(out)))))
    return g.add(Node(Map("add"), tuple(sums), node.axes))
