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


def gemm_shaped(a, b, out) -> bool:
    """Two operands (labels ``a``, ``b``, distinct each) whose product is one large matrix
    product rather than many small ones: no batch label, or a free label on each side
    (``cd,abd->abc``, an input projection over every step: one BLAS product, 7x faster
    than NumPy's einsum loops at 64x128x256 by 256x256, float32); a batch of dot products or of small matrix-vector products
    (``bi,bi->b``, ``bij,bj->bi``) is faster in einsum's loops.

    >>> gemm_shaped("cd", "abd", "abc"), gemm_shaped("bi", "bi", "b"), gemm_shaped("bij", "bj", "bi")
    (True, False, False)
    """
    batch = [i for i in a if i in b and i in out]
    return not batch or (any(i not in b for i in a) and any(i not in a for i in b))


#: the size an axis is planned for where its length is not known before the call (every
#: axis alike: the order is then the one that is best as all sizes grow together)
NOMINAL = 64
#: up to this many operands the order is opt_einsum's exhaustive ``optimal`` one; beyond,
#: its dynamic program ``dp`` (both plan once, when the code is printed)
OPTIMAL_UP_TO = 6


#: the elementwise operations one BLAS product's floating-point operation is worth in
#: time (float32, one thread: a 64x1024 by 1024x1024 product, 134 MFLOP, in 1.1 ms; an
#: elementwise add of 1M floats in ~1 ms), and the cost of an element of a sum whose terms
#: are laid out differently (``A + A.T``: a strided pass, 16-40 ms per 1M floats)
BLAS_SPEEDUP, STRIDED = 128, 16


def distributes(terms, other, out, sizes=None) -> bool:
    """Whether ``(t1 + t2 + ...)·other`` summed to ``out`` is cheaper as one product per term,
    added (``vx @ A.T + vx @ A``), than through the sum built first (``vx @ (A + A.T).T``):
    ``terms`` are the dense terms' labels in their arrays' axis order (all the same labels),
    ``other`` the other factor's; ``sizes`` as :func:`pairwise` (else :data:`NOMINAL`). The
    sum costs an elementwise pass over the terms (:data:`STRIDED` times dearer where their
    layouts differ), each further product a BLAS product (:data:`BLAS_SPEEDUP`) and the
    addition of its result.

        >>> distributes([("i", "j"), ("j", "i")], ("b", "j"), ("b", "i"))  # the batched HVP of xᵀAx
        True
        >>> distributes([("i", "j"), ("i", "j")], ("b", "j"), ("b", "i"))  # A + B: one pass, in order
        False
    """
    def size(labels):
        n = 1
        for x in set(labels):
            n *= (sizes or {}).get(x, NOMINAL)
        return n
    strided = any(tuple(t) != tuple(terms[0]) for t in terms)
    add = size(terms[0]) * (len(terms) - 1) * (STRIDED if strided else 1)
    product = 2 * size(tuple(terms[0]) + tuple(other)) / BLAS_SPEEDUP + size(out)
    return (len(terms) - 1) * product < add


#: a sum of matrices read in both orders (``A + A.T``) is written in square tiles of this
#: side (both reads stay in cache) where its result holds at least ``BLOCKED_FROM``
#: elements; smaller, in one pass (float32, one thread, loaded machine, CPU time: n = 1024
#: 7.5 -> 1.7 ms, n = 2048 36 -> 11 ms; n = 512 0.28 ms either way). 64: the tiles run in
#: one ufunc call (tile-major views), where 32 and 64 beat 128 by 10-20% at n = 1024, 2048
TILE, BLOCKED_FROM = 64, 1 << 19
#: Numba's tiles (its kernels read ``A[_j, _i]`` in tiles at any size: no call per tile)
NUMBA_TILE = 64


def blocked(n, m) -> bool:
    """Whether an ``n`` by ``m`` sum of matrices read in both orders is written tile by tile
    (:mod:`indexcalc.backends.blocked`).

        >>> blocked(512, 512), blocked(1024, 512), blocked(2048, 2048)
        (False, True, True)
    """
    return n * m >= BLOCKED_FROM


