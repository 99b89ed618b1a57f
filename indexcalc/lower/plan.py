"""How a contraction (or reduction: max, min, logsumexp) node is computed, decided once
for every backend.

Given each operand's labels *in the order its array holds them* and the output labels,
:func:`plan` says: which axes of which operand are summed first (labels that only it
carries), then one of

* ``reduce``: one operand, summed (or maximized, minimized, log-sum-exp'ed) over ``axes``;
* ``product``: no label is summed any more: a broadcast product in ``order``;
* ``matmul``: ``a @ b`` after arranging ``a`` as (batch, free-a, summed) and ``b`` as
  (batch, summed, free-b), at most one free label per side (a missing one is a
  length-1 axis, dropped again); the result holds (batch, free-a, free-b);
* ``einsum``: anything else, by an opt_einsum plan.

``result`` is the labels of the array the plan produces, in its axis order.

    >>> from indexcalc.lower.ir import Contract
    >>> p = plan(Contract, [("i", "k"), ("k", "j")], ("i", "j"))
    >>> p.kind, p.a, p.b, p.result
    ('matmul', (0, 1), (0, 1), ('i', 'j'))
    >>> plan(Contract, [("b", "i"), ("b",)], ("b",)).presum
    ((1,), ())
"""

from __future__ import annotations

from dataclasses import dataclass

from indexcalc.lower.ir import FOLDS


@dataclass(frozen=True)
class Plan:
    kind: str
    presum: tuple = ()        # per operand: axes summed before anything else
    labels: tuple = ()        # per operand: labels after the presums
    result: tuple = ()        # labels of the result, in its axis order
    axes: tuple = ()          # reduce: the axes of the single operand
    a: tuple = ()             # matmul: permutation of operand 0 (batch, free, summed)
    b: tuple = ()             # matmul: permutation of operand 1 (batch, summed, free)
    batch: int = 0            # matmul: number of batch labels
    free_a: bool = True       # matmul: operand 0 has a free label
    free_b: bool = True       # matmul: operand 1 has a free label
    swap: bool = False        # matmul: operand 1 goes on the left (the result comes out in order)


def plan(op, operands, out) -> Plan:
    """The plan for ``op`` (a class of :class:`~indexcalc.lower.ir.Reduction`: ``Contract``,
    or one of :data:`~indexcalc.lower.ir.FOLDS`) over ``operands`` (labels per operand)."""
    operands = [tuple(ls) for ls in operands]
    if issubclass(op, FOLDS) or (len(operands) == 1 and len(set(operands[0])) == len(operands[0])):
        (ls,) = operands
        axes = tuple(j for j, i in enumerate(ls) if i not in out)
        return Plan("reduce", ((),), (ls,), tuple(i for i in ls if i in out), axes=axes)
    presum, labels = [], []
    for k, ls in enumerate(operands):
        others = {i for j, o in enumerate(operands) if j != k for i in o}
        axes = tuple(j for j, i in enumerate(ls) if i not in out and i not in others and ls.count(i) == 1) \
            if len(operands) > 1 else ()
        presum.append(axes)
        labels.append(tuple(i for j, i in enumerate(ls) if j not in axes))
    base = dict(presum=tuple(presum), labels=tuple(labels))
    distinct = all(len(set(ls)) == len(ls) for ls in labels)
    if len(labels) > 1 and distinct and all(i in out for ls in labels for i in ls):
        order = tuple(sorted({i for ls in labels for i in ls}, key=out.index))
        return Plan("product", result=order, **base)
    if len(labels) == 2 and distinct:
        mm = _matmul(*labels, out)
        if mm and list(mm["result"]) != sorted(mm["result"], key=out.index):
            mm = dict(_matmul(*labels[::-1], out), swap=True)
        if mm:
            return Plan("matmul", **base, **mm)
    return Plan("einsum", result=tuple(out), **base)


def pairwise(operands, out) -> list:
    """The order in which to contract three or more operands two at a time, decided without
    sizes: each step takes the pair whose result keeps the fewest labels (the labels the
    rest or the output still need), so Hadamard products and summed axes go first. Returns
    ``[(i, j, labels)]``: operands ``i`` and ``j`` (positions in the shrinking list) become
    one with ``labels``, appended last.

        >>> pairwise([("b", "a"), ("b",), ("b", "a")], ("a",))
        [(0, 1, ('b', 'a')), (0, 1, ('a',))]
    """
    ops, steps = [tuple(ls) for ls in operands], []
    while len(ops) > 2:
        best = None
        for i in range(len(ops)):
            for j in range(i + 1, len(ops)):
                need = set(out).union(*(ops[k] for k in range(len(ops)) if k not in (i, j)))
                union = tuple(dict.fromkeys(ops[i] + ops[j]))
                kept = tuple(x for x in union if x in need)
                key = (len(kept), len(union))
                if best is None or key < best[0]:
                    best = (key, i, j, kept)
        _, i, j, kept = best
        steps.append((i, j, kept))
        ops = [o for k, o in enumerate(ops) if k not in (i, j)] + [kept]
    return steps + [(0, 1, tuple(out))] if len(ops) == 2 else steps


def _matmul(la, lb, out):
    batch = [i for i in la if i in lb and i in out]
    contr = [i for i in la if i in lb and i not in out]
    fa = [i for i in la if i not in lb]
    fb = [i for i in lb if i not in la]
    if len(contr) != 1 or len(fa) > 1 or len(fb) > 1 or (batch and not fa and not fb):
        return None
    return dict(a=tuple(la.index(i) for i in batch + fa + contr), b=tuple(lb.index(i) for i in batch + contr + fb),
                batch=len(batch), free_a=bool(fa), free_b=bool(fb), result=tuple(batch + fa + fb))
