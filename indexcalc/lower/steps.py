"""Products that two contractions share, computed once (README "Python"), for the array
backends (NumPy, PyTorch, JAX: :mod:`indexcalc.backends.printer`).

A contraction of three or more operands is printed two operands at a time
(:func:`~indexcalc.lower.plan.pairwise`); those steps are not nodes of the graph, so an
equal step of another contraction is computed again. Causal attention's forward has
``o[i,f] = e[i,j]·v[j,f]/z[i]`` and its backward ``dz[i] = -do[i,f]·v[j,f]·e[i,j]/z[i]²``:
both hold ``e @ v``, a product of ``i·j·f`` multiply-adds. Here a step that two
contractions compute (or that a contraction of two operands already is) becomes a node
of its own, which both read. Where the order of a contraction ties
(:func:`~indexcalc.lower.plan.scales_last`: ``e[i,j]·v[j,f]`` before or after the scale
``1/z[i]``, equal in cost where the lengths are not known), the order whose first product
is shared is taken: ``o = (e @ v)/z`` then reads the product ``dz`` reads.

The values are the same products, in the same order of their operands, as before; only
where they are computed changes. Numba's loops (:mod:`indexcalc.lower.fuse`) do not go
through here.

    >>> import indexcalc as ic
    >>> from indexcalc.lower.build import lower
    >>> prog = ic.parse("o[i,f] = e[i,j]*v[j,f]/z[i]\\nw[i] = e[i,j]*v[j,f]*u[i,f]")
    >>> low = shared_steps(lower(prog))
    >>> [(type(n.op).__name__, len(n.args)) for n in low.graph.nodes if type(n.op).__name__ == "Contract"]
    [('Contract', 2), ('Contract', 2), ('Contract', 2)]
"""

from __future__ import annotations

from collections import Counter

from indexcalc.lower.build import Lowered, _Builder
from indexcalc.lower.ir import Access, Contract, Eye, Graph, Node
from indexcalc.lower.plan import cost, pairwise, scales_last
from indexcalc.lower.ref import Ref


def shared_steps(low, roots=None) -> Lowered:
    """``low`` with every product that two contractions share (or that one contraction
    shares with a contraction of two operands before it) a node of its own (a new graph;
    ``values`` and ``inputs`` follow it). ``roots``: the nodes that will be computed (only
    the contractions they need count); default: all."""
    g = low.graph
    needed = set(range(len(g.nodes))) if roots is None else set(g.reachable(roots))
    options = {k: _orders(node) for k, node in enumerate(g.nodes) if k in needed and _split(g, node)}
    if not options:
        return low
    existing = {}  # key -> the first contraction of two operands that computes it
    for k, node in enumerate(g.nodes):
        if k in needed and type(node.op) is Contract and len(node.args) == 2 and _distinct(node):
            existing.setdefault(_key(node.args, node.op.output)[0], k)
    seen = {}  # key -> the contractions whose orders may compute it
    for k, orders in options.items():
        for steps in orders:
            for key, *_ in _products(g[k], steps):
                seen.setdefault(key, set()).add(k)
    for key, e in existing.items():
        if key in seen:
            seen[key].add(e)
    chosen = {}  # contraction -> its order: the first whose products include a shared one
    for k, orders in options.items():
        for steps in orders:
            if any(len(seen[key]) > 1 for key, *_ in _products(g[k], steps)):
                chosen[k] = steps
                break
    count = Counter(key for k, steps in chosen.items() for key, *_ in _products(g[k], steps))
    count.update(key for key in existing if count[key])
    new_g, new, made = Graph(), {}, {}  # made: key -> (node, its axes' numbers in the key)
    for k, node in enumerate(g.nodes):
        args = [(new[a], ls) for a, ls in node.args]
        if k in chosen:
            gone, extra = set(), []
            for key, first, i, j, kept in _products(node, chosen[k]):
                if count[key] < 2:
                    continue
                if key not in made:
                    made[key] = _made(g, new_g, new, node.args[i], node.args[j], kept, first)
                step, numbers = made[key]
                label = {n: x for x, n in first.items()}
                gone |= {i, j}
                extra.append((step, tuple(label[n] for n in numbers)))
            args = [a for n, a in enumerate(args) if n not in gone] + extra
        new[k] = new_g.add(Node(node.op, tuple(args), node.axes))
        if k in needed and type(node.op) is Contract and len(node.args) == 2 and _distinct(node):
            key, first = _key(node.args, node.op.output)
            if count[key] and key not in made:  # read by the contractions after it
                made[key] = (new[k], tuple(first[x] for x in node.op.output))
    values = {n: (new[k], pos) for n, (k, pos) in low.values.items()}
    return Lowered(new_g, values, {n: new[k] for n, k in low.inputs.items()})


def _split(g, node) -> bool:
    """Whether ``node`` is a contraction of three or more operands that this module may
    split: distinct labels in each, no window, gather or delta among them."""
    return type(node.op) is Contract and len(node.args) >= 3 and _distinct(node) and \
        not any(isinstance(g[a].op, (Access, Eye)) for a, _ in node.args)


def _distinct(node) -> bool:
    return all(len(set(ls)) == len(ls) for _, ls in node.args)


def _orders(node) -> list:
    """The orders :func:`shared_steps` may take for contraction ``node``: the planned one,
    then :func:`~indexcalc.lower.plan.scales_last`'s where it costs no more."""
    labels, out = [ls for _, ls in node.args], node.op.output
    first, later = pairwise(labels, out), scales_last(labels, out)
    if later is not None and later != first and cost(labels, out, later) <= cost(labels, out, first):
        return [first, later]
    return [first]


def _products(node, steps):
    """``(key, numbering, i, j, kept)`` of each step of ``steps`` that multiplies two of
    ``node``'s own operands (``i`` and ``j``, positions in its arguments) keeping labels
    ``kept``; ``key`` is what it computes, whatever the names of its labels."""
    ids, out = list(range(len(node.args))), []
    for fresh, (i, j, kept) in enumerate(steps, start=len(node.args)):
        a, b = ids[i], ids[j]
        if a < len(node.args) and b < len(node.args):
            key, first = _key([node.args[a], node.args[b]], kept)
            out.append((key, first, a, b, kept))
        ids = [x for n, x in enumerate(ids) if n not in (i, j)] + [fresh]
    return out


def _key(args, kept):
    """:meth:`~indexcalc.lower.build._Builder.unordered`'s key of the product of ``args``
    (``(node, labels)``) keeping ``kept``, and the numbering of the labels."""
    refs = sorted((Ref(a, tuple(ls)) for a, ls in args), key=lambda r: r.node)
    return _Builder.unordered((Contract,), refs, set(kept))


def _made(g, new_g, new, x, y, kept, first):
    """``(node, numbers)``: the product of operands ``x`` and ``y`` (``(node, labels)`` of
    the old graph) keeping ``kept``, added to ``new_g``; ``numbers``: its axes' labels as
    the key numbers them (``first``)."""
    names = {x: n for n, x in enumerate(kept)}
    for _, ls in (x, y):
        for label in ls:
            names.setdefault(label, len(names))
    sizes = {label: g[a].axes[p] for a, ls in (x, y) for p, label in enumerate(ls)}
    args = tuple((new[a], tuple(names[label] for label in ls)) for a, ls in (x, y))
    node = Node(Contract(tuple(range(len(kept)))), args, tuple(sizes[label] for label in kept))
    return new_g.add(node), tuple(first[label] for label in kept)