def pairwise(operands, out, sizes=None) -> list:
    """The order in which to contract three or more operands two at a time: the cheapest
    in floating-point operations by opt_einsum's path search (the cheaper of ``optimal`` and
    ``dp`` up to :data:`OPTIMAL_UP_TO` operands, ``dp`` beyond), on ``sizes`` (label -> length; a label
    without one counts :data:`NOMINAL`), so a product never goes through an outer product
    that a cheaper order avoids. Returns ``[(i, j, labels)]``: operands ``i`` and ``j``
    (positions in the shrinking list) become one with ``labels`` (those the rest or the
    output still need), appended last; the last step gives the output's labels.

        >>> pairwise([("b", "a"), ("b",), ("b", "a")], ("a",))
        [(0, 1, ('b', 'a')), (0, 1, ('a',))]

    The five-tensor example of README "Python" (a change of basis of a
    four-index tensor) goes one factor at a time, O(N⁵), never through ``C⊗C``:

        >>> steps = pairwise([("p", "i"), ("q", "j"), ("i", "j", "k", "l"), ("r", "k"), ("s", "l")],
        ...                  ("p", "q", "r", "s"))
        >>> [len(kept) for _, _, kept in steps]
        [4, 4, 4, 4]
    """
    ops = [tuple(ls) for ls in operands]
    if len(ops) < 2:
        return []
    if len(ops) == 2:
        return [(0, 1, tuple(out))]
    return _steps(ops, out, _path(ops, out, sizes or {}))


def _steps(ops, out, pairs) -> list:
    """:func:`pairwise`'s steps for ``pairs`` of positions in the shrinking list."""
    steps = []
    for i, j in pairs:
        need = set(out).union(*(ops[k] for k in range(len(ops)) if k not in (i, j)))
        kept = tuple(x for x in dict.fromkeys(ops[i] + ops[j]) if x in need)
        steps.append((i, j, kept))
        ops = [o for k, o in enumerate(ops) if k not in (i, j)] + [kept]
    i, j, _ = steps[-1]
    steps[-1] = (i, j, tuple(out))
    return steps


def scales_last(ops, out, sizes=None):
    """:func:`pairwise`'s steps for another order: the operands carrying a summed label
    contracted first (by opt_einsum's path), the *scales* (operands whose labels are all
    the output's: ``1/z[i]`` of ``e[i,j]·v[j,f]/z[i]``) multiplied into the result after;
    None where fewer than two operands carry a summed label or none is a scale.

    Where the lengths are not known, the two orders of ``e[i,j]·v[j,f]·s[i]`` cost the same
    (a pass over ``i·j`` or over ``i·f``), and so do those of ``s[i]·do[i,f]·v[j,f]``, where
    scaling after costs ``i·j`` instead of ``i·f``: which is cheaper depends on the lengths
    only. :mod:`indexcalc.lower.steps` takes this order where its first product is one that
    another contraction computes too (causal attention's ``e @ v``, in ``o`` and in the
    gradient of ``z``), so that it is computed once.

        >>> scales_last([("i", "j"), ("i",), ("j", "f")], ("i", "f"))
        [(0, 2, ('i', 'f')), (0, 1, ('i', 'f'))]
    """
    sizes = sizes or {}
    scales = [k for k, ls in enumerate(ops) if set(ls) <= set(out) and len(set(ls)) == len(ls)]
    rest = [k for k in range(len(ops)) if k not in scales]
    if not scales or len(rest) < 2:
        return None
    labels = {x for k in rest for x in ops[k]}
    sub = _path([ops[k] for k in rest], tuple(x for x in out if x in labels), sizes)
    ids, pairs, fresh = list(rest), [], len(ops)
    for i, j in sub:  # the rest's steps, as pairs of operand ids (a fresh id per product)
        pairs.append((ids[i], ids[j]))
        ids = [x for k, x in enumerate(ids) if k not in (i, j)] + [fresh]
        fresh += 1
    scale = scales[0]
    for k in scales[1:]:  # the scales onto each other, then onto the rest's result
        pairs.append((scale, k))
        scale, fresh = fresh, fresh + 1
    pairs.append((ids[0], scale))
    slots, out_pairs = list(range(len(ops))), []
    for made, (x, y) in enumerate(pairs, start=len(ops)):
        i, j = sorted((slots.index(x), slots.index(y)))
        out_pairs.append((i, j))
        slots = [s for k, s in enumerate(slots) if k not in (i, j)] + [made]
    return _steps(ops, out, out_pairs)


def cost(operands, out, steps, sizes=None) -> int:
    """The floating-point operations of contracting ``operands`` to ``out`` in the order
    ``steps`` (as :func:`pairwise` returns them), counted as opt_einsum counts them
    (``PathInfo.opt_cost``): each step costs the product of the lengths of every label it
    touches, twice where it sums one (a multiply and an add).

        >>> ops = [("i", "k"), ("k", "l"), ("l", "j")]
        >>> cost(ops, ("i", "j"), pairwise(ops, ("i", "j")), {"i": 10, "k": 10, "l": 10, "j": 10})
        4000
    """
    ops, total = [tuple(ls) for ls in operands], 0
    for i, j, kept in steps:
        touched = set(ops[i]) | set(ops[j])
        n = 1
        for x in touched:
            n *= (sizes or {}).get(x, NOMINAL)
        total += n * (2 if touched - set(kept) else 1)
        ops = [o for k, o in enumerate(ops) if k not in (i, j)] + [kept]
    return total


def _path(ops, out, sizes) -> list:
    """opt_einsum's pairwise path over ``ops`` (labels of any hashable kind)."""
    import opt_einsum  # only where a product of three or more is printed

    letters = {}
    for ls in list(ops) + [tuple(out)]:
        for x in ls:
            letters.setdefault(x, opt_einsum.get_symbol(len(letters)))
    eq = ",".join("".join(letters[x] for x in ls) for ls in ops) + "->" + "".join(letters[x] for x in out)
    shapes = [tuple(sizes.get(x, NOMINAL) for x in ls) for ls in ops]
    path, info = opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="dp")
    if len(ops) <= OPTIMAL_UP_TO:  # opt_einsum 3.4's ``optimal`` can miss the cheapest order
        # where a label is shared by three or more operands (qm,m,m,mr->qr through an
        # m·q·r outer product, 1.5x the flops and an N³ array): the cheaper of the two
        other, oinfo = opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="optimal")
        if oinfo.opt_cost <= info.opt_cost:
            path = other
    # the path's steps as pairs of positions in a list that only pairs shrink (a step of one
    # operand, a sum over labels only it carries, is left to the pair that later reads it)
    ids, slots, pairs = list(range(len(ops))), list(range(len(ops))), []
    for fresh, step in enumerate(path, start=len(ops)):
        taken = [ids[k] for k in step]
        assert len(taken) <= 2, "opt_einsum's paths contract two operands at a time"
        ids = [x for k, x in enumerate(ids) if k not in step] + [taken[0] if len(taken) == 1 else fresh]
        if len(taken) == 2:
            i, j = sorted(slots.index(x) for x in taken)
            pairs.append((i, j))
            slots = [x for k, x in enumerate(slots) if k not in (i, j)] + [ids[-1]]
    return pairs


def _matmul(la, lb, out):
    batch = [i for i in la if i in lb and i in out]
    contr = [i for i in la if i in lb and i not in out]
    fa = [i for i in la if i not in lb]
    fb = [i for i in lb if i not in la]
    if len(contr) != 1 or len(fa) > 1 or len(fb) > 1 or (batch and not fa and not fb):
        return None
    return dict(a=tuple(la.index(i) for i in batch + fa + contr), b=tuple(lb.index(i) for i in batch + contr + fb),
                batch=len(batch), free_a=bool(fa), free_b=bool(fb), result=tuple(batch + fa + fb))
